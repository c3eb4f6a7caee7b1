package dev.moa.runtime.model;

/**
 * A forward whose activations stopped being numbers (NaN or ±Inf), named by the first position and the step where
 * it happened, instead of sampling a token from garbage: weights that hold NaN, or a value past the float range.
 */
public final class NonFiniteException extends ArithmeticException {
    NonFiniteException(String message) {
        super(message);
    }

    /**
     * Throws when rows {@code [0, n)} of width {@code width} in {@code values} hold a non-finite value; row t is the
     * token at {@code positions[t]}. Linear in the activations, so it costs nothing next to the matmuls that made them.
     */
    public static void check(float[] values, int n, int width, int[] positions, String where) {
        for (int t = 0; t < n; t++) {
            for (int i = t * width, end = i + width; i < end; i++) {
                if (!Float.isFinite(values[i])) {
                    throw new NonFiniteException("the forward produced " + values[i] + " at position " + positions[t] + ", first in "
                            + where + "; the weights may hold NaN/Inf or a value overflowed the float range");
                }
            }
        }
    }
}
