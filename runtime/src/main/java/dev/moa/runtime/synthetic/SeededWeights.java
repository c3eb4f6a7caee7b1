package dev.moa.runtime.synthetic;

import java.nio.charset.StandardCharsets;

/**
 * Deterministic pseudo-random weights, identical to scripts/reference/synthetic.py: element i of a tensor is
 * the (i+1)-th SplitMix64 output of the stream seeded with {@code modelSeed XOR fnv1a64(tensorName)}, mapped
 * to a float in [−1, 1) by its top 24 bits. Counter-based, so any element can be computed independently.
 */
public final class SeededWeights {
    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    private SeededWeights() {
    }

    public static long fnv1a64(String text) {
        long hash = 0xcbf29ce484222325L;
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            hash ^= (b & 0xFF);
            hash *= 0x100000001b3L;
        }
        return hash;
    }

    public static long streamSeed(long modelSeed, String tensorName) {
        return modelSeed ^ fnv1a64(tensorName);
    }

    /** The i-th (0-based) SplitMix64 output of a stream. */
    public static long splitMix(long seed, long i) {
        long z = seed + (i + 1) * GOLDEN_GAMMA;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [−1, 1), exact in F32: 24 random bits scaled by 2^−23, minus one. */
    public static float uniform(long seed, long i) {
        return (float) (splitMix(seed, i) >>> 40) * 0x1p-23f - 1.0f;
    }
}
