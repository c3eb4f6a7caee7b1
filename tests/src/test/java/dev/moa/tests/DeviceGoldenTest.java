package dev.moa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.device.DeviceCheck;
import dev.moa.tasks.cuda.DeviceChoice;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The GPU program (in the kernel emulator: the task graph and kernels a CUDA device runs) against the independent
 * PyTorch float64 reference: one golden per model family, the storage formats rotated among them. Each prompt is
 * prefilled on the device (the F32 golden's GEMMs on the FFMA tiles, the 16-bit ones' on the tensor cores or FFMA
 * tiles) and its 32-token greedy continuation decoded there must be the reference's, the last step's logits within
 * 1e-4 of the largest. (All 15 goldens passed on an H200 when prompts were still prefilled on the CPU:
 * docs/benchmarks.md.)
 */
class DeviceGoldenTest {
    @TempDir
    static Path models;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama3-gqa-bf16", "llama2-mha-f16", "llama-linear-f32", "mistral-gqa-bf16", "qwen2-bias-f16"})
    void theDeviceProgramDecodesAsPyTorch(String golden) throws IOException {
        Path file = TestPaths.repoRoot().resolve("tests/src/test/resources/golden/" + golden + ".json");
        DeviceCheck.Result r = DeviceCheck.golden(file, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""), models);
        assertEquals(r.steps(), r.tokensAgreed(), golden + ": greedy tokens");
        assertTrue(r.worstRelative() <= DeviceCheck.TOLERANCE, golden + ": last-step logits differ by " + r.worstRelative() + " of the largest");
    }
}
