package dev.moa.tasks.kernels;

import dev.moa.tasks.emulator.Grid;
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

    /** The launch of a matvec over {@code rows} rows: one warp per row, {@value #ROWS_PER_GROUP} rows per group. */
    public static Grid grid(int rows) {
        return Grid.of((rows + ROWS_PER_GROUP - 1) / ROWS_PER_GROUP, GROUP);
    }

    /** Epilogue flag: add {@code bias[r]} to row r. */
    public static final int BIAS = 1;
    /** Epilogue flag: add to what {@code out[r]} holds (a residual connection) instead of overwriting it. */
    public static final int ACCUMULATE = 2;

    /**
     * {@code out[r] = Σ_c w[r, c] · x[c]} with BF16 weights ({@code rows × cols}, row-major). One warp per row:
     * each lane accumulates a strided share of the row — eight weights (and four + four activations) per 16-byte
     * load when {@code cols} is a multiple of 8 (rows then start 16-byte aligned), one per load otherwise — then a
     * shuffle reduction sums the lanes. Launch {@code Grid.covering(rows, ROWS_PER_GROUP)} groups of {@value #GROUP}.
     */
    public static void bf16(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer out, int rows, int cols) {
        bf16Into(ctx, w, x, out, out, rows, cols, 0);
    }

    /**
     * As {@link #bf16}, with an epilogue: {@code out[r] = (ACCUMULATE ? out[r] : 0) + w[r]·x + (BIAS ? bias[r] : 0)},
     * so a projection, its bias and the residual add are one launch. Lane 0 of the row's warp owns {@code out[r]}.
     * {@code bias} is not read without {@link #BIAS} (any buffer will do then).
     */
    public static void bf16Into(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int rows,
                                int cols, int epilogue) {
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
        store(ctx, warpSum(ctx, sum), bias, out, row, rows, epilogue);
    }

    /** As {@link #bf16} with IEEE half weights. */
    public static void f16(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer out, int rows, int cols) {
        f16Into(ctx, w, x, out, out, rows, cols, 0);
    }

    /** As {@link #bf16Into} with IEEE half weights. */
    public static void f16Into(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int rows,
                               int cols, int epilogue) {
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
        store(ctx, warpSum(ctx, sum), bias, out, row, rows, epilogue);
    }

    /**
     * As {@link #bf16Into} with F32 weights: four weights and four activations per 16-byte load when {@code cols} is
     * a multiple of 4, one per load otherwise.
     */
    public static void f32Into(KernelContext ctx, F32Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int rows,
                               int cols, int epilogue) {
        int row = ctx.groupId(0) * ROWS_PER_GROUP + ctx.localId() / KernelContext.WARP;
        int lane = ctx.laneId();
        float sum = 0f;
        if (row < rows) {
            long base = (long) row * cols;
            if (cols % 4 == 0) {
                KernelContext.unroll(4);
                for (int c = lane * 4; c < cols; c += 4 * KernelContext.WARP) {
                    Vec16 weights = w.load4(base + c);
                    Vec16 x0 = x.load4(c);
                    sum += weights.f32(0) * x0.f32(0) + weights.f32(1) * x0.f32(1) + weights.f32(2) * x0.f32(2) + weights.f32(3) * x0.f32(3);
                }
            } else {
                KernelContext.unroll(4);
                for (int c = lane; c < cols; c += KernelContext.WARP) sum += w.get(base + c) * x.get(c);
            }
        }
        store(ctx, warpSum(ctx, sum), bias, out, row, rows, epilogue);
    }

    /** Lane 0 of the row's warp writes the row's result through the epilogue. */
    static void store(KernelContext ctx, float sum, F32Buffer bias, F32Buffer out, int row, int rows, int epilogue) {
        if (row < rows && ctx.laneId() == 0) {
            float value = sum;
            if ((epilogue & BIAS) != 0) value += bias.get(row);
            if ((epilogue & ACCUMULATE) != 0) value += out.get(row);
            out.set(row, value);
        }
    }

    /** Maximum over the warp's 32 lanes, valid in every lane (butterfly). */
    static float warpMax(KernelContext ctx, float value) {
        for (int mask = 16; mask > 0; mask >>= 1) value = Math.max(value, ctx.shuffleXor(value, mask));
        return value;
    }

    /** Sum over the warp's 32 lanes, valid in lane 0 (butterfly: valid in every lane). */
    static float warpSum(KernelContext ctx, float value) {
        for (int mask = 16; mask > 0; mask >>= 1) value += ctx.shuffleXor(value, mask);
        return value;
    }
}
