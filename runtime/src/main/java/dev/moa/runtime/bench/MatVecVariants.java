package dev.moa.runtime.bench;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Vec16;

/**
 * Experimental BF16 matvec layouts timed beside {@code MatVecKernels.bf16} by {@code moa kernels --bench}, to choose
 * the decode matvec on a real GPU: the same maths ({@code out[r] = Σ_c w[r, c] · x[c]}, {@code cols} a multiple of
 * 8), different memory-level parallelism. Launch as {@code MatVecKernels.grid(rows)} unless said otherwise.
 */
public final class MatVecVariants {
    private MatVecVariants() {
    }

    /** One warp per row, as the production kernel, with eight 16-byte weight loads in flight per lane instead of four. */
    public static void unroll8(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer out, int rows, int cols) {
        int row = ctx.groupId(0) * 8 + ctx.localId() / KernelContext.WARP;
        int lane = ctx.laneId();
        float sum = 0f;
        if (row < rows) {
            long base = (long) row * cols;
            KernelContext.unroll(8);
            for (int c = lane * 8; c < cols; c += 8 * KernelContext.WARP) {
                Vec16 weights = w.load8(base + c);
                Vec16 x0 = x.load4(c), x1 = x.load4(c + 4);
                sum += weights.bf16(0) * x0.f32(0) + weights.bf16(1) * x0.f32(1) + weights.bf16(2) * x0.f32(2)
                        + weights.bf16(3) * x0.f32(3) + weights.bf16(4) * x1.f32(0) + weights.bf16(5) * x1.f32(1)
                        + weights.bf16(6) * x1.f32(2) + weights.bf16(7) * x1.f32(3);
            }
        }
        for (int mask = 16; mask > 0; mask >>= 1) sum += ctx.shuffleXor(sum, mask);
        if (row < rows && lane == 0) out.set(row, sum);
    }

    /**
     * One warp per two rows (each lane reads the same columns of both, so the activations are loaded once for two
     * rows), four loads of each row in flight. Launch {@code Grid.covering(rows, 16 rows per group)} of 256.
     */
    public static void twoRows(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer out, int rows, int cols) {
        int row = 2 * (ctx.groupId(0) * 8 + ctx.localId() / KernelContext.WARP);
        int lane = ctx.laneId();
        float a = 0f, b = 0f;
        if (row + 1 < rows) {
            long base = (long) row * cols;
            KernelContext.unroll(4);
            for (int c = lane * 8; c < cols; c += 8 * KernelContext.WARP) {
                Vec16 wa = w.load8(base + c), wb = w.load8(base + cols + c);
                Vec16 x0 = x.load4(c), x1 = x.load4(c + 4);
                a += wa.bf16(0) * x0.f32(0) + wa.bf16(1) * x0.f32(1) + wa.bf16(2) * x0.f32(2) + wa.bf16(3) * x0.f32(3)
                        + wa.bf16(4) * x1.f32(0) + wa.bf16(5) * x1.f32(1) + wa.bf16(6) * x1.f32(2) + wa.bf16(7) * x1.f32(3);
                b += wb.bf16(0) * x0.f32(0) + wb.bf16(1) * x0.f32(1) + wb.bf16(2) * x0.f32(2) + wb.bf16(3) * x0.f32(3)
                        + wb.bf16(4) * x1.f32(0) + wb.bf16(5) * x1.f32(1) + wb.bf16(6) * x1.f32(2) + wb.bf16(7) * x1.f32(3);
            }
        } else if (row < rows) {
            long base = (long) row * cols;
            for (int c = lane * 8; c < cols; c += 8 * KernelContext.WARP) {
                Vec16 wa = w.load8(base + c);
                Vec16 x0 = x.load4(c), x1 = x.load4(c + 4);
                a += wa.bf16(0) * x0.f32(0) + wa.bf16(1) * x0.f32(1) + wa.bf16(2) * x0.f32(2) + wa.bf16(3) * x0.f32(3)
                        + wa.bf16(4) * x1.f32(0) + wa.bf16(5) * x1.f32(1) + wa.bf16(6) * x1.f32(2) + wa.bf16(7) * x1.f32(3);
            }
        }
        for (int mask = 16; mask > 0; mask >>= 1) {
            a += ctx.shuffleXor(a, mask);
            b += ctx.shuffleXor(b, mask);
        }
        if (lane == 0 && row < rows) out.set(row, a);
        if (lane == 0 && row + 1 < rows) out.set(row + 1, b);
    }
}
