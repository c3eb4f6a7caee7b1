package dev.moa.runtime.bench;

import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import java.util.SplittableRandom;

/**
 * Prefill and decode throughput of a model on this machine: a random prompt of {@code promptTokens}, then
 * {@code decodeTokens} greedy steps, after a short warm-up so the JIT has compiled the kernels.
 */
public final class DecodeBenchmark {
    public record Result(int promptTokens, double prefillTokensPerSecond, int decodeTokens, double decodeTokensPerSecond) {}

    private DecodeBenchmark() {
    }

    public static Result run(Model model, int promptTokens, int decodeTokens) {
        int vocab = model.config().vocabSize();
        SplittableRandom random = new SplittableRandom(7);
        int[] prompt = random.ints(promptTokens, 3, vocab).toArray();

        // Warm-up: compile prefill (chunked matmul) and decode (matvec) paths.
        Session warm = model.newSession(Math.min(model.config().maxPositions(), 72));
        warm.prefill(java.util.Arrays.copyOf(prompt, Math.min(64, promptTokens)));
        for (int i = 0; i < 4; i++) warm.decode(3);

        Session session = model.newSession(promptTokens + decodeTokens);
        long start = System.nanoTime();
        float[] logits = session.prefill(prompt);
        double prefillSeconds = (System.nanoTime() - start) / 1e9;
        start = System.nanoTime();
        for (int i = 0; i < decodeTokens; i++) logits = session.decode(Sampler.argmax(logits));
        double decodeSeconds = (System.nanoTime() - start) / 1e9;
        return new Result(promptTokens, promptTokens / prefillSeconds, decodeTokens, decodeTokens / decodeSeconds);
    }
}
