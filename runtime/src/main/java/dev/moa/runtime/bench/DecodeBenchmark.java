package dev.moa.runtime.bench;

import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import java.util.SplittableRandom;

/**
 * Prefill and decode throughput of a model on this machine: a random prompt of {@code promptTokens}, then
 * {@code decodeTokens} greedy steps, repeated {@code rounds} times; the best round counts (the machines are
 * shared, and the best round is the one least disturbed). Kernels are warmed at model load.
 */
public final class DecodeBenchmark {
    public record Result(int promptTokens, double prefillTokensPerSecond, int decodeTokens, double decodeTokensPerSecond) {}

    private DecodeBenchmark() {
    }

    public static Result run(Model model, int promptTokens, int decodeTokens, int rounds) {
        int vocab = model.config().vocabSize();
        int[] prompt = new SplittableRandom(7).ints(promptTokens, 3, vocab).toArray();
        double bestPrefill = Double.MAX_VALUE, bestDecode = Double.MAX_VALUE;
        for (int round = 0; round < rounds; round++) {
            Session session = model.newSession(promptTokens + decodeTokens);
            long start = System.nanoTime();
            float[] logits = session.prefill(prompt);
            bestPrefill = Math.min(bestPrefill, (System.nanoTime() - start) / 1e9);
            start = System.nanoTime();
            for (int i = 0; i < decodeTokens; i++) logits = session.decode(Sampler.argmax(logits));
            bestDecode = Math.min(bestDecode, (System.nanoTime() - start) / 1e9);
            System.err.printf("  round %d: prefill %.1f tokens/s, decode %.2f tokens/s%n", round + 1,
                    promptTokens / bestPrefill, decodeTokens / bestDecode);
        }
        return new Result(promptTokens, promptTokens / bestPrefill, decodeTokens, decodeTokens / bestDecode);
    }
}
