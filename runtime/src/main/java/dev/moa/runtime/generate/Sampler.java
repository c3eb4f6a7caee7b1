package dev.moa.runtime.generate;

import java.util.Arrays;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;

/**
 * Picks the next token: argmax when greedy; otherwise temperature, then top-k, then top-p (nucleus)
 * filtering of the softmax distribution, then one draw from a seeded generator.
 */
public final class Sampler {
    private final SamplingParams params;
    private final RandomGenerator random;

    public Sampler(SamplingParams params) {
        this.params = params;
        this.random = RandomGeneratorFactory.of("L64X128MixRandom").create(params.seed());
    }

    public int next(float[] logits) {
        return params.isGreedy() ? argmax(logits) : sample(logits);
    }

    /** Index of the largest logit; the lowest index wins a tie. */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    private int sample(float[] logits) {
        int n = logits.length;
        double temperature = params.temperature();
        float max = logits[argmax(logits)];
        double[] probability = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) {
            probability[i] = Math.exp((logits[i] - max) / temperature);
            total += probability[i];
        }
        if (params.topK() == 0 && params.topP() >= 1) return draw(probability, total);
        // Without top-k, only tokens that can survive top-p are sorted: a token below (1 − p)/(n − 1) of the mass
        // can never be inside the nucleus (llama2.c's trick), which leaves a few hundred candidates.
        double cutoff = params.topK() == 0 ? (1 - params.topP()) / (n - 1) * total : 0;
        // Most likely first; equal probabilities in id order, so a seed always gives the same draw.
        java.util.Comparator<Integer> likelierFirst = (a, b) -> probability[a] != probability[b]
                ? Double.compare(probability[b], probability[a]) : Integer.compare(a, b);
        int limit = params.topK() > 0 ? params.topK() : n;
        // The `limit` likeliest candidates, kept in a heap whose root is the least likely of them.
        java.util.PriorityQueue<Integer> heap = new java.util.PriorityQueue<>(Math.min(limit, n) + 1, likelierFirst.reversed());
        for (int i = 0; i < n; i++) {
            if (probability[i] < cutoff) continue;
            heap.add(i);
            if (heap.size() > limit) heap.poll();
        }
        Integer[] order = heap.toArray(new Integer[0]);
        Arrays.sort(order, likelierFirst);
        int keep = order.length;
        // Top-p applies to the distribution renormalised over the top-k tokens (or over all tokens).
        double keptMass = 0;
        if (params.topK() > 0) {
            for (int i = 0; i < keep; i++) keptMass += probability[order[i]];
        } else {
            keptMass = total;
        }
        // Nucleus: the shortest prefix of the kept tokens whose share of their mass reaches top-p.
        int nucleus = keep;
        double cumulative = 0;
        for (int i = 0; i < keep; i++) {
            cumulative += probability[order[i]];
            if (cumulative >= params.topP() * keptMass) {
                nucleus = i + 1;
                break;
            }
        }
        double mass = 0;
        for (int i = 0; i < nucleus; i++) mass += probability[order[i]];
        double draw = random.nextDouble() * mass;
        for (int i = 0; i < nucleus; i++) {
            draw -= probability[order[i]];
            if (draw < 0) return order[i];
        }
        return order[nucleus - 1];
    }

    /** One draw from the whole (unnormalised) distribution: no filter, so no sorting. */
    private int draw(double[] probability, double total) {
        double draw = random.nextDouble() * total;
        for (int i = 0; i < probability.length; i++) {
            draw -= probability[i];
            if (draw < 0) return i;
        }
        return probability.length - 1;
    }
}
