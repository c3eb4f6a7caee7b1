package dev.moa.tasks.jit;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;

/** Test kernels around {@link KernelContext#awaitPriorKernels}: one that keeps the rule, one that breaks it. */
public final class DependentLaunchKernels {
    private DependentLaunchKernels() {
    }

    /** {@code out[i] = x[i] + w[i]}: the weights' lines prefetched first, everything read after the wait. */
    public static void prefetchThenWait(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer out, int n) {
        int i = ctx.globalId();
        if (i < n && i % 64 == 0) ctx.prefetchL2(w, i);
        ctx.awaitPriorKernels();
        if (i < n) out.set(i, x.get(i) + KernelContext.bf16ToFloat(w.get(i)));
    }

    /** Work-items past {@code n} return before the wait: with n = 0 the whole grid does. */
    public static void returnsBeforeWaiting(KernelContext ctx, F32Buffer out, int n) {
        int i = ctx.globalId();
        if (i >= n) return;
        ctx.awaitPriorKernels();
        out.set(i, 1f);
    }

    /** Wrong: reads {@code x} before the wait, which on the GPU may run while the previous kernel still writes it. */
    public static void readsBeforeWaiting(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer out, int n) {
        int i = ctx.globalId();
        float v = i < n ? x.get(i) : 0f;
        ctx.awaitPriorKernels();
        if (i < n) out.set(i, v + KernelContext.bf16ToFloat(w.get(i)));
    }
}
