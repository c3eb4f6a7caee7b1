package dev.moa.tasks.kernels;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;

/** Matrix-vector products for decode: the weights dominate the traffic, so each row is read exactly once. */
public final class MatVecKernels {
    /** Work-items per group: 8 warps, one output row each. */
    public static final int GROUP = 256;
    public static final int ROWS_PER_GROUP = GROUP / KernelContext.WARP;

    private MatVecKernels() {
    }

    /**
     * {@code out[r] = Σ_c w[r, c] · x[c]} with BF16 weights ({@code rows × cols}, row-major). One warp per row:
     * each lane accumulates a strided share of the row — four weights per 8-byte load when {@code cols} is a
     * multiple of 4 (rows then start 8-byte aligned), one per load otherwise — then a shuffle reduction sums the
     * lanes. Launch {@code Grid.covering(rows, ROWS_PER_GROUP)} groups of {@value #GROUP}.
     */
    public static void bf16(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer out, int rows, int cols) {
        int row = ctx.groupId(0) * ROWS_PER_GROUP + ctx.localId() / KernelContext.WARP;
        int lane = ctx.laneId();
        float sum = 0f;
        if (row < rows) {
            long base = (long) row * cols;
            if (cols % 4 == 0) {
                for (int c = lane * 4; c < cols; c += 4 * KernelContext.WARP) {
                    long four = w.get4(base + c);
                    sum += KernelContext.bf16ToFloat((short) four) * x.get(c)
                            + KernelContext.bf16ToFloat((short) (four >>> 16)) * x.get(c + 1)
                            + KernelContext.bf16ToFloat((short) (four >>> 32)) * x.get(c + 2)
                            + KernelContext.bf16ToFloat((short) (four >>> 48)) * x.get(c + 3);
                }
            } else {
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
            if (cols % 4 == 0) {
                for (int c = lane * 4; c < cols; c += 4 * KernelContext.WARP) {
                    long four = w.get4(base + c);
                    sum += KernelContext.f16ToFloat((short) four) * x.get(c)
                            + KernelContext.f16ToFloat((short) (four >>> 16)) * x.get(c + 1)
                            + KernelContext.f16ToFloat((short) (four >>> 32)) * x.get(c + 2)
                            + KernelContext.f16ToFloat((short) (four >>> 48)) * x.get(c + 3);
                }
            } else {
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
