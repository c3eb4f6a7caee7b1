package dev.moa.tasks.jit;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.KernelContext;

/** Test kernels for shared memory, public so the CUDA backend's tests (another package) launch them too. */
public final class SharedMemoryKernels {
    private SharedMemoryKernels() {
    }

    /** Reverses x through a dynamic shared array (sized by the launch), after a static one it must not overlap. */
    public static void dynamicShared(KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        float[] fixed = ctx.sharedF32(8);
        float[] s = ctx.sharedDynamicF32(n);
        int t = ctx.localId();
        if (t < 8) fixed[t] = -t;
        for (int i = t; i < n; i += ctx.groupSize()) s[i] = x.get(i) * 2f;
        ctx.barrier();
        for (int i = t; i < n; i += ctx.groupSize()) out.set(i, s[n - 1 - i] + fixed[i % 8]);
    }

    /**
     * Two dynamic arrays carved from the launch's memory in call order (n floats, then m ints, sizes known at run time),
     * after a 32 KB static array: reverses x through the first, adds 3·(i mod m) through the second and -(i mod 8)
     * through the static one. Overlapping arrays would clobber each other; static and dynamic together pass 48 KB.
     */
    public static void carvedShared(KernelContext ctx, F32Buffer x, F32Buffer out, int n, int m) {
        float[] fixed = ctx.sharedF32(8192);
        float[] s = ctx.sharedDynamicF32(n);
        int[] k = ctx.sharedDynamicI32(m);
        int t = ctx.localId();
        for (int i = t; i < 8192; i += ctx.groupSize()) fixed[i] = -(i % 8);
        for (int i = t; i < n; i += ctx.groupSize()) s[i] = x.get(i) * 2f;
        for (int i = t; i < m; i += ctx.groupSize()) k[i] = 3 * i;
        ctx.barrier();
        for (int i = t; i < n; i += ctx.groupSize()) out.set(i, s[n - 1 - i] + k[i % m] + fixed[i % 8]);
    }
}
