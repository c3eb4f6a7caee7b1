package dev.moa.runtime.bench;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.BatchDecoder;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.generate.SamplingParams;
import java.util.ArrayList;
import java.util.List;
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
        return run(model, promptTokens, decodeTokens, rounds, SamplingParams.greedy());
    }

    /**
     * As {@link #run(Model, int, int, int)}, each token chosen by {@code sampling} where the step runs, as a generation
     * does ({@link Session#decodeDrawing}: on a device the argmax or the draw runs there; on the CPU after the step).
     */
    public static Result run(Model model, int promptTokens, int decodeTokens, int rounds, SamplingParams sampling) {
        int vocab = model.config().vocabSize();
        int[] prompt = new SplittableRandom(7).ints(promptTokens, 3, vocab).toArray();
        double bestPrefill = Double.MAX_VALUE, bestDecode = Double.MAX_VALUE;
        for (int round = 0; round < rounds; round++) {
            try (Session session = model.newSession(promptTokens + decodeTokens)) {
                long start = System.nanoTime();
                float[] logits = session.prefill(prompt);
                bestPrefill = Math.min(bestPrefill, (System.nanoTime() - start) / 1e9);
                // the first step moves the cache to a device and captures its graph there: timed apart from decode
                Sampler sampler = new Sampler(sampling);
                int token = session.decodeDrawing(sampler.next(logits), sampler);
                start = System.nanoTime();
                for (int i = 1; i < decodeTokens; i++) token = session.decodeDrawing(token, sampler);
                bestDecode = Math.min(bestDecode, (System.nanoTime() - start) / 1e9);
            }
            System.err.printf("  round %d: prefill %.1f tokens/s, decode %.2f tokens/s%n", round + 1,
                    promptTokens / bestPrefill, (decodeTokens - 1) / bestDecode);
        }
        return new Result(promptTokens, promptTokens / bestPrefill, decodeTokens, (decodeTokens - 1) / bestDecode);
    }

    /**
     * Aggregate decode throughput of {@code batch} sessions stepped together; the best round counts.
     * {@code kvBytesPerStep}: K/V bytes one step reads for all sessions, averaged over the steps.
     */
    public record BatchResult(int batch, int contextTokens, double seconds, int steps, double kvBytesPerStep) {
        public double tokensPerSecond() {
            return batch * steps / seconds;
        }
    }

    /**
     * {@code batch} sessions, each prefilled with its own random prompt of {@code promptTokens} under
     * {@code attention}, then {@code decodeTokens} steps of one {@link BatchDecoder} forward for all of them (greedy).
     */
    public static BatchResult batched(Model model, int batch, AttentionMode attention, int promptTokens, int decodeTokens, int rounds) {
        int vocab = model.config().vocabSize();
        SplittableRandom random = new SplittableRandom(7);
        double best = Double.MAX_VALUE, kvBytes = 0;
        BatchDecoder decoder = new BatchDecoder(model, batch);
        for (int round = 0; round < rounds; round++) {
            List<Session> sessions = new ArrayList<>();
            int[] tokens = new int[batch];
            for (int b = 0; b < batch; b++) {
                Session s = model.newSession(promptTokens + decodeTokens, 64, attention, decodeTokens);
                tokens[b] = Sampler.argmax(s.prefill(random.ints(promptTokens, 3, vocab).toArray()));
                sessions.add(s);
            }
            tokens = decoder.stepGreedy(sessions, tokens, true); // a device step moves the caches and captures its graph here
            long start = System.nanoTime();
            long kvFirst = 0;
            for (Session s : sessions) kvFirst += s.kvBytesReadNext();
            for (int i = 1; i < decodeTokens; i++) tokens = decoder.stepGreedy(sessions, tokens, true); // (a fixed batch)
            best = Math.min(best, (System.nanoTime() - start) / 1e9);
            sessions.forEach(Session::close);
            long kvAfter = 0;
            for (Session s : sessions) kvAfter += s.kvBytesReadNext();
            // Reads grow linearly with position until a ring fills, then stay: the mean of the ends is close enough.
            kvBytes = (kvFirst + kvAfter) / 2.0;
            System.err.printf("  batch %d, round %d: %.2f tokens/s in all%n", batch, round + 1, batch * (decodeTokens - 1) / best);
        }
        return new BatchResult(batch, promptTokens, best, decodeTokens - 1, kvBytes);
    }
}
