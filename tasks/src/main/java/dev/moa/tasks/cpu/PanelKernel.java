package dev.moa.tasks.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The prefill micro-kernel, shared by every storage format: a panel of a few weight rows, already widened to
 * F32, multiplied against all tokens of a chunk, four tokens at a time in registers.
 *
 * <p>Widening a panel once and reusing it for every token is what makes 16-bit weights as cheap as F32 here.
 * Panel and activations must use the same column order (see {@link WeightMatrix#prepare}); the dot product
 * does not care which order that is.
 */
final class PanelKernel {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** With 32 vector registers (AVX-512) a 4-row panel fits; with 16 (AVX2, NEON) a 2-row panel does. */
    static final int PANEL_ROWS = F.length() >= 16 ? 4 : 2;

    private PanelKernel() {
    }

    /**
     * out[t·outRows + row0 + i] = Σ_c panel[i·cols + c] · x[t·cols + c] for i < panelRows, t < tokens.
     */
    static void multiply(float[] panel, int panelRows, int cols, float[] x, int tokens, float[] out, int outRows, int row0) {
        int t = 0;
        if (panelRows == 4) {
            for (; t + 4 <= tokens; t += 4) block4x4(panel, cols, x, t, out, outRows, row0);
        } else if (panelRows == 2) {
            for (; t + 4 <= tokens; t += 4) block2x4(panel, cols, x, t, out, outRows, row0);
        }
        for (; t < tokens; t++) {
            for (int i = 0; i < panelRows; i++) out[t * outRows + row0 + i] = dot(panel, i * cols, x, t * cols, cols);
        }
    }

    /**
     * {@code acc[ao + c] += Σ_i coefficient[co + i] · panel[i·cols + c]} for i < panelRows: the panel's rows, scaled,
     * added in one pass over the accumulator (each load and store of it shared by all rows of the panel).
     */
    static void accumulateRows(float[] panel, int panelRows, int cols, float[] coefficient, int co, float[] acc, int ao) {
        int c = 0, step = F.length();
        if (panelRows == 4) {
            FloatVector s0 = FloatVector.broadcast(F, coefficient[co]), s1 = FloatVector.broadcast(F, coefficient[co + 1]);
            FloatVector s2 = FloatVector.broadcast(F, coefficient[co + 2]), s3 = FloatVector.broadcast(F, coefficient[co + 3]);
            for (int upper = F.loopBound(cols); c < upper; c += step) {
                FloatVector a = FloatVector.fromArray(F, acc, ao + c);
                a = FloatVector.fromArray(F, panel, c).fma(s0, a);
                a = FloatVector.fromArray(F, panel, cols + c).fma(s1, a);
                a = FloatVector.fromArray(F, panel, 2 * cols + c).fma(s2, a);
                a = FloatVector.fromArray(F, panel, 3 * cols + c).fma(s3, a);
                a.intoArray(acc, ao + c);
            }
        } else if (panelRows == 2) {
            FloatVector s0 = FloatVector.broadcast(F, coefficient[co]), s1 = FloatVector.broadcast(F, coefficient[co + 1]);
            for (int upper = F.loopBound(cols); c < upper; c += step) {
                FloatVector a = FloatVector.fromArray(F, acc, ao + c);
                a = FloatVector.fromArray(F, panel, c).fma(s0, a);
                a = FloatVector.fromArray(F, panel, cols + c).fma(s1, a);
                a.intoArray(acc, ao + c);
            }
        }
        for (int i = 0; i < panelRows; i++) {
            float s = coefficient[co + i];
            for (int k = c; k < cols; k++) acc[ao + k] += s * panel[i * cols + k];
        }
    }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
        int c = 0, step = F.length();
        for (int upper = n - 2 * step; c <= upper; c += 2 * step) {
            acc0 = FloatVector.fromArray(F, a, ao + c).fma(FloatVector.fromArray(F, b, bo + c), acc0);
            acc1 = FloatVector.fromArray(F, a, ao + c + step).fma(FloatVector.fromArray(F, b, bo + c + step), acc1);
        }
        for (int upper = F.loopBound(n); c < upper; c += step) {
            acc0 = FloatVector.fromArray(F, a, ao + c).fma(FloatVector.fromArray(F, b, bo + c), acc0);
        }
        float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; c < n; c++) sum += a[ao + c] * b[bo + c];
        return sum;
    }

    /** Four rows × four tokens: 16 accumulators, each weight load used four times, each activation load four times. */
    private static void block4x4(float[] w, int cols, float[] x, int t, float[] out, int outRows, int row0) {
        int w0 = 0, w1 = cols, w2 = 2 * cols, w3 = 3 * cols;
        int x0 = t * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int c = 0;
        for (int upper = F.loopBound(cols); c < upper; c += F.length()) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + c), v1 = FloatVector.fromArray(F, x, x1 + c);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + c), v3 = FloatVector.fromArray(F, x, x3 + c);
            FloatVector r = FloatVector.fromArray(F, w, w0 + c);
            a00 = r.fma(v0, a00); a01 = r.fma(v1, a01); a02 = r.fma(v2, a02); a03 = r.fma(v3, a03);
            r = FloatVector.fromArray(F, w, w1 + c);
            a10 = r.fma(v0, a10); a11 = r.fma(v1, a11); a12 = r.fma(v2, a12); a13 = r.fma(v3, a13);
            r = FloatVector.fromArray(F, w, w2 + c);
            a20 = r.fma(v0, a20); a21 = r.fma(v1, a21); a22 = r.fma(v2, a22); a23 = r.fma(v3, a23);
            r = FloatVector.fromArray(F, w, w3 + c);
            a30 = r.fma(v0, a30); a31 = r.fma(v1, a31); a32 = r.fma(v2, a32); a33 = r.fma(v3, a33);
        }
        finish(a00, w, w0, x, x0, c, cols, out, t * outRows + row0);
        finish(a01, w, w0, x, x1, c, cols, out, (t + 1) * outRows + row0);
        finish(a02, w, w0, x, x2, c, cols, out, (t + 2) * outRows + row0);
        finish(a03, w, w0, x, x3, c, cols, out, (t + 3) * outRows + row0);
        finish(a10, w, w1, x, x0, c, cols, out, t * outRows + row0 + 1);
        finish(a11, w, w1, x, x1, c, cols, out, (t + 1) * outRows + row0 + 1);
        finish(a12, w, w1, x, x2, c, cols, out, (t + 2) * outRows + row0 + 1);
        finish(a13, w, w1, x, x3, c, cols, out, (t + 3) * outRows + row0 + 1);
        finish(a20, w, w2, x, x0, c, cols, out, t * outRows + row0 + 2);
        finish(a21, w, w2, x, x1, c, cols, out, (t + 1) * outRows + row0 + 2);
        finish(a22, w, w2, x, x2, c, cols, out, (t + 2) * outRows + row0 + 2);
        finish(a23, w, w2, x, x3, c, cols, out, (t + 3) * outRows + row0 + 2);
        finish(a30, w, w3, x, x0, c, cols, out, t * outRows + row0 + 3);
        finish(a31, w, w3, x, x1, c, cols, out, (t + 1) * outRows + row0 + 3);
        finish(a32, w, w3, x, x2, c, cols, out, (t + 2) * outRows + row0 + 3);
        finish(a33, w, w3, x, x3, c, cols, out, (t + 3) * outRows + row0 + 3);
    }

    /** Two rows × four tokens, for 16-register machines. */
    private static void block2x4(float[] w, int cols, float[] x, int t, float[] out, int outRows, int row0) {
        int w0 = 0, w1 = cols;
        int x0 = t * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        int c = 0;
        for (int upper = F.loopBound(cols); c < upper; c += F.length()) {
            FloatVector r0 = FloatVector.fromArray(F, w, w0 + c), r1 = FloatVector.fromArray(F, w, w1 + c);
            FloatVector v = FloatVector.fromArray(F, x, x0 + c);
            a00 = r0.fma(v, a00); a10 = r1.fma(v, a10);
            v = FloatVector.fromArray(F, x, x1 + c);
            a01 = r0.fma(v, a01); a11 = r1.fma(v, a11);
            v = FloatVector.fromArray(F, x, x2 + c);
            a02 = r0.fma(v, a02); a12 = r1.fma(v, a12);
            v = FloatVector.fromArray(F, x, x3 + c);
            a03 = r0.fma(v, a03); a13 = r1.fma(v, a13);
        }
        finish(a00, w, w0, x, x0, c, cols, out, t * outRows + row0);
        finish(a01, w, w0, x, x1, c, cols, out, (t + 1) * outRows + row0);
        finish(a02, w, w0, x, x2, c, cols, out, (t + 2) * outRows + row0);
        finish(a03, w, w0, x, x3, c, cols, out, (t + 3) * outRows + row0);
        finish(a10, w, w1, x, x0, c, cols, out, t * outRows + row0 + 1);
        finish(a11, w, w1, x, x1, c, cols, out, (t + 1) * outRows + row0 + 1);
        finish(a12, w, w1, x, x2, c, cols, out, (t + 2) * outRows + row0 + 1);
        finish(a13, w, w1, x, x3, c, cols, out, (t + 3) * outRows + row0 + 1);
    }

    /** Sums the accumulator's lanes, adds the scalar tail from column {@code from}, and stores the result. */
    private static void finish(FloatVector acc, float[] w, int wo, float[] x, int xo, int from, int cols, float[] out, int at) {
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (int c = from; c < cols; c++) sum += w[wo + c] * x[xo + c];
        out[at] = sum;
    }
}
