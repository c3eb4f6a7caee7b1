package dev.moa.runtime.bench;

import dev.moa.plans.HeadSpans;
import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.MoaPlan;
import dev.moa.runtime.model.DenseKvCache;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.MoaKvCache;
import dev.moa.tasks.cpu.Parallel;
import java.util.SplittableRandom;

/**
 * Attention alone, dense vs sparse, at one context length N: the KV-cache bytes a session keeps (dense: all N
 * positions, as a dense session allocates for prompt + allowance), the time of one decode step's attention
 * (every layer and query head, at the first generated position), and the time of the prompt's attention over
 * all layers (prefill). Keys and values are random: attention cost does not depend on them.
 */
public final class AttentionBenchmark {
    public record Result(long kvBytes, double decodeMillis, double prefillSeconds) {}

    private AttentionBenchmark() {
    }

    /** plan == null: dense. The prompt is {@code length − allowance} tokens; N = length. */
    public static Result run(ModelConfig c, MoaPlan plan, int length, int allowance, boolean measurePrefill) {
        int prompt = length - allowance;
        KvCache cache = plan == null ? new DenseKvCache(c, length)
                : new MoaKvCache(c, HeadSpans.of(plan, length), prompt);
        int kvDim = c.kvDim(), qDim = c.queryDim(), headDim = c.headDim();
        SplittableRandom random = new SplittableRandom(5);
        float[] k = new float[kvDim], v = new float[kvDim];
        float[] q = new float[Math.max(1, prompt) * qDim];
        for (int i = 0; i < q.length; i++) q[i] = (float) random.nextDouble(-1, 1);
        for (int l = 0; l < c.numLayers(); l++) {
            for (int p = 0; p <= prompt; p++) {
                for (int i = 0; i < kvDim; i++) {
                    k[i] = (float) random.nextDouble(-1, 1);
                    v[i] = (float) random.nextDouble(-1, 1);
                }
                if (p == prompt && measurePrefill) break; // the prompt stays staged for the prefill timing
                cache.write(l, p, k, 0, v, 0);
            }
        }
        float[] out = new float[qDim * Math.max(1, prompt)];
        double prefillSeconds = Double.NaN;
        if (measurePrefill) {
            // Every prompt query of every layer against the prompt: prefill's attention.
            long start = System.nanoTime();
            for (int l = 0; l < c.numLayers(); l++) {
                int layer = l;
                Parallel.call(() -> {
                    Parallel.forRange(prompt * c.numHeads(), 16, (s, e) -> {
                        float[] scores = new float[prompt + 1];
                        for (int i = s; i < e; i++) {
                            int t = i / c.numHeads(), h = i % c.numHeads();
                            cache.attend(layer, h, t, q, t * qDim + h * headDim, out, t * qDim + h * headDim, scores);
                        }
                    });
                    return null;
                });
            }
            prefillSeconds = (System.nanoTime() - start) / 1e9;
            for (int l = 0; l < c.numLayers(); l++) cache.write(l, prompt, k, 0, v, 0);
        }
        double best = Double.MAX_VALUE;
        for (int round = 0; round < 5; round++) {
            long start = System.nanoTime();
            Parallel.call(() -> {
                for (int l = 0; l < c.numLayers(); l++) {
                    int layer = l;
                    Parallel.forRange(c.numHeads(), 1, (s, e) -> {
                        float[] scores = new float[prompt + 1];
                        for (int h = s; h < e; h++) cache.attend(layer, h, prompt, q, h * headDim, out, h * headDim, scores);
                    });
                }
                return null;
            });
            best = Math.min(best, (System.nanoTime() - start) / 1e6);
        }
        return new Result(cache.byteSize(), best, prefillSeconds);
    }
}
