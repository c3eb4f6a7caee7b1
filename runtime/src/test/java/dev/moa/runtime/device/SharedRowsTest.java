package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.safetensors.DType;
import dev.moa.runtime.Model;
import dev.moa.runtime.bench.LongContextBenchmark;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.model.KvFormat;
import dev.moa.runtime.synthetic.SyntheticModel;
import dev.moa.tasks.cuda.DeviceChoice;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernels.MatVecKernels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A one-session decode step whose down projection has few rows and long ones (64 × 4096: {@link MatVecKernels#parts}
 * gives 4 warps a row) decodes as the step with a warp per row: the same greedy tokens and every logit within 1e-5 of
 * the largest, for BF16 and F16 weights, in the emulator; and the step really shares the rows (its down product's
 * {@code parts} argument) only where asked.
 */
class SharedRowsTest {
    @TempDir
    Path dir;

    @Test
    void rowsSharedAmongWarpsDecodeAsAWarpPerRow() throws Exception {
        Path golden = Path.of(System.getProperty("moa.repo.root", "..")).resolve("tests/src/test/resources/golden/llama3-gqa-bf16.json");
        JsonObject g = JsonParser.parseString(Files.readString(golden)).getAsJsonObject();
        JsonObject config = g.getAsJsonObject("config").deepCopy();
        config.addProperty("intermediate_size", 4096);
        for (DType dtype : new DType[] {DType.BF16, DType.F16}) {
            Path model = Files.createDirectories(dir.resolve(dtype.name()));
            SyntheticModel.write(model, config, dtype, g.get("model_seed").getAsLong());
            try (Model m = Model.load(model, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""))) {
                var c = m.config();
                Accelerator accelerator = m.accelerator().orElseThrow();
                List<DeviceDecoder.Row> rows = List.of(new DeviceDecoder.Row(LongContextBenchmark.filled(c, null, 90, 8, KvFormat.F32), 82, 90));
                accelerator.sharedRows(false);
                float[][][] alone = steps(accelerator, rows, 1);
                accelerator.sharedRows(true);
                float[][][] shared = steps(accelerator, rows, MatVecKernels.parts(c.hiddenSize(), c.intermediateSize()));
                for (int s = 0; s < alone.length; s++) {
                    EmulatorDecodeTest.assertClose(alone[s][0], shared[s][0], 1e-5, dtype + ", step " + s);
                    assertEquals(Sampler.argmax(alone[s][0]), Sampler.argmax(shared[s][0]), dtype + ", step " + s);
                }
            }
        }
    }

    /** The step's logits, after checking that its down product takes {@code parts} warps a row (4 when shared here). */
    private static float[][][] steps(Accelerator accelerator, List<DeviceDecoder.Row> rows, int parts) {
        try (DeviceDecoder decoder = accelerator.decoder(rows)) {
            List<TaskGraph.Task> downs = decoder.tasks().stream().filter(t -> t.method().endsWith("16Into") && t.name().contains("down")).toList();
            assertTrue(!downs.isEmpty(), "the step has its down products as matvecs: " + decoder.tasks().stream().map(TaskGraph.Task::name).toList());
            for (TaskGraph.Task t : downs) assertEquals(parts, t.args().getLast(), t.name() + "'s warps a row");
        }
        assertTrue(parts == 1 || parts == 4, "the test's shape shares rows among 4 warps, not " + parts);
        return TensorDecodeTest.steps(accelerator, rows, java.util.Set.of(), java.util.Set.of());
    }
}
