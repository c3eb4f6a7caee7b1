package dev.moa.plans;

import java.util.ArrayList;
import java.util.List;

/**
 * The elastic rules the optimiser chooses from (moa.md §5). The reference's grid, for models profiled at
 * 2k/4k/8k tokens and served to 16k: alpha ∈ {−2048, −1024, 0, 1024, …, 8192}, beta ∈ {0, 1/8, …, 1}, keeping a
 * rule when {@code alpha + beta·8192 ≤ 8192}, {@code alpha + beta·16384 ≤ 16384} and {@code alpha + beta·2048 > 0}
 * (48 rules). {@link #grid} is the same grid stretched to other lengths: alphas in steps of half the shortest
 * profiled length from minus the shortest to the longest, the three conditions at the shortest, the longest and
 * the extended length.
 */
public final class CandidateRules {
    /** beta ∈ {0, 1/8, …, 1}. */
    public static final int BETA_STEPS = 8;

    private CandidateRules() {
    }

    /** The reference's 48 rules (shortest 2048, longest 8192, extended 16384). */
    public static List<ElasticRule> reference() {
        return grid(2048, 8192, 16384);
    }

    /**
     * The grid for profiled lengths {@code shortest .. longest} and a plan used up to {@code extended} tokens.
     *
     * @throws IllegalArgumentException when the lengths are not ordered or the shortest is not a multiple of 128
     */
    public static List<ElasticRule> grid(int shortest, int longest, int extended) {
        if (shortest < 128 || shortest % 128 != 0) {
            throw new IllegalArgumentException("the shortest profiled length must be a positive multiple of 128, got " + shortest);
        }
        if (longest < shortest || extended < longest) {
            throw new IllegalArgumentException("lengths must satisfy shortest <= longest <= extended, got "
                    + shortest + ", " + longest + ", " + extended);
        }
        int step = shortest / 2;
        List<ElasticRule> rules = new ArrayList<>();
        for (long alpha = -shortest; alpha <= longest; alpha += step) {
            for (int b = 0; b <= BETA_STEPS; b++) {
                double beta = b / (double) BETA_STEPS;
                if (alpha + beta * longest <= longest && alpha + beta * extended <= extended && alpha + beta * shortest > 0) {
                    rules.add(new ElasticRule(alpha, beta));
                }
            }
        }
        return List.copyOf(rules);
    }
}
