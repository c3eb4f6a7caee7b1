package dev.moa.tasks.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Each vector kernel against the plain formula, at lengths around every SIMD width so tails are covered. */
class VectorMathTest {
    private static final int[] LENGTHS = {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257};

    private static float[] random(Random r, int n, int pad) {
        float[] a = new float[n + pad];
        for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    /**
     * BF16 operands (a BF16 KV cache's keys and values, negative values included: the widening must not sign-extend
     * into the float) give what the F32 kernels give over the widened values, at every offset and tail: the same
     * products in the same lanes (the last bit may move: a lane sum's order can differ between compilation tiers).
     */
    @Test
    void bf16OperandsAreTheF32KernelsOverTheWidenedValues() {
        Random r = new Random(2);
        for (int n : LENGTHS) {
            float[] a = random(r, n, 5);
            short[] bits = new short[n + 3];
            float[] widened = new float[n + 3];
            for (int i = 0; i < bits.length; i++) {
                bits[i] = dev.moa.tasks.kernel.KernelContext.floatToBf16((float) r.nextGaussian() * 8);
                widened[i] = dev.moa.tasks.kernel.KernelContext.bf16ToFloat(bits[i]);
            }
            float dot = VectorMath.dot(a, 2, widened, 1, n);
            assertEquals(dot, VectorMath.dot(a, 2, bits, 1, n), 1e-6 * Math.max(1, Math.abs(dot)) * n, "dot, n = " + n);
            float[] out = random(r, n, 4), copy = out.clone();
            VectorMath.addScaled(out, 4, -0.75f, bits, 3, n);
            VectorMath.addScaled(copy, 4, -0.75f, widened, 3, n);
            org.junit.jupiter.api.Assertions.assertArrayEquals(copy, out, "addScaled, n = " + n);
        }
    }

    @Test
    void dotAddScaledAddScale() {
        Random r = new Random(1);
        for (int n : LENGTHS) {
            float[] a = random(r, n, 5), b = random(r, n, 3);
            double expected = 0;
            for (int i = 0; i < n; i++) expected += (double) a[i + 2] * b[i + 1];
            assertEquals(expected, VectorMath.dot(a, 2, b, 1, n), 1e-5 * n);

            float[] out = random(r, n, 4), copy = out.clone();
            VectorMath.addScaled(out, 4, 0.5f, b, 0, n);
            for (int i = 0; i < n; i++) assertEquals(copy[i + 4] + 0.5f * b[i], out[i + 4], 1e-6);
            for (int i = 0; i < 4; i++) assertEquals(copy[i], out[i]);

            out = copy.clone();
            VectorMath.add(out, 1, b, 2, n);
            for (int i = 0; i < n; i++) assertEquals(copy[i + 1] + b[i + 2], out[i + 1], 1e-6);

            out = copy.clone();
            VectorMath.scale(out, 0, 3f, n);
            for (int i = 0; i < n; i++) assertEquals(copy[i] * 3f, out[i], 1e-6);
        }
    }

    @Test
    void rmsNormMatchesFormula() {
        Random r = new Random(2);
        for (int n : LENGTHS) {
            float[] x = random(r, n, 3), w = random(r, n, 0), out = new float[n + 1];
            VectorMath.rmsNorm(out, 1, x, 3, w, n, 1e-5f);
            double ss = 0;
            for (int i = 0; i < n; i++) ss += (double) x[i + 3] * x[i + 3];
            double inv = 1 / Math.sqrt(ss / n + 1e-5);
            for (int i = 0; i < n; i++) assertEquals(x[i + 3] * inv * w[i], out[i + 1], 1e-5);
        }
    }

    @Test
    void softmaxSumsToOneAndMatches() {
        Random r = new Random(3);
        for (int n : LENGTHS) {
            float[] x = random(r, n, 2);
            for (int i = 0; i < x.length; i++) x[i] *= 10;
            float[] copy = x.clone();
            VectorMath.softmax(x, 2, n);
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int i = 0; i < n; i++) max = Math.max(max, copy[i + 2]);
            for (int i = 0; i < n; i++) sum += Math.exp(copy[i + 2] - max);
            for (int i = 0; i < n; i++) assertEquals(Math.exp(copy[i + 2] - max) / sum, x[i + 2], 1e-6);
        }
    }

    @Test
    void siluTimesMatchesFormula() {
        Random r = new Random(4);
        for (int n : LENGTHS) {
            float[] g = random(r, n, 0), u = random(r, n, 0), copy = g.clone();
            for (int i = 0; i < n; i++) g[i] *= 8;
            for (int i = 0; i < n; i++) copy[i] = g[i];
            VectorMath.siluTimes(g, u, n);
            for (int i = 0; i < n; i++) {
                double silu = copy[i] / (1 + Math.exp(-copy[i]));
                assertEquals(silu * u[i], g[i], 1e-5 * Math.max(1, Math.abs(silu * u[i])));
            }
        }
    }

    /**
     * Central finite differences of the forward kernel (F32) along random directions against the vector–Jacobian
     * products: {@code u·J·v ≈ u·(f(x + hv) − f(x − hv))/2h}. With h = 1e-2 the F32 rounding of f (≈1e-7 relative)
     * contributes ~1e-5 and the truncation h² terms ~1e-4, so 2e-3 relative is a justified tolerance.
     */
    @Test
    void rmsNormBackwardMatchesFiniteDifferences() {
        Random r = new Random(5);
        for (int n : LENGTHS) {
            float[] x = random(r, n, 0), w = random(r, n, 0), u = random(r, n, 0), v = random(r, n, 0);
            float[] dx = new float[n + 2];
            dx[0] = 9; // the gradient is added, not written
            VectorMath.rmsNormBackwardAdd(dx, 1, x, 0, w, u, 0, n, 1e-5f);
            assertEquals(9, dx[0]);
            double analytic = 0;
            for (int i = 0; i < n; i++) analytic += dx[1 + i] * v[i];
            double h = 1e-2, numeric = (project(x, v, h, u, w) - project(x, v, -h, u, w)) / (2 * h);
            assertEquals(numeric, analytic, 2e-3 * (1 + Math.abs(numeric)), "n = " + n);
        }
    }

    private static double project(float[] x, float[] v, double h, float[] u, float[] w) {
        int n = u.length;
        float[] shifted = new float[n], y = new float[n];
        for (int i = 0; i < n; i++) shifted[i] = (float) (x[i] + h * v[i]);
        VectorMath.rmsNorm(y, 0, shifted, 0, w, n, 1e-5f);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += (double) u[i] * y[i];
        return sum;
    }

    @Test
    void siluTimesBackwardMatchesFiniteDifferences() {
        Random r = new Random(6);
        for (int n : LENGTHS) {
            float[] g = random(r, n, 0), up = random(r, n, 0), da = random(r, n, 0);
            float[] dg = g.clone(), du = up.clone();
            VectorMath.siluTimesBackward(dg, du, da, n);
            for (int i = 0; i < n; i++) {
                double h = 1e-2;
                double byGate = (silu(g[i] + h) * up[i] - silu(g[i] - h) * up[i]) / (2 * h) * da[i];
                double byUp = silu(g[i]) * da[i];
                assertEquals(byGate, dg[i], 2e-3 * (1 + Math.abs(byGate)));
                assertEquals(byUp, du[i], 1e-5 * (1 + Math.abs(byUp)));
            }
        }
    }

    private static double silu(double g) {
        float[] a = {(float) g}, one = {1f};
        VectorMath.siluTimes(a, one, 1);
        return a[0];
    }
}
