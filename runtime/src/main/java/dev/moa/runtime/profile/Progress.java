package dev.moa.runtime.profile;

import java.io.PrintStream;
import java.util.Locale;

/**
 * One line per finished step of a long job, with a bar, the elapsed time and an ETA from the mean step time so
 * far (steps resumed from an earlier run do not count towards the rate):
 * {@code profile 2048 [######..............] 6/20  41 s, ETA 1 min 35 s  passkey: loss 0.81}.
 */
public final class Progress {
    private static final int WIDTH = 20;

    private final PrintStream out;
    private final String what;
    private final int total;
    private final int resumed;
    private final long start = System.nanoTime();

    /** {@code resumed} steps were already done by an earlier run. */
    Progress(PrintStream out, String what, int total, int resumed) {
        this.out = out;
        this.what = what;
        this.total = total;
        this.resumed = resumed;
        if (out != null && resumed > 0) out.printf(Locale.ROOT, "%s: %d/%d done earlier, resuming%n", what, resumed, total);
    }

    void step(int done, String detail) {
        if (out == null) return;
        double elapsed = (System.nanoTime() - start) / 1e9;
        int fresh = done - resumed;
        double eta = fresh > 0 ? elapsed / fresh * (total - done) : Double.NaN;
        int filled = total == 0 ? WIDTH : (int) Math.round(WIDTH * (double) done / total);
        out.printf(Locale.ROOT, "%s [%s%s] %d/%d  %s, ETA %s  %s%n", what, "#".repeat(filled), ".".repeat(WIDTH - filled), done, total,
                duration(elapsed), Double.isNaN(eta) ? "?" : duration(eta), detail);
    }

    /** A duration as people read it: "41 s", "1 min 35 s", "2 h 5 min". */
    public static String duration(double seconds) {
        if (seconds < 60) return String.format(Locale.ROOT, "%.0f s", seconds);
        long s = Math.round(seconds);
        if (s < 3600) return String.format(Locale.ROOT, "%d min %d s", s / 60, s % 60);
        return String.format(Locale.ROOT, "%d h %d min", s / 3600, s % 3600 / 60);
    }
}
