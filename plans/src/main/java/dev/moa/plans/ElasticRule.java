package dev.moa.plans;

/**
 * One head's elastic span rule: at total length N (prompt + generation allowance) the head keeps
 * {@code S = trunc(alpha + beta·N)} tokens, clamped to [128, N] and rounded up to a multiple of 64; the first
 * {@link #SINK} of them are the attention sink, the rest a sliding window of the most recent tokens.
 *
 * @param alpha tokens, may be negative
 * @param beta  fraction of N, in [0, 1]
 */
public record ElasticRule(double alpha, double beta) {
    /** Tokens at the start of the sequence every head keeps. */
    public static final int SINK = 64;
    /** Spans are whole 64-token blocks (the prefill block size). */
    public static final int BLOCK = 64;
    public static final int MIN_SPAN = 128;

    public ElasticRule {
        if (!Double.isFinite(alpha)) throw new IllegalArgumentException("alpha must be finite, got " + alpha);
        if (!(beta >= 0 && beta <= 1)) throw new IllegalArgumentException("beta must be in [0, 1], got " + beta);
    }

    /** The span S at total length {@code n}: exactly the reference rule (note: S may exceed N after rounding). */
    public int span(int n) {
        long s = (long) (alpha + beta * n); // truncation toward zero
        s = Math.min(s, n);
        s = Math.max(s, MIN_SPAN);
        return (int) ((s + BLOCK - 1) / BLOCK * BLOCK);
    }

    /** The sink part of the span at length n. */
    public int sink(int n) {
        return Math.min(span(n), SINK);
    }

    /** The sliding-window part of the span at length n. */
    public int local(int n) {
        return span(n) - sink(n);
    }
}
