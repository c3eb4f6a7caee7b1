package dev.moa.tasks.cpu;

/**
 * A thread count a user configured ({@code MOA_THREADS}, {@code moa.threads}, {@code --threads}). Its own class so
 * that the CLI can check a value before {@link Parallel} builds its pool from it.
 */
public final class ThreadCount {
    private ThreadCount() {
    }

    /** The positive integer in {@code value}; otherwise an IllegalArgumentException naming {@code source} and the value. */
    public static int parse(String value, String source) {
        try {
            int threads = Integer.parseInt(String.valueOf(value).trim());
            if (threads >= 1) return threads;
        } catch (NumberFormatException e) {
            // said below
        }
        throw new IllegalArgumentException(source + " must be a positive integer, got '" + value + "'");
    }
}
