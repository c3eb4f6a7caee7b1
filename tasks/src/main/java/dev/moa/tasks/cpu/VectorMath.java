package dev.moa.tasks.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/** The element-wise and reduction kernels of a transformer layer, on F32 arrays, SIMD with scalar tails. */
public final class VectorMath {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** As many 16-bit lanes as F has floats: one load of BF16 values widens into one float vector. */
    private static final VectorSpecies<Short> H = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    /** F's shape in int lanes: what H widens into (a constant, so C2 compiles the widening to one instruction). */
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());

    private VectorMath() {
    }

    private static volatile boolean warmed;

    /** Gets these kernels compiled by C2 before the first real token (see {@link WeightMatrix#warmUp}). */
    public static void warmUp(int n) {
        if (warmed) return;
        warmed = true;
        float[] a = new float[n], b = new float[n], w = new float[n];
        short[] bf16 = new short[n];
        java.util.Arrays.fill(w, 1f);
        for (int i = 0; i < 2_000; i++) {
            rmsNorm(a, 0, b, 0, w, n, 1e-5f);
            addScaled(a, 0, 0.5f, b, 0, n);
            add(a, 0, b, 0, n);
            dot(a, 0, b, 0, n);
            dot(a, 0, bf16, 0, n);
            addScaled(a, 0, 0.5f, bf16, 0, n);
            scale(a, 0, 0.5f, n);
            siluTimes(a, b, n);
        }
    }

    /** Σ a[ao + i] · b[bo + i] for i < n. */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += a[ao + i] * b[bo + i];
        return sum;
    }

    /** out[oo + i] += s · v[vo + i] for i < n. */
    public static void addScaled(float[] out, int oo, float s, float[] v, int vo, int n) {
        FloatVector scale = FloatVector.broadcast(F, s);
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector o = FloatVector.fromArray(F, out, oo + i);
            FloatVector.fromArray(F, v, vo + i).fma(scale, o).intoArray(out, oo + i);
        }
        for (; i < n; i++) out[oo + i] += s * v[vo + i];
    }

    /**
     * Σ a[ao + i] · b[bo + i] for i < n with b in BF16 bits (a BF16 KV cache's keys): each b widened exactly, then the
     * same products in the same lanes as {@link #dot(float[], int, float[], int, int)} over the widened values.
     */
    public static float dot(float[] a, int ao, short[] b, int bo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            acc = FloatVector.fromArray(F, a, ao + i).fma(widen(b, bo + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += a[ao + i] * bf16(b[bo + i]);
        return sum;
    }

    /** out[oo + i] += s · v[vo + i] for i < n with v in BF16 bits: the F32 version over the widened values. */
    public static void addScaled(float[] out, int oo, float s, short[] v, int vo, int n) {
        FloatVector scale = FloatVector.broadcast(F, s);
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector o = FloatVector.fromArray(F, out, oo + i);
            widen(v, vo + i).fma(scale, o).intoArray(out, oo + i);
        }
        for (; i < n; i++) out[oo + i] += s * bf16(v[vo + i]);
    }

    /** F.length() BF16 values from {@code at}, widened (sign-extend to 32 bits, shift into the upper half: exact). */
    private static FloatVector widen(short[] bits, int at) {
        return (FloatVector) ShortVector.fromArray(H, bits, at).convertShape(VectorOperators.S2I, I, 0)
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static float bf16(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** out[i] += v[i] for i < n (residual connection). */
    public static void add(float[] out, float[] v, int n) {
        add(out, 0, v, 0, n);
    }

    /** out[oo + i] += v[vo + i] for i < n. */
    public static void add(float[] out, int oo, float[] v, int vo, int n) {
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector.fromArray(F, out, oo + i).add(FloatVector.fromArray(F, v, vo + i)).intoArray(out, oo + i);
        }
        for (; i < n; i++) out[oo + i] += v[vo + i];
    }

    /**
     * RMSNorm of one row: out = x / sqrt(mean(x²) + eps) ⊙ weight. The sum of squares is accumulated in
     * F32 lanes, as Hugging Face does in F32.
     */
    public static void rmsNorm(float[] out, int oo, float[] x, int xo, float[] weight, int n, float eps) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, xo + i);
            acc = v.fma(v, acc);
        }
        float ss = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) ss += x[xo + i] * x[xo + i];
        float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
        i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector.fromArray(F, x, xo + i).mul(scale).mul(FloatVector.fromArray(F, weight, i)).intoArray(out, oo + i);
        }
        for (; i < n; i++) out[oo + i] = x[xo + i] * scale * weight[i];
    }

    /**
     * The vector–Jacobian product of {@link #rmsNorm}, added into {@code dx}: with {@code r = 1/sqrt(mean(x²) + eps)}
     * and {@code y = x·r ⊙ w}, {@code dx += r·(w ⊙ dy) − x · r³/n · Σ_i x_i w_i dy_i}.
     */
    public static void rmsNormBackwardAdd(float[] dx, int dxo, float[] x, int xo, float[] weight, float[] dy, int dyo, int n, float eps) {
        double ss = 0, dot = 0;
        for (int i = 0; i < n; i++) {
            double xi = x[xo + i];
            ss += xi * xi;
            dot += xi * weight[i] * dy[dyo + i];
        }
        double r = 1.0 / Math.sqrt(ss / n + eps);
        float a = (float) r, b = (float) (r * r * r * dot / n);
        for (int i = 0; i < n; i++) dx[dxo + i] += a * weight[i] * dy[dyo + i] - b * x[xo + i];
    }

    /**
     * The vector–Jacobian product of {@link #siluTimes} ({@code a = silu(g)·u}): given the pre-activations g, u and
     * the gradient da, writes {@code dg = da·u·silu'(g)} over g and {@code du = da·silu(g)} over u, where
     * {@code silu'(g) = σ(g)·(1 + g·(1 − σ(g)))}.
     */
    public static void siluTimesBackward(float[] gate, float[] up, float[] da, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[i], u = up[i], d = da[i];
            float sigma = 1f / (1f + (float) Math.exp(-g));
            gate[i] = d * u * sigma * (1f + g * (1f - sigma));
            up[i] = d * g * sigma;
        }
    }

    /** In place: x[i] = exp(x[i] − max) / Σ exp(x[j] − max) over x[o .. o+n). */
    public static void softmax(float[] x, int o, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[o + i]);
        float sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(x[o + i] - max);
            x[o + i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        scale(x, o, inv, n);
    }

    /** x[o + i] *= s for i < n. */
    public static void scale(float[] x, int o, float s, int n) {
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector.fromArray(F, x, o + i).mul(s).intoArray(x, o + i);
        }
        for (; i < n; i++) x[o + i] *= s;
    }

    /** SwiGLU: gate[i] = silu(gate[i]) · up[i], with silu(g) = g / (1 + e^−g). */
    public static void siluTimes(float[] gate, float[] up, int n) {
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector g = FloatVector.fromArray(F, gate, i);
            FloatVector silu = g.div(g.neg().lanewise(VectorOperators.EXP).add(1f));
            silu.mul(FloatVector.fromArray(F, up, i)).intoArray(gate, i);
        }
        for (; i < n; i++) gate[i] = gate[i] / (1f + (float) Math.exp(-gate[i])) * up[i];
    }
}
