package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.plans.ElasticRule;
import dev.moa.plans.MoaPlan;
import dev.moa.runtime.Model;
import dev.moa.runtime.bench.LongContextBenchmark;
import dev.moa.runtime.model.KvCache;
import dev.moa.tasks.cuda.DeviceChoice;
import dev.moa.tasks.graph.TaskGraph;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * A batched decode step's products on the tensor cores (the pipelined GEMM over the sessions' activations in BF16
 * parts, split over the columns where its tiles are few) against the batched matvec, on the demo model in the emulator: from five sessions the step takes the
 * tensor cores, below it (or told never) the matvec, and both give the same logits for sessions of different
 * lengths and attention (dense, a MoA plan, uniform spans) and the same greedy tokens.
 */
class TensorDecodeTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");

    @Test
    void tensorProductsDecodeAsTheBatchedMatvecDoes() throws Exception {
        try (Model model = Model.load(DEMO, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""))) {
            var config = model.config();
            Accelerator accelerator = model.accelerator().orElseThrow();
            MoaPlan plan = MoaPlan.load(DEMO.resolve("moa-plan-50.json"));
            MoaPlan uniform = MoaPlan.uniform(config.numLayers(), config.numHeads(), new ElasticRule(0, 0.5));
            List<DeviceDecoder.Row> rows = new ArrayList<>();
            int[] lengths = {140, 260, 200, 96, 300, 180};
            MoaPlan[] plans = {null, plan, uniform, null, plan, uniform};
            for (int i = 0; i < lengths.length; i++) {
                KvCache cache = LongContextBenchmark.filled(config, plans[i], lengths[i], 8);
                rows.add(new DeviceDecoder.Row(cache, lengths[i] - 8, lengths[i]));
            }

            accelerator.tensorProductsFrom(0); // the batched matvec only
            float[][][] matvec = steps(accelerator, rows, Set.of("halfBatchInto"), Set.of("bf16Tensor", "bf16TensorSplit"));
            accelerator.tensorProductsFrom(5); // the default: six sessions take the tensor cores
            // the products on the pipelined GEMM over BF16 parts the norms, the gate/up product (SwiGLU its epilogue) and the
            // attention's merge write: no split of float activations left
            float[][][] tensor = steps(accelerator, rows, Set.of("rmsNormParts", "tileGlu", "decodeGroupedParts", "split", "sumSplits", "tile"),
                    Set.of("halfBatchInto", "bf16Tensor", "bf16TensorSplit", "rmsNorm", "swiGlu", "swiGluParts", "splitRows", "decodeGrouped"));
            for (int s = 0; s < matvec.length; s++) {
                for (int b = 0; b < rows.size(); b++) {
                    EmulatorDecodeTest.assertClose(matvec[s][b], tensor[s][b], "step " + s + ", session " + b);
                    assertEquals(dev.moa.runtime.generate.Sampler.argmax(matvec[s][b]), dev.moa.runtime.generate.Sampler.argmax(tensor[s][b]));
                }
            }
            // rows of one CPU cache (a benchmark's copies): the first through the host, the others copied from its region
            DeviceDecoder.Row one = rows.get(1);
            float[] alone;
            try (DeviceDecoder single = accelerator.decoder(List.of(one))) {
                alone = single.decode(new int[] {9}, new int[] {one.cached()})[0].clone();
            }
            try (DeviceDecoder copies = accelerator.decoder(List.of(one, one, one))) {
                float[][] logits = copies.decode(new int[] {9, 9, 9}, new int[] {one.cached(), one.cached(), one.cached()});
                for (int b = 0; b < 3; b++) EmulatorDecodeTest.assertClose(alone, logits[b], "copy " + b + " of one cache");
            }
            // fewer sessions than the threshold keep the matvec
            try (DeviceDecoder few = accelerator.decoder(rows.subList(0, 4))) {
                assertTrue(kernels(few.tasks()).contains("halfBatchInto"));
                assertFalse(kernels(few.tasks()).contains("split") || kernels(few.tasks()).contains("tile"));
            }
        }
    }

    /** Three steps of {@code rows} (the same tokens each time), checking the step's kernels: every logit of every row. */
    static float[][][] steps(Accelerator accelerator, List<DeviceDecoder.Row> rows, Set<String> present, Set<String> absent) {
        float[][][] out = new float[3][][];
        try (DeviceDecoder decoder = accelerator.decoder(rows)) {
            Set<String> kernels = kernels(decoder.tasks());
            assertTrue(kernels.containsAll(present), "the step's kernels " + kernels + " include " + present);
            for (String k : absent) assertFalse(kernels.contains(k), "the step's kernels " + kernels + " leave out " + k);
            int[] tokens = new int[rows.size()], positions = new int[rows.size()];
            for (int s = 0; s < out.length; s++) {
                for (int b = 0; b < rows.size(); b++) {
                    tokens[b] = 5 + 17 * b + s;
                    positions[b] = rows.get(b).cached() + s;
                }
                float[][] logits = decoder.decode(tokens, positions);
                out[s] = new float[logits.length][];
                for (int b = 0; b < logits.length; b++) out[s][b] = logits[b].clone();
            }
        }
        return out;
    }

    private static Set<String> kernels(List<TaskGraph.Task> tasks) {
        return tasks.stream().map(TaskGraph.Task::method).collect(Collectors.toSet());
    }
}
