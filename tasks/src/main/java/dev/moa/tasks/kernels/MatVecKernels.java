package dev.moa.tasks.kernels;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Vec16;

/** Matrix-vector products for decode: the weights dominate the traffic, so each row is read exactly once. */
public final class MatVecKernels {
    /** Work-items per group: 8 warps, one output row each. */
    public static final int GROUP = 256;
    public static final int ROWS_PER_GROUP = GROUP / KernelContext.WARP;

    private MatVecKernels() {
    }

    /**
     * {@code out[r] = Σ_c w[r, c] · x[c]} with BF16 weights ({@code rows × cols}, row-major). One warp per row:
     * each lane accumulates a strided share of the row — eight weights (and four + four activations) per 16-byte
     * load when {@code cols} is a multiple of 8 (rows then start 16-byte aligned), one per load otherwise — then a
     * shuffle reduction sums the lanes. Launch {@code Grid.covering(rows, ROWS_PER_GROUP)} groups of {@value #GROUP}.
     */
    public static void bf16(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer out, int rows, int cols) {
        int row = ctx.groupId(0) * ROWS_PER_GROUP + ctx.localId() / KernelContext.WARP;
        int lane = ctx.laneId();
        float sum = 0f;
        if (row < rows) {
            long base = (long) row * cols;
            if (cols % 8 == 0) {
                KernelContext.unroll(4); // four 16-byte weight loads in flight per lane hide the memory latency
                for (int c = lane * 8; c < cols; c += 8 * KernelContext.WARP) {
                    Vec16 weights = w.load8(base + c);
                    Vec16 x0 = x.load4(c), x1 = x.load4(c + 4);
                    sum += weights.bf16(0) * x0.f32(0) + weights.bf16(1) * x0.f32(1) + weights.bf16(2) * x0.f32(2)
                            + weights.bf16(3) * x0.f32(3) + weights.bf16(4) * x1.f32(0) + weights.bf16(5) * x1.f32(1)
                            + weights.bf16(6) * x1.f32(2) + weights.bf16(7) * x1.f32(3);
                }
            } else {
                KernelContext.unroll(4);
                for (int c = lane; c < cols; c += KernelContext.WARP) sum += KernelContext.bf16ToFloat(w.get(base + c)) * x.get(c);
            }
        }
        sum = warpSum(ctx, sum);
        if (row < rows && lane == 0) out.set(row, sum);
    }

    /** As {@link #bf16} with IEEE half weights. */
    public static void f16(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer out, int rows, int cols) {
        int row = ctx.groupId(0) * ROWS_PER_GROUP + ctx.localId() / KernelContext.WARP;
        int lane = ctx.laneId();
        float sum = 0f;
        if (row < rows) {
            long base = (long) row * cols;
            if (cols % 8 == 0) {
                KernelContext.unroll(4); // four 16-byte weight loads in flight per lane hide the memory latency
                for (int c = lane * 8; c < cols; c += 8 * KernelContext.WARP) {
                    Vec16 weights = w.load8(base + c);
                    Vec16 x0 = x.load4(c), x1 = x.load4(c + 4);
                    sum += weights.f16(0) * x0.f32(0) + weights.f16(1) * x0.f32(1) + weights.f16(2) * x0.f32(2)
                            + weights.f16(3) * x0.f32(3) + weights.f16(4) * x1.f32(0) + weights.f16(5) * x1.f32(1)
                            + weights.f16(6) * x1.f32(2) + weights.f16(7) * x1.f32(3);
                }
            } else {
                KernelContext.unroll(4);
                for (int c = lane; c < cols; c += KernelContext.WARP) sum += KernelContext.f16ToFloat(w.get(base + c)) * x.get(c);
            }
        }
        sum = warpSum(ctx, sum);
        if (row < rows && lane == 0) out.set(row, sum);
    }

    /** Sum over the warp's 32 lanes, valid in lane 0 (butterfly: valid in every lane). */
    static float warpSum(KernelContext ctx, float value) {
        for (int mask = 16; mask > 0; mask >>= 1) value += ctx.shuffleXor(value, mask);
        return value;
    }
}
