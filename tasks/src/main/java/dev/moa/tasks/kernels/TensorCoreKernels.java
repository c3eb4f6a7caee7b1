package dev.moa.tasks.kernels;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.MatrixFragments;
import dev.moa.tasks.kernel.Vec16;

/**
 * Tensor cores from Java: the warp-level product {@link KernelContext#mmaBf16} (m16n8k16, BF16 in, F32
 * accumulate) and the fragment loads it needs ({@link MatrixFragments}). {@link #tile} is the building block a
 * tensor-core GEMM repeats over its tiles.
 */
public final class TensorCoreKernels {
    private TensorCoreKernels() {
    }

    /**
     * {@code d = a·b + c} for one 16×16 BF16 tile of A (row-major), one 16×8 BF16 tile of B (column-major: column n
     * at {@code 16n}) and a 16×8 F32 C and D (row-major), by one warp: lane l = 4g + t loads its fragments —
     * A[g][2t..], A[g+8][2t..], A[g][2t+8..], A[g+8][2t+8..]; B[2t..][g], B[2t+8..][g]; C[g][2t, 2t+1],
     * C[g+8][2t, 2t+1] — multiplies on the tensor core and stores its four results of D in C's places. Launch
     * {@code Grid.of(1, 32)}.
     */
    public static void tile(KernelContext ctx, Half16Buffer a, Half16Buffer b, F32Buffer c, F32Buffer d) {
        int lane = ctx.laneId(), g = lane / 4, t = lane % 4;
        Vec16 fragment = Vec16.ofWords(pair(a, g * 16 + 2 * t), pair(a, (g + 8) * 16 + 2 * t), pair(a, g * 16 + 2 * t + 8),
                pair(a, (g + 8) * 16 + 2 * t + 8));
        int b0 = pair(b, g * 16 + 2 * t), b1 = pair(b, g * 16 + 2 * t + 8);
        int top = g * 8 + 2 * t, bottom = (g + 8) * 8 + 2 * t;
        Vec16 acc = Vec16.ofFloats(c.get(top), c.get(top + 1), c.get(bottom), c.get(bottom + 1));
        Vec16 out = ctx.mmaBf16(fragment, b0, b1, acc);
        d.set(top, out.f32(0));
        d.set(top + 1, out.f32(1));
        d.set(bottom, out.f32(2));
        d.set(bottom + 1, out.f32(3));
    }

    /** Two consecutive 16-bit values as one word, the first in the low half (how a fragment register holds them). */
    static int pair(Half16Buffer h, int at) {
        return (h.get(at) & 0xFFFF) | (h.get(at + 1) << 16);
    }
}
