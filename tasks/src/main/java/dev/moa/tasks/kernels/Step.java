package dev.moa.tasks.kernels;

/**
 * The per-step scalars of a decode step, kept in a small device buffer (an {@code I32Buffer}) that the host writes
 * before a replay of a captured step: a captured graph freezes its scalar arguments, so whatever changes from token to
 * token is read from here by the kernels instead. The step's last kernel may move it on itself ({@link
 * VectorKernels#argmaxOnward}, {@link VectorKernels#stepOnward}: each row's chosen token at the next position), so that
 * the next replay can be queued before the host has read this one's tokens.
 */
public final class Step {
    /** The token id being decoded. */
    public static final int TOKEN = 0;
    /** Its absolute position. */
    public static final int POSITION = 1;
    /** Ints in a step buffer. */
    public static final int SIZE = 2;

    private Step() {
    }
}
