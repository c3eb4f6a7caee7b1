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
import dev.moa.tasks.kernels.NormedMatVecKernels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A decode step whose products share their rows' columns among warps decodes as the step with a warp a row (a warp
 * a row pair in the one-session step's normed products): the same greedy tokens and every logit within 1e-5 of the
 * largest, for BF16 and F16 weights, one session and two (the batched matvec), in the emulator. Two shapes: a down projection of few long rows (64 × 4096: 4 warps a
 * row, {@link MatVecKernels#parts}), and a 2048-wide residual stream (the q/k/v + RoPE, gate/up + SwiGLU and final
 * norm + head products: 2 warps a pair, {@link NormedMatVecKernels#parts}); and the step really shares them (the
 * kernels' {@code parts} argument) only where asked.
 */
class SharedRowsTest {
    @TempDir
    Path dir;

    @Test
    void rowsSharedAmongWarpsDecodeAsAWarpPerRow() throws Exception {
        Path golden = Path.of(System.getProperty("moa.repo.root", "..")).resolve("tests/src/test/resources/golden/llama3-gqa-bf16.json");
        JsonObject g = JsonParser.parseString(Files.readString(golden)).getAsJsonObject();
        for (String shape : new String[] {"intermediate_size", "hidden_size"}) {
            JsonObject config = g.getAsJsonObject("config").deepCopy();
            config.addProperty(shape, shape.equals("hidden_size") ? 2048 : 4096);
            for (DType dtype : new DType[] {DType.BF16, DType.F16}) {
                Path model = Files.createDirectories(dir.resolve(shape + dtype.name()));
                SyntheticModel.write(model, config, dtype, g.get("model_seed").getAsLong());
                try (Model m = Model.load(model, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""))) {
                    var c = m.config();
                    Accelerator accelerator = m.accelerator().orElseThrow();
                    // one session (the fused step's normed matvecs), then two of different lengths (the batched matvec)
                    for (int sessions = 1; sessions <= 2; sessions++) {
                        List<DeviceDecoder.Row> rows = new java.util.ArrayList<>();
                        for (int b = 0; b < sessions; b++) {
                            rows.add(new DeviceDecoder.Row(LongContextBenchmark.filled(c, null, 90 + 40 * b, 8, KvFormat.F32), 82 + 40 * b, 90 + 40 * b));
                        }
                        String what = shape + " " + config.get(shape) + ", " + dtype + ", " + sessions + " sessions";
                        accelerator.sharedRows(false);
                        assertEquals(1, mostParts(accelerator, rows, m.llama().weights().bytesPerDecodedToken()), what + ": a warp a row");
                        float[][][] alone = TensorDecodeTest.steps(accelerator, rows, Set.of(), Set.of());
                        accelerator.sharedRows(true);
                        assertEquals(shape.equals("hidden_size") ? 2 : 4, mostParts(accelerator, rows, m.llama().weights().bytesPerDecodedToken()), what + ": rows shared");
                        float[][][] shared = TensorDecodeTest.steps(accelerator, rows, Set.of(), Set.of());
                        for (int s = 0; s < alone.length; s++) {
                            for (int b = 0; b < sessions; b++) {
                                EmulatorDecodeTest.assertClose(alone[s][b], shared[s][b], 1e-5, what + ", step " + s + ", session " + b);
                                assertEquals(Sampler.argmax(alone[s][b]), Sampler.argmax(shared[s][b]), what + ", step " + s + ", session " + b);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * The most warps a row (or row pair) of the step's matvecs take: their last argument, {@code parts}; and the step's
     * matvecs stream the model's weights once ({@link DeviceDecoder#weightBytes}, what {@code bench decode --profile}
     * divides by each product's time).
     */
    private static int mostParts(Accelerator accelerator, List<DeviceDecoder.Row> rows, long weightBytes) {
        try (DeviceDecoder decoder = accelerator.decoder(rows)) {
            assertEquals(weightBytes, decoder.tasks().stream().mapToLong(DeviceDecoder::weightBytes).sum(), "the step's matvecs' weights");
            Set<String> matvecs = Set.of("bf16Into", "f16Into", "half", "halfRope", "halfBatchInto");
            List<TaskGraph.Task> tasks = decoder.tasks().stream().filter(t -> t.owner() != dev.moa.tasks.kernels.GemmKernels.class
                    && matvecs.contains(t.method())).toList();
            assertTrue(tasks.size() >= 3, "the step's matvecs: " + decoder.tasks().stream().map(TaskGraph.Task::name).toList());
            return tasks.stream().mapToInt(t -> (Integer) t.args().getLast()).max().orElseThrow();
        }
    }
}
