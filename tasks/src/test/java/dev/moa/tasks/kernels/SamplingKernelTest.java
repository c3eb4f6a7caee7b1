package dev.moa.tasks.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The device's draw ({@link SamplingKernels#sample}) against a direct double-precision computation of the filtered
 * distribution: for uniforms at the middle of each likely token's span of the nucleus's weight (walked from the likeliest
 * down; in id order without a filter), the kernel must return that token. Many rows of one launch share the logits and
 * differ in their uniforms, so one launch checks many spans.
 */
class SamplingKernelTest {
    final Arena arena = Arena.ofShared();

    /** A draw: its logits and its parameters. */
    record Case(float[] logits, float temperature, int topK, float topP) {
    }

    /** The reference: the tokens in walking order with their probabilities under the parameters (double precision). */
    static List<double[]> spans(Case c) {
        int n = c.logits.length;
        double max = Double.NEGATIVE_INFINITY;
        for (float l : c.logits) max = Math.max(max, l);
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        boolean filtered = c.topK > 0 && c.topK < n || c.topP < 1;
        if (filtered) Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -c.logits[i]).thenComparingInt(i -> i));
        double[] w = new double[n];
        for (int i = 0; i < n; i++) w[i] = Math.exp((c.logits[i] - max) / c.temperature);
        int kept = c.topK > 0 && c.topK < n ? c.topK : n;
        double keptMass = 0;
        for (int r = 0; r < kept; r++) keptMass += w[order[r]];
        int nucleus = kept;
        if (c.topP < 1) {
            double before = 0;
            for (int r = 0; r < kept; r++) {
                if (before >= c.topP * keptMass) {
                    nucleus = r;
                    break;
                }
                before += w[order[r]];
            }
        }
        double mass = 0;
        for (int r = 0; r < nucleus; r++) mass += w[order[r]];
        List<double[]> spans = new ArrayList<>(); // {token, start, end} as fractions of the nucleus's mass
        double start = 0;
        for (int r = 0; r < nucleus; r++) {
            double end = start + w[order[r]] / mass;
            spans.add(new double[] {order[r], start, end});
            start = end;
        }
        return spans;
    }

    /** Runs one row per uniform over {@code c}'s logits, {@code sample} then {@code sampleWide}; returns the tokens drawn. */
    int[] draw(Case c, long[] uniforms) {
        return draw(c, uniforms, true);
    }

    /** As {@link #draw(Case, long[])}; {@code sample} alone unless {@code wide}. */
    int[] draw(Case c, long[] uniforms, boolean wide) {
        int n = c.logits.length, rows = uniforms.length;
        F32Buffer logits = F32Buffer.allocate(arena, (long) rows * n);
        I32Buffer draws = I32Buffer.allocate(arena, (long) rows * SamplingKernels.DRAW_SIZE), chosen = I32Buffer.allocate(arena, 2L * rows);
        int argmax = 0;
        for (int i = 1; i < n; i++) if (c.logits[i] > c.logits[argmax]) argmax = i;
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < n; i++) logits.set((long) b * n + i, c.logits[i]);
            SamplingKernels.setDraw(draws, b, c.temperature, c.topK, c.topP, (int) uniforms[b]);
            chosen.set(2L * b, argmax);
        }
        Emulator.launch(SamplingKernels.class, "sample", Grid.of(rows, SamplingKernels.GROUP), logits, draws, chosen, n);
        if (wide) Emulator.launch(SamplingKernels.class, "sampleWide", Grid.of(rows, SamplingKernels.WIDE), logits, draws, chosen, n);
        int[] out = new int[rows];
        for (int b = 0; b < rows; b++) out[b] = chosen.get(2L * b);
        return out;
    }

    /** Draws at the middle of up to {@code probes} spans (the likeliest, then spread over the rest) and checks each token. */
    void check(Case c, int probes) {
        List<double[]> spans = spans(c);
        List<double[]> probed = new ArrayList<>();
        for (double[] s : spans) if (s[2] - s[1] > 1e-5 && probed.size() < probes / 2) probed.add(s); // the likeliest
        for (int i = 0; i < probes / 2 && spans.size() > 1; i++) {
            double[] s = spans.get((int) ((long) i * 7919 % spans.size()));
            if (s[2] - s[1] > 1e-5) probed.add(s); // others, where their span is wide enough to hit in float32 rounding
        }
        double[] last = spans.get(spans.size() - 1); // the nucleus's last token: where its bound is
        if (last[2] - last[1] > 1e-5) probed.add(last);
        long[] uniforms = new long[probed.size()];
        for (int i = 0; i < uniforms.length; i++) uniforms[i] = (long) ((probed.get(i)[1] + probed.get(i)[2]) / 2 * 0x1p32);
        int[] tokens = draw(c, uniforms);
        for (int i = 0; i < uniforms.length; i++) {
            assertEquals((int) probed.get(i)[0], tokens[i], "uniform " + uniforms[i] + " of " + spans.size() + " tokens (T " + c.temperature
                    + ", top-k " + c.topK + ", top-p " + c.topP + ")");
        }
    }

    static float[] gaussian(Random random, int n, double sigma, float peak) {
        float[] l = new float[n];
        for (int i = 0; i < n; i++) l[i] = (float) (random.nextGaussian() * sigma);
        if (peak != 0) l[random.nextInt(n)] += peak;
        return l;
    }

    @Test
    void drawsTheTokenAtTheUniformOfTheFilteredDistribution() {
        Random random = new Random(7);
        float[] logits = gaussian(random, 3001, 2.5, 8);
        check(new Case(logits, 0.7f, 0, 0.9f), 24); // top-p alone: candidates by the nucleus's lower bound
        check(new Case(logits, 1f, 0, 1f), 24); // no filter: id order
        check(new Case(logits, 0.7f, 40, 0.95f), 24); // top-k then top-p
        check(new Case(logits, 1.5f, 25, 1f), 24); // top-k alone
        check(new Case(gaussian(random, 2999, 1, 0), 2f, 50, 0.9f), 24); // every token has weight: the threshold is bisected
        // a temperature so high that the first threshold is -∞: the bisection still ends (over the floats' order), uniform over the top-k
        check(new Case(logits, 1e38f, 40, 1f), 16);
    }

    @Test
    void equalLogitsGoInIdOrder() {
        Random random = new Random(11);
        float[] logits = new float[2500];
        for (int i = 0; i < logits.length; i++) logits[i] = Math.round(random.nextGaussian() * 4) / 2f; // few distinct values
        check(new Case(logits, 1f, 40, 1f), 30);
        check(new Case(logits, 0.8f, 0, 0.7f), 30);
        check(new Case(logits, 0.8f, 300, 0.97f), 30);
    }

    /**
     * Nuclei and top-k's past what shared memory holds: {@code sample} leaves them (-1) and {@code sampleWide} draws them,
     * its bisection over the logits' keys and, where many tokens share a logit, over their ids.
     */
    @Test
    void drawsNucleiWiderThanSharedMemory() {
        int n = 3001;
        Random random = new Random(3);
        float[] flat = new float[n]; // every token in a nucleus of 0.99: more candidates than shared memory holds
        for (int i = 0; i < n; i++) flat[i] = (float) random.nextGaussian() * 0.01f;
        assertEquals(-1, draw(new Case(flat, 1.3f, 0, 0.99f), new long[] {12345}, false)[0], "sample alone leaves the row");
        check(new Case(flat, 1.3f, 0, 0.99f), 24); // top-p alone
        check(new Case(flat, 1.3f, 2000, 1f), 16); // top-k past the candidates
        check(new Case(flat, 1.3f, 2000, 0.9f), 16); // both: the k-th token, then the nucleus within them
        check(new Case(gaussian(random, n, 0.3, 0), 1f, 0, 0.95f), 16); // a broad bell, not flat: its tail cut by p

        float[] equal = new float[4000]; // one logit value: the searches halve the ids
        check(new Case(equal, 1f, 0, 0.5f), 16);
        check(new Case(equal, 1f, 2001, 0.7f), 16); // (the first probe holds 2000 tokens: k - 1, which does not reach the k-th)
        float[] steps = new float[2600]; // few values, each shared by hundreds of tokens: keys, then ids
        for (int i = 0; i < steps.length; i++) steps[i] = Math.round(random.nextGaussian() * 2) / 8f;
        check(new Case(steps, 1f, 1800, 0.95f), 24);
        check(new Case(steps, 0.5f, 0, 0.8f), 24);
    }

    @Test
    void leavesGreedyAndNonFiniteRowsToOthers() {
        int n = 3001;
        Random random = new Random(3);
        float[] logits = gaussian(random, n, 2, 5);
        int argmax = 0;
        for (int i = 1; i < n; i++) if (logits[i] > logits[argmax]) argmax = i;
        assertEquals(argmax, draw(new Case(logits, 0f, 0, 0.9f), new long[] {0xFFFFFFFFL})[0], "temperature 0 is greedy");
        assertEquals(argmax, draw(new Case(logits, 1e-40f, 0, 0.9f), new long[] {0xFFFFFFFFL})[0], "a vanishing temperature: its limit");
        assertEquals(argmax, draw(new Case(logits, 1e-40f, 0, 1f), new long[] {0xFFFFFFFFL})[0], "unfiltered too");

        F32Buffer l = F32Buffer.allocate(arena, n);
        for (int i = 0; i < n; i++) l.set(i, logits[i]);
        I32Buffer draws = I32Buffer.allocate(arena, SamplingKernels.DRAW_SIZE), chosen = I32Buffer.allocate(arena, 2);
        SamplingKernels.setDraw(draws, 0, 1f, 0, 1f, 0);
        chosen.set(0, 17);
        chosen.set(1, 3); // the argmax saw non-finite logits: the row is the host's to refuse
        Emulator.launch(SamplingKernels.class, "sample", Grid.of(1, SamplingKernels.GROUP), l, draws, chosen, n);
        Emulator.launch(SamplingKernels.class, "sampleWide", Grid.of(1, SamplingKernels.WIDE), l, draws, chosen, n);
        assertEquals(17, chosen.get(0));
    }

    @Test
    void fractionIsExact() {
        long mass = (1L << 57) - 12345;
        assertEquals(0, SamplingKernels.fraction(mass, 0));
        org.junit.jupiter.api.Assertions.assertTrue(SamplingKernels.fraction(mass, 0xFFFFFFFFL) < mass, "below the mass");
        for (long u : new long[] {1, 0x80000000L, 0xFFFFFFFFL, 0x12345678L}) {
            long exact = java.math.BigInteger.valueOf(mass).multiply(java.math.BigInteger.valueOf(u)).shiftRight(32).longValueExact();
            assertEquals(exact, SamplingKernels.fraction(mass, u));
        }
    }
}
