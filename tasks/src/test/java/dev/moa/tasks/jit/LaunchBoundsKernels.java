package dev.moa.tasks.jit;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.LaunchBounds;

/** One register-hungry body, as written and under launch bounds that leave it 32 registers a work-item. */
final class LaunchBoundsKernels {
    private LaunchBoundsKernels() {
    }

    static void free(KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        sums(ctx, x, out, n);
    }

    /** Groups of up to 256 work-items, eight resident per SM: 65,536 / 2048 = 32 registers each. */
    @LaunchBounds(groupSize = 256, groupsPerSm = 8)
    static void bounded(KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        sums(ctx, x, out, n);
    }

    /** Twenty-four running sums of a loaded value times 24 coefficients, all live across the loop: {@code out[i] = Σ_j Σ_k x[24 + k]·x[j]}. */
    private static void sums(KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        int i = ctx.globalId();
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f, s4 = 0f, s5 = 0f, s6 = 0f, s7 = 0f, s8 = 0f, s9 = 0f, s10 = 0f, s11 = 0f, s12 = 0f, s13 = 0f, s14 = 0f, s15 = 0f, s16 = 0f, s17 = 0f, s18 = 0f, s19 = 0f, s20 = 0f, s21 = 0f, s22 = 0f, s23 = 0f;
        float a0 = x.get(0), a1 = x.get(1), a2 = x.get(2), a3 = x.get(3), a4 = x.get(4), a5 = x.get(5), a6 = x.get(6), a7 = x.get(7), a8 = x.get(8), a9 = x.get(9), a10 = x.get(10), a11 = x.get(11), a12 = x.get(12), a13 = x.get(13), a14 = x.get(14), a15 = x.get(15), a16 = x.get(16), a17 = x.get(17), a18 = x.get(18), a19 = x.get(19), a20 = x.get(20), a21 = x.get(21), a22 = x.get(22), a23 = x.get(23);
        for (int k = 0; k < n; k++) {
            float v = x.get(24 + k);
            s0 += v * a0;
            s1 += v * a1;
            s2 += v * a2;
            s3 += v * a3;
            s4 += v * a4;
            s5 += v * a5;
            s6 += v * a6;
            s7 += v * a7;
            s8 += v * a8;
            s9 += v * a9;
            s10 += v * a10;
            s11 += v * a11;
            s12 += v * a12;
            s13 += v * a13;
            s14 += v * a14;
            s15 += v * a15;
            s16 += v * a16;
            s17 += v * a17;
            s18 += v * a18;
            s19 += v * a19;
            s20 += v * a20;
            s21 += v * a21;
            s22 += v * a22;
            s23 += v * a23;
        }
        out.set(i, s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9 + s10 + s11 + s12 + s13 + s14 + s15 + s16 + s17 + s18 + s19 + s20 + s21 + s22 + s23);
    }
}
