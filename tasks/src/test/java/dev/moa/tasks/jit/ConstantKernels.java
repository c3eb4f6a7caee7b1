package dev.moa.tasks.jit;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Vec16;

/** Kernels for {@link ConstantsTest}: what the JIT knows to be constant, and where paths meet that it must forget. */
public final class ConstantKernels {
    private ConstantKernels() {
    }

    /**
     * A ternary that is a constant on one path only, into a helper (which would take it for that constant if the
     * join kept the fact), and nested ternaries of constants into a helper dividing by its argument.
     */
    public static void ternaries(KernelContext ctx, I32Buffer in, I32Buffer out, int n) {
        int i = ctx.globalId();
        if (i >= n) return;
        int v = in.get(i);
        out.set(3L * i, identity(v > 0 ? v : 0));
        out.set(3L * i + 1, identity(v > 0 ? 0 : v));
        out.set(3L * i + 2, quotient(v, v > 0 ? 4 : v < -5 ? 2 : 8)); // each a power of two: a shift only where known
    }

    private static int identity(int x) {
        return x;
    }

    private static int quotient(int x, int divisor) {
        return x / divisor;
    }

    /**
     * A loop of four iterations known at compile time, indexing a {@code Vec16} with its counter (which needs a
     * constant: the loop must be unrolled whole, the counter known in each copy), the same through a ternary whose
     * paths both give the copy's counter (each copy's joins are its own), and helpers picking an element with their
     * constant parameter, as it is and computed on.
     */
    public static void constantIndices(KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        int i = ctx.globalId();
        if (i >= n) return;
        Vec16 v = x.load4(4L * i);
        float weighted = 0f, picked = 0f;
        for (int j = 0; j < 4; j++) {
            weighted += v.f32(j) * (j + 1);
            picked += element(v, (i & 1) == 0 ? j : j) * (4 - j);
        }
        out.set(3L * i, weighted);
        out.set(3L * i + 1, element(v, 2) - element(v, 0));
        out.set(3L * i + 2, picked - odd(v, 1));
    }

    private static float element(Vec16 v, int k) {
        return v.f32(k);
    }

    /** Element 2·block + 1: an index computed from a constant parameter (folded to a constant). */
    private static float odd(Vec16 v, int block) {
        return v.f32(2 * block + 1);
    }

    /**
     * A helper choosing its computation by a mode every call passes as a constant (as kernels pass a cache format or a
     * tile variant): each inlined copy keeps only its own path.
     */
    public static void modes(KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        int i = ctx.globalId();
        if (i >= n) return;
        float v = x.get(i);
        out.set(i, byMode(v, 1) + 2f * byMode(v, 0));
    }

    private static float byMode(float v, int mode) {
        if (mode == 1) return (float) Math.sqrt(Math.abs(v));
        if (mode == 0) return v * v;
        return (float) Math.exp(v); // no call passes 2: never in the PTX
    }

    /**
     * Constants the JIT learns from a local assigned once and from a helper returning one: the loop bound is
     * {@code pieces(16) / 2 = 4} through both (so the loop is unrolled whole and its counter indexes a {@code Vec16}),
     * and a test of {@code bound} is decided while translating. A local written twice ({@code twice}) is not taken
     * for its first value.
     */
    public static void derivedConstants(KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        int i = ctx.globalId();
        if (i >= n) return;
        Vec16 v = x.load4(4L * i);
        int bound = pieces(16) / 2;
        float sum = 0f;
        KernelContext.unroll(8);
        for (int j = 0; j < bound; j++) sum += v.f32(j) * (j + 1);
        if (bound > 4) sum = -sum; // never: bound is 4
        int twice = 1;
        if (v.f32(0) > 0f) twice = 2;
        out.set(2L * i, sum);
        out.set(2L * i + 1, v.f32(0) * twice);
    }

    /** {@code dims / 4 * 2}: constant when its argument is. */
    private static int pieces(int dims) {
        int quarter = dims / 4;
        return quarter * 2;
    }
    /**
     * A buffer argument an entry does not have, passed as {@code null} to a helper whose constant {@code into}
     * compiles its use out: out[i] = x[i]·2 (into 0), then a second call writing the same through {@code out} (into 1).
     */
    public static void nullBuffers(KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        int i = ctx.globalId();
        if (i >= n) return;
        store(null, out, 0, i, x.get(i) * 2f);
        store(out, null, 1, i, out.get(i) + 1f);
    }

    /** Writes {@code value} at {@code i} of {@code first} ({@code into} 1) or of {@code second} (0). */
    private static void store(F32Buffer first, F32Buffer second, int into, int i, float value) {
        if (into == 1) first.set(i, value);
        else second.set(i, value);
    }

    /** The same, its {@code into} not a constant: the write through {@code null} is live, which the JIT refuses. */
    public static void liveNullBuffer(KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        int i = ctx.globalId();
        if (i >= n) return;
        store(null, out, n & 1, i, x.get(i));
    }
}
