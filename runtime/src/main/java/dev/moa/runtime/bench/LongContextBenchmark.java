package dev.moa.runtime.bench;

import dev.moa.plans.HeadSpans;
import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.MoaPlan;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.model.DenseKvCache;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.KvFormat;
import dev.moa.runtime.model.LlamaModel;
import dev.moa.runtime.model.MoaKvCache;
import java.util.SplittableRandom;

/**
 * Whole-model decode speed at a long context, dense vs sparse. Prefilling 16k tokens through a 1B model takes
 * minutes on a small CPU, and a decode step's cost does not depend on the cached values, so the cache is filled
 * with random keys and values for the prompt's positions (the same writes a prefill would make), then real
 * decode steps run through the model: embedding, every matmul, RoPE, cache write and attention. On a model with an
 * accelerator the steps are the device's, over that cache moved there.
 */
public final class LongContextBenchmark {
    public record Result(long kvBytes, double decodeTokensPerSecond) {}

    private LongContextBenchmark() {
    }

    /**
     * The cache a prompt of {@code length − allowance} tokens leaves under {@code plan} (null: dense) with N =
     * {@code length}, its keys and values random. One cache serves several runs: device runs copy it, and a CPU run
     * writes only past the prompt.
     */
    public static KvCache filled(ModelConfig c, MoaPlan plan, int length, int allowance) {
        return filled(c, plan, length, allowance, KvFormat.F32);
    }

    /** As {@link #filled(ModelConfig, MoaPlan, int, int)} with keys and values stored in {@code format}. */
    public static KvCache filled(ModelConfig c, MoaPlan plan, int length, int allowance, KvFormat format) {
        int prompt = length - allowance;
        KvCache cache = plan == null ? new DenseKvCache(c, length, format) : new MoaKvCache(c, HeadSpans.of(plan, length), prompt, format);
        SplittableRandom random = new SplittableRandom(9);
        float[] k = new float[c.kvDim()], v = new float[c.kvDim()];
        for (int p = 0; p < prompt; p++) {
            for (int l = 0; l < c.numLayers(); l++) {
                for (int i = 0; i < k.length; i++) {
                    k[i] = (float) random.nextDouble(-1, 1);
                    v[i] = (float) random.nextDouble(-1, 1);
                }
                cache.write(l, p, k, 0, v, 0);
            }
        }
        return cache;
    }

    /**
     * The most sessions, at least 1 and at most {@code most}, whose copies of {@code cache} fit {@code budget} bytes
     * together: the batch a memory budget allows this attention at this length.
     */
    public static int sessionsWithin(long budget, KvCache cache, int most) {
        return (int) Math.max(1, Math.min(most, budget / Math.max(1, cache.byteSize())));
    }

    /**
     * {@code steps} decode steps after the prompt of a {@link #filled} cache, best step counted: on the CPU one
     * session (batch 1), on the model's accelerator {@code batch} sessions stepped together (each row a copy of the
     * cache; tokens/s counts every row, KV bytes are the whole batch's).
     */
    public static Result run(Model model, KvCache cache, int length, int allowance, int steps, int batch) {
        if (batch > 1 && model.accelerator().isEmpty()) throw new IllegalArgumentException("a batch at long context runs on an accelerator only");
        ModelConfig c = model.config();
        int prompt = length - allowance;
        int token = 5;
        double best = Double.MAX_VALUE;
        if (model.accelerator().isPresent()) {
            var rows = java.util.Collections.nCopies(batch, new dev.moa.runtime.device.DeviceDecoder.Row(cache, prompt, length));
            try (var device = model.accelerator().get().decoder(rows)) {
                int[] tokens = new int[batch], positions = new int[batch];
                java.util.Arrays.fill(tokens, token);
                java.util.Arrays.fill(positions, prompt);
                tokens = device.decodeGreedy(tokens, positions, true); // the first step captures the graph (a fixed batch)
                for (int i = 1; i <= steps; i++) {
                    java.util.Arrays.fill(positions, prompt + i);
                    long start = System.nanoTime();
                    tokens = device.decodeGreedy(tokens, positions, true);
                    best = Math.min(best, (System.nanoTime() - start) / 1e9);
                    for (int b = 0; b < batch; b++) if (tokens[b] < 0) tokens[b] = 5; // random caches: any token will do
                }
                return new Result(device.kvCacheBytes(), batch / best);
            }
        }
        LlamaModel llama = model.llama();
        LlamaModel.State state = new LlamaModel.State(c, 1);
        for (int i = 0; i < steps; i++) {
            long start = System.nanoTime();
            float[] logits = llama.forward(state, cache, new int[] {token}, 0, 1, prompt + i);
            best = Math.min(best, (System.nanoTime() - start) / 1e9);
            token = Sampler.argmax(logits);
        }
        return new Result(cache.byteSize(), 1 / best);
    }
}
