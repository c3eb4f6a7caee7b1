package dev.moa.tasks.kernels;

import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Specialize;
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
        return grid(rows, 1);
    }

    /** The launch of a 16-bit matvec over {@code rows} rows whose columns {@code parts} warps share ({@link #parts}). */
    public static Grid grid(int rows, int parts) {
        int rowsPerGroup = ROWS_PER_GROUP / checkParts(parts);
        return Grid.of((rows + rowsPerGroup - 1) / rowsPerGroup, GROUP);
    }

    /**
     * The most warps sharing rows ({@link #parts}) brings a one-vector matvec to: {@value} is 62 a streaming
     * multiprocessor of a 132-SM H100 or H200, each with its lanes' 16-byte loads outstanding, as many as its
     * registers leave resident. A matrix of few rows (a 1B model's output and down projections: 2048) has, at a warp a
     * row, a dozen or so warps an SM, each walking a long row in a chain of dependent round trips to memory; sharing
     * each row's columns among more warps puts more of its bytes in flight at once and shortens the chains.
     */
    static final int WARPS_IN_FLIGHT = 8192;

    /**
     * How many warps share each row's columns in {@link #bf16Into}/{@link #f16Into} over a {@code rows × cols} matrix:
     * the largest power of two up to {@value #ROWS_PER_GROUP} (a group's warps) that keeps the warps within
     * {@link #WARPS_IN_FLIGHT} and leaves each lane at least four 16-byte loads of its share (the loop's unrolled
     * copies: all in flight at once; rows whose columns are not whole 16-byte loads take one warp). 1 for a matrix of
     * many rows (the output head, gate/up), 2 for 2048 rows of 2048 columns, 4 for 2048 rows of 8192.
     */
    public static int parts(int rows, int cols) {
        int parts = 1;
        while (parts < ROWS_PER_GROUP && cols % 8 == 0 && 2L * parts * rows <= WARPS_IN_FLIGHT && cols >= 4 * (2 * parts) * 8 * KernelContext.WARP) {
            parts *= 2;
        }
        return parts;
    }

    /** Epilogue flag: add {@code bias[r]} to row r. */
    public static final int BIAS = 1;
    /** Epilogue flag: add to what {@code out[r]} holds (a residual connection) instead of overwriting it. */
    public static final int ACCUMULATE = 2;
    /**
     * Launch flag of the 16-bit matvecs, with the epilogue's: before {@link KernelContext#awaitPriorKernels} ask the
     * L2 for the whole matrix, each warp its run of its row (without it: the first {@link #PREFETCH_BYTES} of the
     * run). For matrices that fit the L2 with room to spare and follow a kernel that leaves the memory idle
     * ({@link #prefetchesWhole}). (8: {@code NormedMatVecKernels.GLU} is 4.)
     */
    public static final int PREFETCH_WHOLE = 8;

    /**
     * {@code out[r] = Σ_c w[r, c] · x[c]} with BF16 weights ({@code rows × cols}, row-major). One warp per row:
     * each lane accumulates a strided share of the row — eight weights (and four + four activations) per 16-byte
     * load when {@code cols} is a multiple of 8 (rows then start 16-byte aligned), one per load otherwise — then a
     * shuffle reduction sums the lanes. Launch {@code Grid.covering(rows, ROWS_PER_GROUP)} groups of {@value #GROUP}.
     */
    public static void bf16(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer out, int rows, @Specialize int cols) {
        bf16Into(ctx, w, x, out, out, rows, cols, 0, 1);
    }

    /**
     * As {@link #bf16}, with an epilogue: {@code out[r] = (ACCUMULATE ? out[r] : 0) + w[r]·x + (BIAS ? bias[r] : 0)},
     * so a projection, its bias and the residual add are one launch; and with each row's columns shared by {@code parts}
     * adjacent warps of a group (1, 2, 4 or 8; {@link #parts}), warp k of a row taking the k-th of as many runs of whole
     * 16-byte loads, its sum added to the row's other warps' in shared memory in warp order. Lane 0 of the
     * row's first warp owns {@code out[r]}. {@code bias} is not read without {@link #BIAS} (any buffer will do then).
     * Launch {@link #grid(int, int)}.
     */
    public static void bf16Into(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int rows,
                                @Specialize int cols, @Specialize int epilogue, @Specialize int parts) {
        halfInto(ctx, w, x, bias, out, rows, cols, epilogue, 0, parts);
    }

    /** As {@link #bf16} with IEEE half weights. */
    public static void f16(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer out, int rows, @Specialize int cols) {
        f16Into(ctx, w, x, out, out, rows, cols, 0, 1);
    }

    /** As {@link #bf16Into} with IEEE half weights. */
    public static void f16Into(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int rows,
                               @Specialize int cols, @Specialize int epilogue, @Specialize int parts) {
        halfInto(ctx, w, x, bias, out, rows, cols, epilogue, 1, parts);
    }

    /**
     * The body of {@link #bf16Into} and {@link #f16Into}: 16-bit weights widened as BF16 ({@code ieee} = 0) or IEEE
     * half; each kernel passes its constant, so each compiles to its own widening alone.
     */
    private static void halfInto(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int rows, int cols, int epilogue,
                                 int ieee, int parts) {
        float[] shares = ctx.sharedF32(ROWS_PER_GROUP); // each warp's sum, where a row's columns are shared by warps
        int warp = ctx.localId() / KernelContext.WARP, part = warp % parts;
        int row = ctx.groupId(0) * (ROWS_PER_GROUP / parts) + warp / parts;
        int lane = ctx.laneId();
        int from = partStart(cols, parts, part), to = partEnd(cols, parts, part); // this warp's columns
        if (row < rows && (epilogue & PREFETCH_WHOLE) != 0) prefetchRun(ctx, w, (long) row * cols + from, to - from);
        else if (row < rows) prefetchRow(ctx, w, (long) row * cols + from, to - from);
        ctx.awaitPriorKernels();
        float sum = 0f;
        if (row < rows) {
            long base = (long) row * cols;
            if (cols % 8 == 0) {
                KernelContext.unroll(4); // four 16-byte weight loads in flight per lane hide the memory latency
                for (int c = from + lane * 8; c < to; c += 8 * KernelContext.WARP) {
                    Vec16 weights = w.load8Once(base + c); // (read once: the L1 keeps x, which every warp reads whole)
                    Vec16 x0 = x.load4(c), x1 = x.load4(c + 4);
                    sum += NormedMatVecKernels.widen(weights.word(0), 0, ieee) * x0.f32(0) + NormedMatVecKernels.widen(weights.word(0), 1, ieee) * x0.f32(1)
                            + NormedMatVecKernels.widen(weights.word(1), 0, ieee) * x0.f32(2) + NormedMatVecKernels.widen(weights.word(1), 1, ieee) * x0.f32(3)
                            + NormedMatVecKernels.widen(weights.word(2), 0, ieee) * x1.f32(0) + NormedMatVecKernels.widen(weights.word(2), 1, ieee) * x1.f32(1)
                            + NormedMatVecKernels.widen(weights.word(3), 0, ieee) * x1.f32(2) + NormedMatVecKernels.widen(weights.word(3), 1, ieee) * x1.f32(3);
                }
            } else {
                KernelContext.unroll(4);
                for (int c = from + lane; c < to; c += KernelContext.WARP) sum += NormedMatVecKernels.widen(w.get(base + c), 0, ieee) * x.get(c);
            }
        }
        sum = ctx.warpSum(sum);
        if (parts > 1) { // the row's warps' sums
            if (lane == 0) shares[warp] = sum;
            ctx.barrier();
            sum = partsSum(shares, 1, 0, warp - part, parts);
        }
        if (part == 0) store(ctx, sum, bias, out, row, rows, epilogue);
    }

    /**
     * As {@link #bf16Into} with F32 weights: four weights and four activations per 16-byte load when {@code cols} is
     * a multiple of 4, one per load otherwise.
     */
    public static void f32Into(KernelContext ctx, F32Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int rows,
                               @Specialize int cols, @Specialize int epilogue) {
        ctx.awaitPriorKernels();
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
        store(ctx, ctx.warpSum(sum), bias, out, row, rows, epilogue);
    }

    /** Activation vectors one warp of the batched matvecs multiplies a weight row with: the sums a lane keeps. */
    public static final int BATCH_PASS = 4;

    /**
     * The launch of a batched matvec over {@code rows} rows and {@code batch} activation vectors: per
     * {@value #ROWS_PER_GROUP} rows, one group for each pass of {@value #BATCH_PASS} vectors, the passes of a row
     * next to each other (so the weights a pass re-reads are still in L2).
     */
    public static Grid batchGrid(int rows, int batch) {
        return batchGrid(rows, batch, 1);
    }

    /** {@link #batchGrid(int, int)} of {@link #halfBatchInto} with each row's columns shared by {@code parts} warps. */
    public static Grid batchGrid(int rows, int batch, int parts) {
        int passes = (batch + BATCH_PASS - 1) / BATCH_PASS, rowsPerGroup = ROWS_PER_GROUP / checkParts(parts);
        return Grid.of((rows + rowsPerGroup - 1) / rowsPerGroup * passes, GROUP);
    }

    /** {@link #parts} for {@link #halfBatchInto} over {@code batch} vectors: a warp for each pass of a row's share. */
    public static int batchParts(int rows, int cols, int batch) {
        return parts(rows * ((batch + BATCH_PASS - 1) / BATCH_PASS), cols);
    }

    /**
     * {@code out[v, r] (+)= Σ_c w[r, c] · x[v, c] (+ bias[r])} for {@code batch} activation vectors v (rows of
     * {@code x}, {@code cols} floats each; {@code out} rows of {@code rows}): a matvec that reads each weight once for
     * up to {@value #BATCH_PASS} vectors, BF16 weights ({@code ieee} = 0) or IEEE half ({@code ieee} = 1). One warp
     * per (row, pass of {@value #BATCH_PASS} vectors): each lane loads eight weights per 16-byte load when {@code cols}
     * is a multiple of 8 (one otherwise), widens them once and multiplies them with each vector of the pass; shuffle
     * reductions sum the lanes, lane 0 writes through the epilogue of {@link #bf16Into}. With {@code parts} warps
     * sharing each row's columns ({@link #batchParts}), as in {@link #bf16Into}: the row's warps add their four sums in
     * shared memory in warp order. Launch {@link #batchGrid(int, int, int)}{@code (rows, batch, parts)} groups of
     * {@value #GROUP}.
     */
    public static void halfBatchInto(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int rows,
                                     @Specialize int cols, int batch, @Specialize int epilogue, @Specialize int ieee, @Specialize int parts) {
        float[] shares = ctx.sharedF32(BATCH_PASS * ROWS_PER_GROUP); // each warp's four sums, where rows are shared by warps
        int passes = (batch + BATCH_PASS - 1) / BATCH_PASS;
        int pass = ctx.groupId(0) % passes;
        int warp = ctx.localId() / KernelContext.WARP, part = warp % parts;
        int row = ctx.groupId(0) / passes * (ROWS_PER_GROUP / parts) + warp / parts;
        int lane = ctx.laneId();
        int v = pass * BATCH_PASS, n = Math.min(BATCH_PASS, batch - v);
        long x0 = (long) v * cols, x1 = x0 + (n > 1 ? cols : 0), x2 = x0 + (n > 2 ? 2L * cols : 0), x3 = x0 + (n > 3 ? 3L * cols : 0);
        int from = partStart(cols, parts, part), to = partEnd(cols, parts, part); // this warp's columns
        if (row < rows && (epilogue & PREFETCH_WHOLE) != 0) prefetchRun(ctx, w, (long) row * cols + from, to - from);
        else if (row < rows) prefetchRow(ctx, w, (long) row * cols + from, to - from);
        ctx.awaitPriorKernels();
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        if (row < rows) {
            long base = (long) row * cols;
            if (cols % 8 == 0) {
                KernelContext.unroll(4);
                for (int c = from + lane * 8; c < to; c += 8 * KernelContext.WARP) {
                    Vec16 wv = w.load8Once(base + c);
                    // Vec16's element index must be a constant for the JIT: each element widened by name
                    float w0 = ieee != 0 ? wv.f16(0) : wv.bf16(0), w1 = ieee != 0 ? wv.f16(1) : wv.bf16(1);
                    float w2 = ieee != 0 ? wv.f16(2) : wv.bf16(2), w3 = ieee != 0 ? wv.f16(3) : wv.bf16(3);
                    float w4 = ieee != 0 ? wv.f16(4) : wv.bf16(4), w5 = ieee != 0 ? wv.f16(5) : wv.bf16(5);
                    float w6 = ieee != 0 ? wv.f16(6) : wv.bf16(6), w7 = ieee != 0 ? wv.f16(7) : wv.bf16(7);
                    s0 += dot8(w0, w1, w2, w3, w4, w5, w6, w7, x, x0 + c);
                    s1 += dot8(w0, w1, w2, w3, w4, w5, w6, w7, x, x1 + c); // vectors past the batch re-read vector v
                    s2 += dot8(w0, w1, w2, w3, w4, w5, w6, w7, x, x2 + c);
                    s3 += dot8(w0, w1, w2, w3, w4, w5, w6, w7, x, x3 + c);
                }
            } else {
                KernelContext.unroll(4);
                for (int c = from + lane; c < to; c += KernelContext.WARP) {
                    short bits = w.get(base + c);
                    float wc = ieee != 0 ? KernelContext.f16ToFloat(bits) : KernelContext.bf16ToFloat(bits);
                    s0 += wc * x.get(x0 + c);
                    s1 += wc * x.get(x1 + c);
                    s2 += wc * x.get(x2 + c);
                    s3 += wc * x.get(x3 + c);
                }
            }
        }
        s0 = ctx.warpSum(s0);
        s1 = ctx.warpSum(s1);
        s2 = ctx.warpSum(s2);
        s3 = ctx.warpSum(s3);
        if (parts > 1) { // the row's warps' sums
            if (lane == 0) KernelContext.store4(shares, BATCH_PASS * warp, Vec16.ofFloats(s0, s1, s2, s3)); // one 16-byte store
            ctx.barrier();
            s0 = partsSum(shares, BATCH_PASS, 0, warp - part, parts);
            s1 = partsSum(shares, BATCH_PASS, 1, warp - part, parts);
            s2 = partsSum(shares, BATCH_PASS, 2, warp - part, parts);
            s3 = partsSum(shares, BATCH_PASS, 3, warp - part, parts);
        }
        if (part == 0) storeBatch(ctx, s0, s1, s2, s3, bias, out, row, rows, v, n, epilogue);
    }

    /** As {@link #halfBatchInto} with F32 weights: four weights per 16-byte load when {@code cols} is a multiple of 4. */
    public static void f32BatchInto(KernelContext ctx, F32Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int rows,
                                    @Specialize int cols, int batch, @Specialize int epilogue) {
        ctx.awaitPriorKernels();
        int passes = (batch + BATCH_PASS - 1) / BATCH_PASS;
        int pass = ctx.groupId(0) % passes;
        int row = ctx.groupId(0) / passes * ROWS_PER_GROUP + ctx.localId() / KernelContext.WARP;
        int lane = ctx.laneId();
        int v = pass * BATCH_PASS, n = Math.min(BATCH_PASS, batch - v);
        long x0 = (long) v * cols, x1 = x0 + (n > 1 ? cols : 0), x2 = x0 + (n > 2 ? 2L * cols : 0), x3 = x0 + (n > 3 ? 3L * cols : 0);
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        if (row < rows) {
            long base = (long) row * cols;
            if (cols % 4 == 0) {
                KernelContext.unroll(4);
                for (int c = lane * 4; c < cols; c += 4 * KernelContext.WARP) {
                    Vec16 wv = w.load4(base + c);
                    float w0 = wv.f32(0), w1 = wv.f32(1), w2 = wv.f32(2), w3 = wv.f32(3);
                    s0 += dot4(w0, w1, w2, w3, x, x0 + c);
                    s1 += dot4(w0, w1, w2, w3, x, x1 + c);
                    s2 += dot4(w0, w1, w2, w3, x, x2 + c);
                    s3 += dot4(w0, w1, w2, w3, x, x3 + c);
                }
            } else {
                KernelContext.unroll(4);
                for (int c = lane; c < cols; c += KernelContext.WARP) {
                    float wc = w.get(base + c);
                    s0 += wc * x.get(x0 + c);
                    s1 += wc * x.get(x1 + c);
                    s2 += wc * x.get(x2 + c);
                    s3 += wc * x.get(x3 + c);
                }
            }
        }
        storeBatch(ctx, ctx.warpSum(s0), ctx.warpSum(s1), ctx.warpSum(s2), ctx.warpSum(s3), bias, out, row, rows, v, n, epilogue);
    }

    /** {@code Σ_k w_k · x[at + k]} over eight weights and two 16-byte activation loads. */
    static float dot8(float w0, float w1, float w2, float w3, float w4, float w5, float w6, float w7, F32Buffer x, long at) {
        Vec16 a = x.load4(at), b = x.load4(at + 4);
        return w0 * a.f32(0) + w1 * a.f32(1) + w2 * a.f32(2) + w3 * a.f32(3) + w4 * b.f32(0) + w5 * b.f32(1) + w6 * b.f32(2) + w7 * b.f32(3);
    }

    /** {@code Σ_k w_k · x[at + k]} over four weights and one 16-byte activation load. */
    static float dot4(float w0, float w1, float w2, float w3, F32Buffer x, long at) {
        Vec16 a = x.load4(at);
        return w0 * a.f32(0) + w1 * a.f32(1) + w2 * a.f32(2) + w3 * a.f32(3);
    }

    /** Lane 0 of the row's warp writes the pass's {@code n} results (vectors v..v+n-1) through the epilogue. */
    static void storeBatch(KernelContext ctx, float s0, float s1, float s2, float s3, F32Buffer bias, F32Buffer out, int row,
                           int rows, int v, int n, int epilogue) {
        if (row < rows && ctx.laneId() == 0) {
            float add = (epilogue & BIAS) != 0 ? bias.get(row) : 0f;
            long at = (long) v * rows + row;
            boolean accumulate = (epilogue & ACCUMULATE) != 0;
            out.set(at, s0 + add + (accumulate ? out.get(at) : 0f));
            if (n > 1) out.set(at + rows, s1 + add + (accumulate ? out.get(at + rows) : 0f));
            if (n > 2) out.set(at + 2L * rows, s2 + add + (accumulate ? out.get(at + 2L * rows) : 0f));
            if (n > 3) out.set(at + 3L * rows, s3 + add + (accumulate ? out.get(at + 3L * rows) : 0f));
        }
    }

    /**
     * The first column of part {@code part} of a row of {@code cols} columns cut into {@code parts} runs, each of whole
     * 16-byte loads (8 columns) where the row is; the part ends where the next begins ({@code part + 1}), the last at
     * {@code cols}.
     */
    static int partStart(int cols, int parts, int part) {
        if (parts == 1) return 0; // (written out, so that a warp a row compiles as before the parts)
        int share = cols % 8 == 0 ? (cols / 8 + parts - 1) / parts * 8 : (cols + parts - 1) / parts;
        return Math.min(cols, part * share);
    }

    /**
     * Value {@code slot} of the {@code width} each of a row's {@code parts} warps ({@code first}, the row's first, and
     * on) left in {@code shares} (warp w's at {@code width·w}), added in warp order from 0: every warp of the row gets
     * the same sum. After the barrier that follows the writes.
     */
    static float partsSum(float[] shares, int width, int slot, int first, int parts) {
        float sum = 0f;
        for (int p = 0; p < parts; p++) sum += shares[width * (first + p) + slot]; // (from 0: unrolled whole)
        return sum;
    }

    /** Where part {@code part}'s columns end ({@link #partStart}): the next part's start, {@code cols} for the last. */
    static int partEnd(int cols, int parts, int part) {
        return parts == 1 ? cols : partStart(cols, parts, part + 1);
    }

    /** {@code parts}, checked: 1, 2, 4 or 8 warps a row (a row's warps must lie in one group of {@value #ROWS_PER_GROUP}). */
    static int checkParts(int parts) {
        if (parts < 1 || parts > ROWS_PER_GROUP || (parts & (parts - 1)) != 0) {
            throw new IllegalArgumentException("warps a row must be 1, 2, 4 or 8, not " + parts);
        }
        return parts;
    }

    /**
     * Bytes of each weight row a matvec asks the L2 cache for before {@link KernelContext#awaitPriorKernels}: the
     * start of the row, which its warp reads first, arrives while the previous kernel finishes. A bound rather than the
     * whole row: the groups resident early prefetch at once, and whole rows (the 64 MB of a 1B model's gate/up) would
     * overflow the L2 before they are read.
     */
    static final int PREFETCH_BYTES = 1024;

    /**
     * The warp asks the L2 for the first {@link #PREFETCH_BYTES} (at most) of the 16-bit row of {@code cols} elements at
     * element {@code base}: lane k for the 128-byte line holding element {@code base + 64k}.
     */
    static void prefetchRow(KernelContext ctx, Half16Buffer w, long base, int cols) {
        int lane = ctx.laneId();
        if (lane < PREFETCH_BYTES / 128 && lane * 64 < cols) ctx.prefetchL2(w, base + lane * 64);
    }

    /**
     * The largest 16-bit matrix {@link #prefetchesWhole}: a 1B model's 8 MB output projection follows the decode
     * attention, which reads a few hundred kilobytes of cache at short context and leaves the memory idle for
     * microseconds, during which the whole matrix can arrive; larger matrices (down, gate/up) follow kernels that
     * stream at full bandwidth, and 32 MB or more of early lines could push each other out of a 50 MB L2 before they
     * are read.
     */
    static final long WHOLE_PREFETCH_BYTES = 16L << 20;

    /** Whether a matvec over {@code rows × cols} 16-bit weights may ask the L2 for all of them ({@link #PREFETCH_WHOLE}). */
    public static boolean prefetchesWhole(int rows, int cols) {
        return (long) rows * cols * 2 <= WHOLE_PREFETCH_BYTES;
    }

    /**
     * A whole 16-bit run of {@code cols} elements at {@code base}, asked of the L2 a 128-byte line a lane: every 64th
     * element from the first, and the last (whose line the others miss where the run does not start on a line).
     */
    static void prefetchRun(KernelContext ctx, Half16Buffer w, long base, int cols) {
        int lane = ctx.laneId();
        for (int at = lane * 64; at < cols; at += 64 * KernelContext.WARP) ctx.prefetchL2(w, base + at);
        if (lane == KernelContext.WARP - 1 && cols > 0) ctx.prefetchL2(w, base + cols - 1);
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

}
