package dev.moa.runtime.bench;

import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.generate.SamplingParams;
import java.util.List;
import java.util.Random;

/**
 * {@code moa bench sampling}: what choosing a token costs on the host per decode step, against the least it can cost
 * (one argmax pass over the logits, what greedy decoding does): a device's decode step is one or two milliseconds, so
 * a sampler that weighs a 128k vocabulary slowly would set the speed of every sampled generation. Logits are seeded
 * Gaussians with a peak of 40 likely tokens, as a model's.
 */
public final class SamplingBenchmark {
    /** One sampler setting: its name and microseconds per token. */
    public record Row(String name, double micros) {
    }

    /** The settings timed, most used first (greedy's argmax is the floor). */
    static final List<SamplingParams> SETTINGS = List.of(SamplingParams.greedy(), new SamplingParams(0.7, 0, 0.9, 1),
            new SamplingParams(1.0, 0, 1.0, 1), new SamplingParams(0.7, 40, 0.95, 1), new SamplingParams(1.3, 0, 0.99, 1));

    private SamplingBenchmark() {
    }

    public static List<Row> run(int vocab, int draws) {
        float[] logits = logits(vocab, new Random(3));
        return SETTINGS.stream().map(p -> new Row(name(p), micros(new Sampler(p), logits, draws))).toList();
    }

    static float[] logits(int vocab, Random random) {
        float[] logits = new float[vocab];
        for (int i = 0; i < vocab; i++) logits[i] = (float) (random.nextGaussian() * 2.5);
        for (int i = 0; i < Math.min(40, vocab); i++) logits[random.nextInt(vocab)] = 9 + (float) random.nextGaussian();
        return logits;
    }

    static String name(SamplingParams p) {
        if (p.isGreedy()) return "greedy (argmax)";
        return "temperature " + p.temperature() + (p.topK() > 0 ? ", top-k " + p.topK() : "") + (p.topP() < 1 ? ", top-p " + p.topP() : "");
    }

    /** Best of five rounds of {@code draws} tokens, after a round to compile. */
    private static double micros(Sampler sampler, float[] logits, int draws) {
        long sink = 0;
        double best = Double.POSITIVE_INFINITY;
        for (int round = 0; round < 6; round++) {
            long start = System.nanoTime();
            for (int i = 0; i < draws; i++) sink += sampler.next(logits);
            if (round > 0) best = Math.min(best, (System.nanoTime() - start) / 1e3 / draws);
        }
        if (sink == Long.MIN_VALUE) System.out.print(""); // (keeps the draws from being optimised away)
        return best;
    }
}
