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
}
