package dev.moa.tasks.kernels;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Specialize;

/** Element-wise and row-wise kernels of a Llama layer, written once for the GPU JIT and the CPU emulator. */
public final class VectorKernels {
    /** Work-items per group for the row kernels (one group per row). */
    public static final int ROW_GROUP = 256;

    private VectorKernels() {
    }

    /** {@code c = a + b}. One work-item per element; launch {@code Grid.covering(n, 256)}. */
    public static void add(KernelContext ctx, F32Buffer a, F32Buffer b, F32Buffer c, int n) {
        ctx.awaitPriorKernels();
        int i = ctx.globalId();
        if (i < n) c.set(i, a.get(i) + b.get(i));
    }

    /**
     * {@code out[r] = x[r] / rms(x[r]) * weight} for each row r of {@code dim} floats. One group of
     * {@value #ROW_GROUP} work-items per row: each sums squares over a strided slice, the group reduces through
     * shared memory, then each scales its slice. Launch {@code Grid.of(rows, ROW_GROUP)}.
     */
    public static void rmsNorm(KernelContext ctx, F32Buffer x, F32Buffer weight, F32Buffer out, int dim, float eps) {
        ctx.awaitPriorKernels();
        float[] partial = ctx.sharedF32(ROW_GROUP);
        long row = (long) ctx.groupId(0) * dim;
        float scale = rmsScale(ctx, partial, x, row, dim, eps);
        for (int i = ctx.localId(); i < dim; i += ROW_GROUP) out.set(row + i, x.get(row + i) * scale * weight.get(i));
    }

    /**
     * As {@link #rmsNorm}, each result written as the BF16 parts a prompt's pipelined GEMM reads
     * ({@link PipelinedGemm#writeParts}: {@code parts} 1 or 2) instead of as a float: the norm before q/k/v and
     * gate/up, whose products then need no staging of F32 activations. Launch {@code Grid.of(rows, ROW_GROUP)}.
     */
    public static void rmsNormParts(KernelContext ctx, F32Buffer x, F32Buffer weight, Half16Buffer high, Half16Buffer low, int dim, float eps,
                                    @Specialize int parts) {
        ctx.awaitPriorKernels();
        float[] partial = ctx.sharedF32(ROW_GROUP);
        long row = (long) ctx.groupId(0) * dim;
        float scale = rmsScale(ctx, partial, x, row, dim, eps);
        for (int i = ctx.localId(); i < dim; i += ROW_GROUP) PipelinedGemm.writeParts(high, low, row + i, x.get(row + i) * scale * weight.get(i), parts);
    }

    /** {@code 1 / rms} of the {@code dim} floats of x from {@code row}, for every work-item of the group (its slices' squares summed through shared memory). */
    private static float rmsScale(KernelContext ctx, float[] partial, F32Buffer x, long row, int dim, float eps) {
        float sum = 0f;
        for (int i = ctx.localId(); i < dim; i += ROW_GROUP) {
            float v = x.get(row + i);
            sum += v * v;
        }
        float total = groupSum(ctx, partial, sum);
        return KernelContext.rsqrt(total / dim + eps);
    }

    /**
     * In-place softmax of each row of {@code n} floats: one group of {@value #ROW_GROUP} work-items per row finds the
     * maximum, then the sum of exponentials, through shared memory. Launch {@code Grid.of(rows, ROW_GROUP)}.
     */
    public static void softmax(KernelContext ctx, F32Buffer x, int n) {
        ctx.awaitPriorKernels();
        float[] partial = ctx.sharedF32(ROW_GROUP);
        long row = (long) ctx.groupId(0) * n;
        int t = ctx.localId();
        float max = Float.NEGATIVE_INFINITY;
        for (int i = t; i < n; i += ROW_GROUP) max = Math.max(max, x.get(row + i));
        max = groupMax(ctx, partial, max);
        float sum = 0f;
        for (int i = t; i < n; i += ROW_GROUP) {
            float e = (float) Math.exp(x.get(row + i) - max);
            x.set(row + i, e);
            sum += e;
        }
        float inverse = 1f / groupSum(ctx, partial, sum);
        for (int i = t; i < n; i += ROW_GROUP) x.set(row + i, x.get(row + i) * inverse);
    }

    /**
     * Rows {@code [from, from + rows)} of {@code src} into rows {@code [to, to + rows)} of {@code dst}, rows of
     * {@code width} floats (a prompt chunk's residual stream in and out, a batch's last row out). Group (i, r) copies
     * elements {@code [256·i, +256)} of row r, one per work-item; launch {@code Grid.of((width + 255) / 256, rows, 256)}.
     */
    public static void copyRows(KernelContext ctx, F32Buffer src, int from, F32Buffer dst, int to, int width) {
        ctx.awaitPriorKernels();
        int i = ctx.globalId(), r = ctx.groupId(1);
        if (i < width) dst.set((long) (to + r) * width + i, src.get((long) (from + r) * width + i));
    }

    /** SwiGLU: {@code out = silu(gate) * up}. One work-item per element; launch {@code Grid.covering(n, 256)}. */
    public static void siluTimes(KernelContext ctx, F32Buffer gate, F32Buffer up, F32Buffer out, int n) {
        ctx.awaitPriorKernels();
        int i = ctx.globalId();
        if (i < n) out.set(i, glu(gate.get(i), up.get(i)));
    }

    /**
     * SwiGLU over a fused gate/up projection: {@code out[i] = silu(gateUp[i]) * gateUp[n + i]} (the gate's n rows,
     * then the up's), for each batch row b = {@code groupId(1)} (gateUp rows of 2n, out rows of n). One work-item
     * per element; launch {@code Grid.of(ceil(n / 256), rows, 256)}.
     */
    public static void swiGlu(KernelContext ctx, F32Buffer gateUp, F32Buffer out, int n) {
        ctx.awaitPriorKernels();
        int i = ctx.globalId();
        long b = ctx.groupId(1);
        if (i < n) out.set(b * n + i, glu(gateUp, b, n, i));
    }

    /**
     * As {@link #swiGlu}, each result written as BF16 parts ({@link PipelinedGemm#writeParts}) for the down
     * projection's pipelined GEMM. Launch {@code Grid.of(ceil(n / 256), rows, 256)}.
     */
    public static void swiGluParts(KernelContext ctx, F32Buffer gateUp, Half16Buffer high, Half16Buffer low, int n, @Specialize int parts) {
        ctx.awaitPriorKernels();
        int i = ctx.globalId();
        long b = ctx.groupId(1);
        if (i < n) PipelinedGemm.writeParts(high, low, b * n + i, glu(gateUp, b, n, i), parts);
    }

    /** {@code silu(gate[i]) · up[i]} of row b of a fused gate/up output (rows of 2n: the gate's n, then the up's). */
    private static float glu(F32Buffer gateUp, long b, int n, int i) {
        return glu(gateUp.get(2 * b * n + i), gateUp.get(2 * b * n + n + i));
    }

    /** SwiGLU of one feature: {@code silu(gate) · up}, the one formula of every kernel that applies it. */
    static float glu(float gate, float up) {
        return silu(gate) * up;
    }

    /** {@code g · sigmoid(g)}, as the CPU's {@code VectorMath.siluTimes} computes it. */
    static float silu(float g) {
        return g / (1f + (float) Math.exp(-g));
    }

    /**
     * Embedding lookup: row {@code step[b·Step.SIZE + Step.TOKEN]} of a BF16 {@code [vocab × dim]} table, widened
     * into row b of {@code out}, for each batch row b = {@code groupId(1)}. One work-item per element; launch
     * {@code Grid.of(ceil(dim / 256), rows, 256)}.
     */
    public static void embedBf16(KernelContext ctx, Half16Buffer table, I32Buffer step, F32Buffer out, int dim) {
        ctx.awaitPriorKernels();
        int i = ctx.globalId();
        int b = ctx.groupId(1);
        if (i < dim) out.set((long) b * dim + i, KernelContext.bf16ToFloat(table.get((long) step.get((long) b * Step.SIZE + Step.TOKEN) * dim + i)));
    }

    /** As {@link #embedBf16} for an IEEE half table. */
    public static void embedF16(KernelContext ctx, Half16Buffer table, I32Buffer step, F32Buffer out, int dim) {
        ctx.awaitPriorKernels();
        int i = ctx.globalId();
        int b = ctx.groupId(1);
        if (i < dim) out.set((long) b * dim + i, KernelContext.f16ToFloat(table.get((long) step.get((long) b * Step.SIZE + Step.TOKEN) * dim + i)));
    }

    /** As {@link #embedBf16} for an F32 table. */
    public static void embedF32(KernelContext ctx, F32Buffer table, I32Buffer step, F32Buffer out, int dim) {
        ctx.awaitPriorKernels();
        int i = ctx.globalId();
        int b = ctx.groupId(1);
        if (i < dim) out.set((long) b * dim + i, table.get((long) step.get((long) b * Step.SIZE + Step.TOKEN) * dim + i));
    }

    /** Groups of {@link #argmax} per row: each scans a chunk of the logits. */
    public static final int ARGMAX_CHUNKS = 64;

    /**
     * Index of the largest of {@code n} logits (the first one on ties), written to {@code result[2b]}, and in
     * {@code result[2b + 1]} how many work-items saw a logit that is not a finite number (0 when all are), so a greedy
     * step on the device needs no logits on the host to refuse garbage; batch row b = {@code groupId(1)} has its
     * logits at {@code b·n}. Group c = {@code groupId(0)} of {@code groups(0)} (at most {@value #ROW_GROUP}) scans
     * the c-th chunk of the row, each work-item a strided slice with four loads in flight, reduces (value, index)
     * pairs in shared memory and writes the chunk's best to {@code partialValues[b·chunks + c]} and its index and
     * count to {@code partialInts[2(b·chunks + c)]}, {@code +1}. The row's last group to finish (counted in
     * {@code arrivals[b]}, zero before the launch and after it) reduces the chunks' bests the same way. Launch
     * {@code Grid.of(chunks, rows, ROW_GROUP)}.
     */
    public static void argmax(KernelContext ctx, F32Buffer logits, F32Buffer partialValues, I32Buffer partialInts, I32Buffer arrivals,
                              I32Buffer result, int n) {
        ctx.awaitPriorKernels();
        float[] values = ctx.sharedF32(ROW_GROUP);
        int[] indices = ctx.sharedI32(ROW_GROUP);
        int[] broken = ctx.sharedI32(ROW_GROUP);
        int[] last = ctx.sharedI32(1);
        chooseLargest(ctx, values, indices, broken, last, logits, partialValues, partialInts, arrivals, result, n);
    }

    /**
     * {@link #argmax}, then each row's step moved on to the token it chose: {@code step[b·Step.SIZE + Step.TOKEN]} the
     * row's argmax and {@code Step.POSITION} one further, written by the work-item that writes the row's result, where
     * every logit of the row is finite (else the row's step stays as it was: run again, it computes the same logits).
     * So the next replay of a greedy step needs nothing from the host: it can be queued before the host has read this
     * one's tokens. Launch as {@link #argmax}.
     */
    public static void argmaxOnward(KernelContext ctx, F32Buffer logits, F32Buffer partialValues, I32Buffer partialInts, I32Buffer arrivals,
                                    I32Buffer result, I32Buffer step, int n) {
        ctx.awaitPriorKernels();
        float[] values = ctx.sharedF32(ROW_GROUP);
        int[] indices = ctx.sharedI32(ROW_GROUP);
        int[] broken = ctx.sharedI32(ROW_GROUP);
        int[] last = ctx.sharedI32(1);
        if (chooseLargest(ctx, values, indices, broken, last, logits, partialValues, partialInts, arrivals, result, n) && broken[0] == 0) {
            moveOn(step, ctx.groupId(1), indices[0]);
        }
    }

    /**
     * Moves each row's step on to the token chosen for it, as {@link #argmaxOnward} does, after a step whose tokens are
     * drawn ({@link SamplingKernels#sample}): where {@code chosen[2b]} is a token and {@code chosen[2b + 1]} is 0, the
     * row's step takes that token at the next position; a row left to the host (-1, or logits not all finite) keeps its
     * step. One work-item per row: launch {@code Grid.covering(rows, ROW_GROUP)}.
     */
    public static void stepOnward(KernelContext ctx, I32Buffer chosen, I32Buffer step, int rows) {
        ctx.awaitPriorKernels();
        int b = ctx.globalId();
        if (b < rows && chosen.get(2L * b + 1) == 0 && chosen.get(2L * b) >= 0) moveOn(step, b, chosen.get(2L * b));
    }

    /** Row b's step buffer: {@code token} at the position after the one it held. */
    static void moveOn(I32Buffer step, int b, int token) {
        long at = (long) b * Step.SIZE;
        step.set(at + Step.TOKEN, token);
        step.set(at + Step.POSITION, step.get(at + Step.POSITION) + 1);
    }

    /**
     * The body of {@link #argmax} over the kernel's shared arrays; true in the one work-item that wrote the row's result
     * (the row's best index then in {@code indices[0]}, its count of logits that are not finite in {@code broken[0]}).
     */
    static boolean chooseLargest(KernelContext ctx, float[] values, int[] indices, int[] broken, int[] last, F32Buffer logits,
                                 F32Buffer partialValues, I32Buffer partialInts, I32Buffer arrivals, I32Buffer result, int n) {
        int t = ctx.localId(), chunk = ctx.groupId(0), chunks = ctx.groups(0), b = ctx.groupId(1);
        int size = (n + chunks - 1) / chunks, from = chunk * size, to = Math.min(n, from + size);
        long row = (long) b * n;
        float best = Float.NEGATIVE_INFINITY;
        int bestIndex = n, nonFinite = 0;
        KernelContext.unroll(4);
        for (int i = from + t; i < to; i += ROW_GROUP) {
            float v = logits.get(row + i);
            if (!(v - v == 0f)) nonFinite = 1; // NaN - NaN and Inf - Inf are NaN
            if (v > best) {
                best = v;
                bestIndex = i;
            }
        }
        reduceBest(ctx, values, indices, broken, best, bestIndex, nonFinite);
        long at = (long) b * chunks + chunk;
        if (t == 0) {
            partialValues.set(at, values[0]);
            partialInts.set(2 * at, indices[0]);
            partialInts.set(2 * at + 1, broken[0]);
        }
        if (!lastToArrive(ctx, arrivals, b, chunks, last)) return false;
        long mine = (long) b * chunks + t;
        boolean chunkOf = t < chunks;
        reduceBest(ctx, values, indices, broken, chunkOf ? partialValues.get(mine) : Float.NEGATIVE_INFINITY,
                chunkOf ? partialInts.get(2 * mine) : n, chunkOf ? partialInts.get(2 * mine + 1) : 0);
        if (t != 0) return false;
        result.set(2L * b, indices[0]);
        result.set(2L * b + 1, broken[0]);
        return true;
    }

    /**
     * The group's best (value, index) pair, the first index on ties, into {@code values[0]}, {@code indices[0]}, and
     * the sum of every work-item's {@code nonFinite} into {@code broken[0]}: a tree reduction in shared memory.
     */
    static void reduceBest(KernelContext ctx, float[] values, int[] indices, int[] broken, float best, int bestIndex, int nonFinite) {
        int t = ctx.localId();
        values[t] = best;
        indices[t] = bestIndex;
        broken[t] = nonFinite;
        ctx.barrier();
        for (int stride = ROW_GROUP / 2; stride > 0; stride >>= 1) {
            if (t < stride) {
                float other = values[t + stride];
                int otherIndex = indices[t + stride];
                if (other > values[t] || (other == values[t] && otherIndex < indices[t])) {
                    values[t] = other;
                    indices[t] = otherIndex;
                }
                broken[t] += broken[t + stride];
            }
            ctx.barrier();
        }
    }

    /** Sum of every work-item's {@code value} over a group of {@value #ROW_GROUP}, returned to all. */
    static float groupSum(KernelContext ctx, float[] partial, float value) {
        return groupSumOf(ctx, partial, value, ROW_GROUP);
    }

    /** Maximum of every work-item's {@code value} over a group of {@value #ROW_GROUP}, returned to all. */
    static float groupMax(KernelContext ctx, float[] partial, float value) {
        return groupMaxOf(ctx, partial, value, ROW_GROUP);
    }

    /** Sum over a group of {@code size} (a power of two) work-items: tree reduction in {@code partial}. */
    static float groupSumOf(KernelContext ctx, float[] partial, float value, int size) {
        int t = ctx.localId();
        partial[t] = value;
        ctx.barrier();
        for (int stride = size / 2; stride > 0; stride >>= 1) {
            if (t < stride) partial[t] += partial[t + stride];
            ctx.barrier();
        }
        float total = partial[0];
        ctx.barrier();
        return total;
    }

    /** Maximum over a group of {@code size} (a power of two) work-items. */
    static float groupMaxOf(KernelContext ctx, float[] partial, float value, int size) {
        int t = ctx.localId();
        partial[t] = value;
        ctx.barrier();
        for (int stride = size / 2; stride > 0; stride >>= 1) {
            if (t < stride) partial[t] = Math.max(partial[t], partial[t + stride]);
            ctx.barrier();
        }
        float max = partial[0];
        ctx.barrier();
        return max;
    }

    /**
     * Whether this group is the last of {@code groups} to arrive at counter {@code arrivals[index]}: the last can
     * read what the others wrote before they arrived (each fences its writes first). The last also resets the
     * counter for the next launch. Every work-item of the group calls it; {@code flag} is a one-int shared array.
     */
    static boolean lastToArrive(KernelContext ctx, I32Buffer arrivals, int index, int groups, int[] flag) {
        ctx.fence();
        ctx.barrier();
        if (ctx.localId() == 0) flag[0] = ctx.atomicAdd(arrivals, index, 1) == groups - 1 ? 1 : 0;
        ctx.barrier();
        boolean last = flag[0] != 0;
        if (last && ctx.localId() == 0) arrivals.set(index, 0);
        return last;
    }
}
