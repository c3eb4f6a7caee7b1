package dev.moa.runtime.generate;

/**
 * How the next token is chosen from the logits.
 *
 * @param temperature 0 means greedy (argmax); otherwise logits are divided by it before the softmax
 * @param topK        keep only the k most likely tokens (0 = no limit)
 * @param topP        keep the smallest set of most likely tokens whose probability reaches p (1 = no limit)
 * @param seed        seed of the random generator, so sampled runs are reproducible
 */
public record SamplingParams(double temperature, int topK, double topP, long seed) {
    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
    }

    public static SamplingParams greedy() {
        return new SamplingParams(0, 0, 1, 0);
    }

    public boolean isGreedy() {
        return temperature == 0 || topK == 1;
    }
}
