package dev.moa.runtime.cli;

import dev.moa.runtime.profile.Progress;
import java.io.PrintStream;
import java.util.Locale;
import java.util.function.IntConsumer;
import java.util.function.LongSupplier;

/**
 * A long prompt's progress on stderr, for {@code moa generate}: nothing for the first two seconds (most prompts are
 * done by then), then at most a line every two seconds with the tokens run, the rate and an ETA:
 * {@code prefill 4096/16384 tokens, 310 tokens/s, ETA 40 s}.
 */
final class PrefillProgress implements IntConsumer {
    static final long QUIET_NANOS = 2_000_000_000L, EVERY_NANOS = 2_000_000_000L;

    private final PrintStream out;
    private final int total;
    private final LongSupplier clock;
    private final long start;
    private long lastLine;

    PrefillProgress(PrintStream out, int total) {
        this(out, total, System::nanoTime);
    }

    /** {@code clock}: nanoseconds, as {@link System#nanoTime} (tests pass their own). */
    PrefillProgress(PrintStream out, int total, LongSupplier clock) {
        this.out = out;
        this.total = total;
        this.clock = clock;
        this.start = clock.getAsLong();
        this.lastLine = start;
    }

    @Override
    public void accept(int done) {
        long now = clock.getAsLong();
        if (now - start < QUIET_NANOS || (now - lastLine < EVERY_NANOS && lastLine != start) || done >= total) return;
        lastLine = now;
        double seconds = (now - start) / 1e9, rate = done / seconds;
        out.printf(Locale.ROOT, "prefill %d/%d tokens, %.0f tokens/s, ETA %s%n", done, total, rate, Progress.duration((total - done) / rate));
    }
}
