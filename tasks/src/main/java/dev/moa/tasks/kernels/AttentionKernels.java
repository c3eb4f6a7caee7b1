package dev.moa.tasks.kernels;

import dev.moa.plans.CacheLayout;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Specialize;
import dev.moa.tasks.kernel.Vec16;

/**
 * Decode-step attention over MoA's per-head elastic KV cache.
 *
 * <p>Cache layout (one layer): the MoA {@link CacheLayout}, the same as the CPU cache's. KV head g owns
 * {@code sinkSlots + rings[g]} slots starting at slot {@code offsets[g]}; slot s holds a key and a value of
 * {@code headDim} values at {@code s * headDim} — F32 or BF16, {@link KvStore}: the kernels take the cache in both
 * types and the format — and the absolute position it stores in {@code slotPositions[s]}
 * (-1 while empty). Position p goes to slot {@link CacheLayout#slotOf}{@code (p, sinkSlots, rings[g])}. Keys are
 * stored after RoPE, so slot order never matters. Query head h (KV group {@code h / (heads / kvHeads)}) sees a
 * stored position p at the current position P iff {@link CacheLayout#visible}{@code (p, P, headSink[h], headLocal[h])}.
 */
public final class AttentionKernels {
    /** Work-items per group of the attention kernels. */
    public static final int GROUP = 128;
    /** Cache slots one group scores (one split of the KV range). */
    public static final int SPLIT = 256;

    private AttentionKernels() {
    }

    /**
     * RoPE (rotate-half) on the new token's query heads in place, and on its key heads, which are then written with
     * the values into their cache slots for the step's position. {@code qkv} is the fused projection's output: the
     * query heads, then the key heads, then the value heads, {@code headDim} floats each; {@code cos}/{@code sin}
     * hold {@code headDim / 2} angles per position. One group per head and batch row: groups {@code 0..heads-1}
     * of row b ({@code groupId(1)}) rotate that row's query heads, groups {@code heads..heads+kvHeads-1} rotate and
     * store its key/value heads; work-items stride over the head's rotation pairs. Row b is a session: its q/k/v
     * output is row b of {@code qkv}, its position {@code step[b·Step.SIZE + Step.POSITION]}, its KV group g starts
     * at slot {@code offsets[b·kvHeads + g]} with ring {@code rings[b·kvHeads + g]} after {@code sinkSlots[b]}
     * sink slots. The cache is stored in {@code kvFormat} ({@link KvStore}). Launch
     * {@code Grid.of(heads + kvHeads, rows, GROUP)}.
     */
    public static void ropeAndCache(KernelContext ctx, F32Buffer qkv, F32Buffer cos, F32Buffer sin, F32Buffer keyCache,
                                    F32Buffer valueCache, Half16Buffer keys16, Half16Buffer values16, I32Buffer slotPositions,
                                    I32Buffer offsets, I32Buffer rings, I32Buffer step, I32Buffer sinkSlots, @Specialize int heads,
                                    @Specialize int kvHeads, @Specialize int headDim, @Specialize int kvFormat) {
        ctx.awaitPriorKernels();
        int head = ctx.groupId(0), b = ctx.groupId(1);
        int half = headDim / 2;
        int position = step.get((long) b * Step.SIZE + Step.POSITION);
        long angles = (long) position * half;
        long row = (long) b * (heads + 2 * kvHeads) * headDim;
        if (head < heads) {
            long base = row + (long) head * headDim;
            for (int i = ctx.localId(); i < half; i += GROUP) {
                rotate(qkv, base, i, half, cos.get(angles + i), sin.get(angles + i), qkv, keys16, KvStore.F32, base);
            }
            return;
        }
        int g = head - heads, gi = b * kvHeads + head - heads;
        int slot = CacheLayout.slotOf(position, sinkSlots.get(b), rings.get(gi));
        if (slot < 0) return; // a sink-only group keeps no later position
        long cacheBase = (long) (offsets.get(gi) + slot) * headDim;
        long key = row + (long) (heads + g) * headDim, value = row + (long) (heads + kvHeads + g) * headDim;
        for (int i = ctx.localId(); i < half; i += GROUP) {
            rotate(qkv, key, i, half, cos.get(angles + i), sin.get(angles + i), keyCache, keys16, kvFormat, cacheBase);
            KvStore.set(valueCache, values16, kvFormat, cacheBase + i, qkv.get(value + i));
            KvStore.set(valueCache, values16, kvFormat, cacheBase + i + half, qkv.get(value + i + half));
        }
        if (ctx.localId() == 0) slotPositions.set(offsets.get(gi) + slot, position);
    }

    /**
     * {@code out[i], out[i+half] = x1·cos - x2·sin, x2·cos + x1·sin} for the pair (x[i], x[i+half]), stored in
     * {@code format} ({@link KvStore}: {@code out} for F32, {@code out16} for BF16).
     */
    static void rotate(F32Buffer x, long from, int i, int half, float c, float s, F32Buffer out, Half16Buffer out16, int format, long to) {
        float x1 = x.get(from + i);
        float x2 = x.get(from + i + half);
        KvStore.set(out, out16, format, to + i, x1 * c - x2 * s);
        KvStore.set(out, out16, format, to + i + half, x2 * c + x1 * s);
    }

    /**
     * One split of flash-decoding: query head {@code groupId(0)} against cache slots
     * {@code [groupId(1)·SPLIT, +SPLIT)} of its KV group. Work-items score a strided share of the slots into shared
     * memory (invisible slots score -inf), the group reduces the maximum m and the sum l of exp(score - m), then
     * each work-item accumulates the exp-weighted values for a strided share of the head's dimensions. Writes the
     * unnormalised output, m and l of this split for {@link #combine}. Batch row b = {@code groupId(2)} is a session
     * as in {@link #ropeAndCache}: its query heads are the first {@code heads · headDim} floats of row b of the fused
     * q/k/v output {@code q}, its heads' sinks and windows {@code headSink/headLocal[b·heads + h]}, its partial
     * results at {@code (b·heads + h)·splits + split}. Launch {@code Grid.of(heads, splits, rows, GROUP)} with
     * {@code splits = splits(widest group's slots, false)}: splits past a group's filled slots score nothing. The
     * cache is stored in {@code kvFormat} ({@link KvStore}).
     */
    public static void decodeSplit(KernelContext ctx, F32Buffer q, F32Buffer keyCache, F32Buffer valueCache, Half16Buffer keys16,
                                   Half16Buffer values16, I32Buffer slotPositions, I32Buffer offsets, I32Buffer rings, I32Buffer headSink,
                                   I32Buffer headLocal, F32Buffer partialOut, F32Buffer partialMax, F32Buffer partialSum,
                                   I32Buffer step, I32Buffer sinkSlots, @Specialize int heads, @Specialize int kvHeads,
                                   @Specialize int headDim, float scale, @Specialize int kvFormat) {
        ctx.awaitPriorKernels();
        float[] scores = ctx.sharedF32(SPLIT);
        float[] reduce = ctx.sharedF32(GROUP);
        int head = ctx.groupId(0), split = ctx.groupId(1), splits = ctx.groups(1), b = ctx.groupId(2);
        int gi = b * kvHeads + head / (heads / kvHeads);
        int slots = sinkSlots.get(b) + rings.get(gi), first = offsets.get(gi);
        int sink = headSink.get((long) b * heads + head), local = headLocal.get((long) b * heads + head);
        int t = ctx.localId();
        int position = step.get((long) b * Step.SIZE + Step.POSITION);
        int begin = split * SPLIT;
        long queryBase = (long) b * (heads + 2 * kvHeads) * headDim + (long) head * headDim;

        float max = Float.NEGATIVE_INFINITY;
        for (int j = t; j < SPLIT; j += GROUP) {
            int slot = begin + j;
            float score = Float.NEGATIVE_INFINITY;
            if (slot < slots) {
                int p = slotPositions.get(first + slot);
                if (p >= 0 && CacheLayout.visible(p, position, sink, local)) {
                    long keyBase = (long) (first + slot) * headDim;
                    // one copy of the loop per format, each with a constant format (ptxas folds its branches)
                    float dot = kvFormat == KvStore.BF16 ? keyDot(q, queryBase, keyCache, keys16, KvStore.BF16, keyBase, headDim)
                            : keyDot(q, queryBase, keyCache, keys16, KvStore.F32, keyBase, headDim);
                    score = dot * scale;
                }
            }
            scores[j] = score;
            max = Math.max(max, score);
        }
        max = VectorKernels.groupMaxOf(ctx, reduce, max, GROUP);
        float sum = 0f;
        for (int j = t; j < SPLIT; j += GROUP) {
            float e = max == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        sum = VectorKernels.groupSumOf(ctx, reduce, sum, GROUP);
        long out = (((long) b * heads + head) * splits + split) * headDim;
        for (int d = t; d < headDim; d += GROUP) {
            float acc = kvFormat == KvStore.BF16 ? weightedValue(scores, valueCache, values16, KvStore.BF16, first + begin, headDim, d)
                    : weightedValue(scores, valueCache, values16, KvStore.F32, first + begin, headDim, d);
            partialOut.set(out + d, acc);
        }
        if (t == 0) {
            partialMax.set(((long) b * heads + head) * splits + split, max);
            partialSum.set(((long) b * heads + head) * splits + split, sum);
        }
    }

    /** {@code q[queryBase..] · key} over {@code headDim} values, the key at {@code keyBase} of a cache in {@code kvFormat}. */
    private static float keyDot(F32Buffer q, long queryBase, F32Buffer keyCache, Half16Buffer keys16, int kvFormat, long keyBase, int headDim) {
        float dot = 0f;
        KernelContext.unroll(8); // eight independent key loads in flight per thread
        for (int d = 0; d < headDim; d++) dot += q.get(queryBase + d) * KvStore.get(keyCache, keys16, kvFormat, keyBase + d);
        return dot;
    }

    /** {@code Σ_j weights[j] · value_j[d]} over the {@link #SPLIT} slots from {@code firstSlot}, skipping zero weights. */
    private static float weightedValue(float[] weights, F32Buffer valueCache, Half16Buffer values16, int kvFormat, int firstSlot, int headDim, int d) {
        float acc = 0f;
        KernelContext.unroll(4);
        for (int j = 0; j < SPLIT; j++) {
            float w = weights[j];
            if (w != 0f) acc += w * KvStore.get(valueCache, values16, kvFormat, (long) (firstSlot + j) * headDim + d);
        }
        return acc;
    }

    /** Work-items per group of {@link #decodeGrouped}: four warps. */
    public static final int GROUPED = 128;
    /** Cache slots one group of {@link #decodeGrouped} takes: one per work-item when scoring. */
    public static final int GROUPED_SPLIT = 128;
    /** Query heads per KV group {@link #decodeGrouped} holds (its shared memory is sized for this many). */
    public static final int MAX_GROUP_HEADS = 8;
    /** The widest head {@link #decodeGrouped} holds. */
    public static final int MAX_HEAD_DIM = 128;
    private static final int WARPS = GROUPED / KernelContext.WARP;

    /** Splits of a KV range of {@code slots} slots: launches of {@link #decodeGrouped} or of {@link #decodeSplit}. */
    public static int splits(int slots, boolean grouped) {
        int size = grouped ? GROUPED_SPLIT : SPLIT;
        return Math.max(1, (slots + size - 1) / size);
    }

    /**
     * Splits of a grouped launch that hold a live slot ({@link CacheLayout#liveSlots}): the others return at once and
     * the merge reads these only, so a session sized for a long generation pays for what it has decoded so far.
     */
    static int activeSplits(int live) {
        return (live + GROUPED_SPLIT - 1) / GROUPED_SPLIT;
    }

    /**
     * One split of flash-decoding for a whole KV group: KV head {@code groupId(0)}'s cache slots
     * {@code [groupId(1)·GROUPED_SPLIT, +GROUPED_SPLIT)} against all {@code heads / kvHeads} query heads that share
     * it, so each key and value is read from memory once per step, not once per query head (4× less traffic on
     * Llama-3 shapes), and each load feeds the arithmetic of four query heads.
     *
     * <p>What each work-item does. The group's query heads, pre-scaled, go to shared memory. Scores: work-item t takes
     * slot t of the split and reads its key whole along head_dim (16-byte loads, eight in flight), scoring it against
     * four query heads at a time; a slot that is empty or outside a head's sink and window scores -inf for that head.
     * Softmax statistics: warp w takes heads w, w+4, …, its lanes striding over the split's scores for the maximum m
     * and the sum l of exp(score − m), which replace the scores. Values, where headDim/4 lanes divide the warp (head
     * dims 4, 8, 16, 32, 64, 128): a value row is read by headDim/4 lanes, 16 bytes each, so a warp reads 128/headDim
     * rows at once (two for head_dim 64, slots w·2 + r, then 8 further), eight loads in flight; each lane accumulates
     * its four dimensions for four heads at a time, the warp's rows are summed by shuffles. Other head dims: warp w
     * takes slots w, w+4, …, lane k dimensions k, k+32, …. The four warps' sums meet in shared memory. Writes each head's unnormalised output,
     * m and l of this split, in {@link #decodeSplit}'s layout with {@link #splits} splits. Then the group counts
     * itself in {@code arrivals[b·kvHeads + g]} (zero before the launch, zero again after it); the last split of the
     * row's KV group to arrive merges all its splits as {@link #combine} does and writes each head's attention output
     * to {@code out} (row b, query head h at {@code (b·heads + h)·headDim}): warp w merges the statistics of heads w,
     * w+4, …, then work-items stride over the group's heads × dimensions.
     * Batch row b = {@code groupId(2)} is a session, laid out as for {@link #decodeSplit}. Launch
     * {@code Grid.of(kvHeads, splits(slots, true), rows, GROUPED)}; needs {@code heads / kvHeads ≤ MAX_GROUP_HEADS}
     * and {@code headDim ≤ MAX_HEAD_DIM}. Slots past the filled ones are never read; every slot below them must hold
     * finite numbers (the cache starts zeroed). The cache is stored in {@code kvFormat} ({@link KvStore}): BF16 keys
     * and values are read 8 bytes per load where F32 ones take 16, four values either way.
     */
    public static void decodeGrouped(KernelContext ctx, F32Buffer q, F32Buffer keyCache, F32Buffer valueCache, Half16Buffer keys16,
                                     Half16Buffer values16, I32Buffer slotPositions, I32Buffer offsets, I32Buffer rings, I32Buffer headSink,
                                     I32Buffer headLocal, F32Buffer partialOut, F32Buffer partialMax, F32Buffer partialSum,
                                     I32Buffer arrivals, F32Buffer out, I32Buffer step, I32Buffer sinkSlots, @Specialize int heads,
                                     @Specialize int kvHeads, @Specialize int headDim, float scale, @Specialize int kvFormat) {
        grouped(ctx, q, keyCache, valueCache, keys16, values16, slotPositions, offsets, rings, headSink, headLocal, partialOut, partialMax, partialSum,
                arrivals, out, null, null, 0, step, sinkSlots, heads, kvHeads, headDim, scale, kvFormat);
    }

    /**
     * As {@link #decodeGrouped}, the attention output written as the two BF16 parts the output projection's pipelined
     * GEMM reads ({@link PipelinedGemm#writeParts}: {@code high} each float's rounding, {@code low} the rounding of what
     * that left) instead of as floats: a batched tensor-core step's split of the attention's output, a launch a layer,
     * goes. The same launch.
     */
    public static void decodeGroupedParts(KernelContext ctx, F32Buffer q, F32Buffer keyCache, F32Buffer valueCache, Half16Buffer keys16,
                                          Half16Buffer values16, I32Buffer slotPositions, I32Buffer offsets, I32Buffer rings, I32Buffer headSink,
                                          I32Buffer headLocal, F32Buffer partialOut, F32Buffer partialMax, F32Buffer partialSum,
                                          I32Buffer arrivals, Half16Buffer high, Half16Buffer low, I32Buffer step,
                                          I32Buffer sinkSlots, @Specialize int heads, @Specialize int kvHeads, @Specialize int headDim, float scale,
                                          @Specialize int kvFormat) {
        grouped(ctx, q, keyCache, valueCache, keys16, values16, slotPositions, offsets, rings, headSink, headLocal, partialOut, partialMax, partialSum,
                arrivals, null, high, low, 2, step, sinkSlots, heads, kvHeads, headDim, scale, kvFormat);
    }

    /** The body of {@link #decodeGrouped} (floats to {@code out}, {@code parts} 0) and {@link #decodeGroupedParts} (2). */
    private static void grouped(KernelContext ctx, F32Buffer q, F32Buffer keyCache, F32Buffer valueCache, Half16Buffer keys16,
                                Half16Buffer values16, I32Buffer slotPositions, I32Buffer offsets, I32Buffer rings, I32Buffer headSink,
                                I32Buffer headLocal, F32Buffer partialOut, F32Buffer partialMax, F32Buffer partialSum, I32Buffer arrivals,
                                F32Buffer out, Half16Buffer high, Half16Buffer low, int parts, I32Buffer step, I32Buffer sinkSlots, int heads,
                                int kvHeads, int headDim, float scale, int kvFormat) {
        ctx.awaitPriorKernels();
        float[] queries = ctx.sharedF32(MAX_GROUP_HEADS * MAX_HEAD_DIM);
        float[] weights = ctx.sharedF32(MAX_GROUP_HEADS * GROUPED_SPLIT);
        float[] partial = ctx.sharedF32(WARPS * MAX_GROUP_HEADS * MAX_HEAD_DIM);
        float[] merge = ctx.sharedF32(2 * MAX_GROUP_HEADS);
        int[] last = ctx.sharedI32(1);
        int[] spans = ctx.sharedI32(2 * MAX_GROUP_HEADS); // each query head's sink and window
        int g = ctx.groupId(0), split = ctx.groupId(1), splits = ctx.groups(1), b = ctx.groupId(2);
        int groupHeads = heads / kvHeads, firstHead = b * heads + g * groupHeads; // heads counted over all rows
        int gi = b * kvHeads + g;
        int first = offsets.get(gi) + split * GROUPED_SPLIT;
        int position = step.get((long) b * Step.SIZE + Step.POSITION);
        int live = CacheLayout.liveSlots(position, sinkSlots.get(b), rings.get(gi)), active = activeSplits(live);
        if (split >= active) return; // slots no position has reached yet: the merge counts the active splits only
        int filled = Math.min(GROUPED_SPLIT, live - split * GROUPED_SPLIT);
        long query = (long) b * (heads + 2 * kvHeads) * headDim + (long) g * groupHeads * headDim;
        int t = ctx.localId(), lane = ctx.laneId(), warp = t / KernelContext.WARP;

        loadQueries(q, query, scale, queries, MAX_GROUP_HEADS, headSink, headLocal, spans, firstHead, groupHeads, headDim, t);
        ctx.barrier();

        int p = t < filled ? slotPositions.get((long) first + t) : -1;
        long key = (long) (first + t) * headDim;
        // one copy of the loops per format, each call with a constant format (ptxas folds its branches): no per-load test
        if (kvFormat == KvStore.BF16) {
            scoreSlot(keyCache, keys16, KvStore.BF16, key, p, t, queries, weights, spans, groupHeads, headDim, position);
        } else {
            scoreSlot(keyCache, keys16, KvStore.F32, key, p, t, queries, weights, spans, groupHeads, headDim, position);
        }
        ctx.barrier();

        softmax(ctx, weights, merge, partialMax, partialSum, firstHead, groupHeads, splits, split, lane, warp);
        ctx.barrier();

        if (kvFormat == KvStore.BF16) {
            sumValues(ctx, valueCache, values16, KvStore.BF16, weights, partial, first, filled, groupHeads, headDim, lane, warp);
        } else {
            sumValues(ctx, valueCache, values16, KvStore.F32, weights, partial, first, filled, groupHeads, headDim, lane, warp);
        }
        ctx.barrier();
        finishSplit(ctx, partial, MAX_GROUP_HEADS, merge, last, partialOut, partialMax, partialSum, arrivals, out, high, low, parts, gi, firstHead, groupHeads, headDim,
                splits, active, split);
    }

    /**
     * One split of a {@link #decodeGrouped} launch as that kernel does it, its keys and values first copied into shared
     * memory ({@link KernelContext#copyAsync}, {@code cp.async}): the same parameters, the same outputs, the same
     * launch but for the dynamic shared memory ({@link #stagedSharedBytes}); for caches whose rows are whole 16-byte
     * chunks that a warp's lanes divide ({@link #staged}). Why: {@link #decodeGrouped} reads a key row per work-item
     * (each load touching 32 rows, a quarter or half of each 32-byte sector used, the rest fetched again later) and
     * loads its values only after the scores, so a split costs several dependent round trips to memory; here every
     * load is a whole 16-byte chunk of contiguous rows, consecutive work-items taking consecutive chunks, and the
     * split's first two tiles (its keys and, where one tile holds the split, its values) are in flight together from
     * the kernel's start, while the queries load.
     *
     * <p>What each work-item does. The split's rows go through two shared buffers of {@link #stagedSlots} rows each
     * (16 KB of keys or values; rows padded so that the lanes scoring different rows hit different banks,
     * {@link #stagedStride}): the key tiles, then as many value tiles, each buffer refilled with the tile after next as
     * soon as it is used. Staging: work-items take the tile's 16-byte chunks in order, t, t+128, …. Scores: a key row
     * is scored by {@code 128 / stagedSlots} adjacent work-items (1, 2 or 4), each taking every such chunk of it,
     * against four query heads at a time, their shares summed by shuffles; slots past the filled ones and outside a
     * head's sink and window score -inf. Softmax as {@link #decodeGrouped}. Values: a value row is read by as many
     * lanes as it has chunks, one chunk each (a warp reads {@code 32 / chunks} rows at once), each lane accumulating
     * its chunk's four or eight dimensions for four heads at a time; the warp's rows are summed by shuffles after
     * each tile into the warp's share in shared memory. The merge as {@link #decodeGrouped}.
     */
    public static void decodeStaged(KernelContext ctx, F32Buffer q, F32Buffer keyCache, F32Buffer valueCache, Half16Buffer keys16,
                                    Half16Buffer values16, I32Buffer slotPositions, I32Buffer offsets, I32Buffer rings, I32Buffer headSink,
                                    I32Buffer headLocal, F32Buffer partialOut, F32Buffer partialMax, F32Buffer partialSum,
                                    I32Buffer arrivals, F32Buffer out, I32Buffer step, I32Buffer sinkSlots, @Specialize int heads,
                                    @Specialize int kvHeads, @Specialize int headDim, float scale, @Specialize int kvFormat) {
        staged(ctx, q, keyCache, valueCache, keys16, values16, slotPositions, offsets, rings, headSink, headLocal, partialOut, partialMax, partialSum,
                arrivals, out, null, null, 0, step, sinkSlots, heads, kvHeads, headDim, scale, kvFormat);
    }

    /** As {@link #decodeStaged}, the output written as two BF16 parts, as {@link #decodeGroupedParts} writes them. The same launch. */
    public static void decodeStagedParts(KernelContext ctx, F32Buffer q, F32Buffer keyCache, F32Buffer valueCache, Half16Buffer keys16,
                                         Half16Buffer values16, I32Buffer slotPositions, I32Buffer offsets, I32Buffer rings, I32Buffer headSink,
                                         I32Buffer headLocal, F32Buffer partialOut, F32Buffer partialMax, F32Buffer partialSum,
                                         I32Buffer arrivals, Half16Buffer high, Half16Buffer low, I32Buffer step,
                                         I32Buffer sinkSlots, @Specialize int heads, @Specialize int kvHeads, @Specialize int headDim, float scale,
                                         @Specialize int kvFormat) {
        staged(ctx, q, keyCache, valueCache, keys16, values16, slotPositions, offsets, rings, headSink, headLocal, partialOut, partialMax, partialSum,
                arrivals, null, high, low, 2, step, sinkSlots, heads, kvHeads, headDim, scale, kvFormat);
    }

    /** The body of {@link #decodeStaged} (floats to {@code out}, {@code parts} 0) and {@link #decodeStagedParts} (2). */
    private static void staged(KernelContext ctx, F32Buffer q, F32Buffer keyCache, F32Buffer valueCache, Half16Buffer keys16,
                               Half16Buffer values16, I32Buffer slotPositions, I32Buffer offsets, I32Buffer rings, I32Buffer headSink,
                               I32Buffer headLocal, F32Buffer partialOut, F32Buffer partialMax, F32Buffer partialSum, I32Buffer arrivals,
                               F32Buffer out, Half16Buffer high, Half16Buffer low, int parts, I32Buffer step, I32Buffer sinkSlots, int heads,
                               int kvHeads, int headDim, float scale, int kvFormat) {
        ctx.awaitPriorKernels();
        float[] merge = ctx.sharedF32(2 * MAX_GROUP_HEADS);
        int[] last = ctx.sharedI32(1);
        int[] spans = ctx.sharedI32(2 * MAX_GROUP_HEADS);
        int[] slotOf = ctx.sharedI32(GROUPED_SPLIT); // each slot's position, -1 when empty
        int groupHeads = heads / kvHeads, quads = headQuads(groupHeads);
        int tileSlots = stagedSlots(headDim, kvFormat), stride = stagedStride(headDim, kvFormat);
        // sized for the launch's heads, not the most a kernel takes: more groups fit an SM (stagedSharedBytes)
        float[] queries = ctx.sharedDynamicF32(quads * headDim);
        float[] weights = ctx.sharedDynamicF32(quads * GROUPED_SPLIT);
        float[] partial = ctx.sharedDynamicF32(WARPS * quads * headDim);
        int[] stage = ctx.sharedDynamicI32(2 * tileSlots * stride);
        int g = ctx.groupId(0), split = ctx.groupId(1), splits = ctx.groups(1), b = ctx.groupId(2);
        int firstHead = b * heads + g * groupHeads; // heads counted over all rows
        int gi = b * kvHeads + g;
        int first = offsets.get(gi) + split * GROUPED_SPLIT;
        int position = step.get((long) b * Step.SIZE + Step.POSITION);
        int live = CacheLayout.liveSlots(position, sinkSlots.get(b), rings.get(gi)), active = activeSplits(live);
        if (split >= active) return; // slots no position has reached yet: the merge counts the active splits only
        int filled = Math.min(GROUPED_SPLIT, live - split * GROUPED_SPLIT);
        int tiles = (filled + tileSlots - 1) / tileSlots; // of keys, then as many of values
        int t = ctx.localId(), lane = ctx.laneId(), warp = t / KernelContext.WARP;

        // the first two tiles fly while the queries and the slots' positions load
        stageTile(ctx, stage, 0, tiles, tileSlots, stride, first, filled, keyCache, valueCache, keys16, values16, headDim, kvFormat);
        ctx.commitCopies();
        stageTile(ctx, stage, 1, tiles, tileSlots, stride, first, filled, keyCache, valueCache, keys16, values16, headDim, kvFormat);
        ctx.commitCopies();
        long query = (long) b * (heads + 2 * kvHeads) * headDim + (long) g * groupHeads * headDim;
        loadQueries(q, query, scale, queries, quads, headSink, headLocal, spans, firstHead, groupHeads, headDim, t);
        slotOf[t] = t < filled ? slotPositions.get((long) first + t) : -1;
        for (int k = t; k < WARPS * quads * headDim; k += GROUPED) partial[k] = 0f; // value tiles add into it
        for (int i = 0; i < quads; i++) { // past every key tile -inf; the rows of heads past the group's (read, never used) zero
            if (i >= groupHeads) weights[i * GROUPED_SPLIT + t] = 0f;
            else if (t >= tiles * tileSlots) weights[i * GROUPED_SPLIT + t] = Float.NEGATIVE_INFINITY;
        }

        for (int tile = 0; tile < tiles; tile++) {
            ctx.waitCopies(1); // this tile's copies are done; the next tile's may fly
            ctx.barrier();
            if (kvFormat == KvStore.BF16) {
                scoreTile(ctx, stage, tile, tileSlots, stride, slotOf, queries, weights, spans, groupHeads, headDim, KvStore.BF16, position, t);
            } else {
                scoreTile(ctx, stage, tile, tileSlots, stride, slotOf, queries, weights, spans, groupHeads, headDim, KvStore.F32, position, t);
            }
            ctx.barrier(); // the buffer is free again
            stageTile(ctx, stage, tile + 2, tiles, tileSlots, stride, first, filled, keyCache, valueCache, keys16, values16, headDim, kvFormat);
            ctx.commitCopies();
        }
        ctx.barrier();
        softmax(ctx, weights, merge, partialMax, partialSum, firstHead, groupHeads, splits, split, lane, warp);
        ctx.barrier();

        for (int tile = tiles; tile < 2 * tiles; tile++) {
            ctx.waitCopies(1);
            ctx.barrier();
            int from = (tile - tiles) * tileSlots, rows = Math.min(tileSlots, filled - from);
            if (kvFormat == KvStore.BF16) {
                sumTile(ctx, stage, (tile & 1) * tileSlots * stride, stride, weights, partial, quads, from, rows, groupHeads, headDim, KvStore.BF16,
                        lane, warp);
            } else {
                sumTile(ctx, stage, (tile & 1) * tileSlots * stride, stride, weights, partial, quads, from, rows, groupHeads, headDim, KvStore.F32,
                        lane, warp);
            }
            ctx.barrier();
            stageTile(ctx, stage, tile + 2, tiles, tileSlots, stride, first, filled, keyCache, valueCache, keys16, values16, headDim, kvFormat);
            ctx.commitCopies();
        }
        ctx.barrier();
        finishSplit(ctx, partial, quads, merge, last, partialOut, partialMax, partialSum, arrivals, out, high, low, parts, gi, firstHead, groupHeads, headDim, splits,
                active, split);
    }

    /** Query heads rounded up to whole fours: the rows of a grouped kernel's per-head arrays (its loops take four heads at a time). */
    static int headQuads(int groupHeads) {
        return (groupHeads + 3) / 4 * 4;
    }

    /** Whether {@link #decodeStaged} takes a cache of {@code headDim} in {@code kvFormat}: rows of whole 16-byte chunks, a warp's worth at most. */
    public static boolean staged(int headDim, int kvFormat) {
        int rowBytes = headDim * (kvFormat == KvStore.BF16 ? 2 : 4), chunks = rowBytes / 16;
        return headDim <= MAX_HEAD_DIM && rowBytes % 16 == 0 && chunks > 0 && KernelContext.WARP % chunks == 0;
    }

    /** Bytes of keys or values one staged tile holds, padding aside. */
    static final int STAGE_BYTES = 16 * 1024;

    /** Rows of one tile of {@link #decodeStaged}: as many as 16 KB hold, at most a split; a power of two from 32 to 128. */
    static int stagedSlots(int headDim, int kvFormat) {
        return Math.min(GROUPED_SPLIT, STAGE_BYTES / (headDim * (kvFormat == KvStore.BF16 ? 2 : 4)));
    }

    /**
     * Words from one staged row to the next: the row's, and four more for each work-item scoring a row, so that the eight
     * lanes of a 16-byte shared load ({@code ld.shared.v4}) meet eight different groups of four banks when scoring —
     * eight rows at one chunk, four rows at two chunks or two rows at four (rows of 64 words or more, the only ones
     * scored by more than one work-item, are whole bank sweeps, so the padding alone places them). Eight rows at one
     * chunk need an odd number of bank groups from row to row: four more words where it would be even (one-chunk rows).
     */
    static int stagedStride(int headDim, int kvFormat) {
        int share = GROUPED / stagedSlots(headDim, kvFormat), stride = headDim * (kvFormat == KvStore.BF16 ? 2 : 4) / 4 + 4 * share;
        return share == 1 && stride / 4 % 2 == 0 ? stride + 4 : stride;
    }

    /**
     * Dynamic shared memory of a {@link #decodeStaged} launch with {@code groupHeads} query heads per KV group
     * ({@code Grid.withSharedBytes}): its queries, scores and the warps' value sums for that many heads (in fours), and
     * its two tile buffers. On Llama-3.2-1B's heads 43 KB, so five groups fit an SM of 228 KB.
     */
    public static int stagedSharedBytes(int groupHeads, int headDim, int kvFormat) {
        int quads = headQuads(groupHeads);
        return 4 * (quads * headDim + quads * GROUPED_SPLIT + WARPS * quads * headDim + 2 * stagedSlots(headDim, kvFormat) * stagedStride(headDim, kvFormat));
    }

    /**
     * Starts copying tile {@code tile} of a {@link #decodeStaged} split into its buffer ({@code tile % 2}): tiles below
     * {@code tiles} hold keys, the next {@code tiles} values, each of slots {@code (tile mod tiles)·tileSlots …}, filled
     * slots only; past them, nothing. Work-items take the tile's 16-byte chunks in order.
     */
    private static void stageTile(KernelContext ctx, int[] stage, int tile, int tiles, int tileSlots, int stride, int first, int filled,
                                  F32Buffer keyCache, F32Buffer valueCache, Half16Buffer keys16, Half16Buffer values16, int headDim, int kvFormat) {
        if (tile >= 2 * tiles) return;
        boolean keys = tile < tiles;
        int from = (keys ? tile : tile - tiles) * tileSlots, rows = Math.min(tileSlots, filled - from);
        int perChunk = kvFormat == KvStore.BF16 ? 8 : 4, chunks = headDim / perChunk, buffer = (tile & 1) * tileSlots * stride;
        for (int c = ctx.localId(); c < rows * chunks; c += GROUPED) {
            int r = c / chunks, k = c % chunks;
            long source = (long) (first + from + r) * headDim + (long) k * perChunk;
            int at = buffer + r * stride + 4 * k;
            if (kvFormat == KvStore.BF16 && keys) {
                ctx.copyAsync(stage, at, keys16, source);
            } else if (kvFormat == KvStore.BF16) {
                ctx.copyAsync(stage, at, values16, source);
            } else if (keys) {
                ctx.copyAsync(stage, at, keyCache, source);
            } else {
                ctx.copyAsync(stage, at, valueCache, source);
            }
        }
    }

    /**
     * The scores of key tile {@code tile} of a {@link #decodeStaged} split against the group's query heads, four at a
     * time, into {@code weights}: {@code 128 / tileSlots} adjacent work-items per row, each taking every such chunk,
     * their shares summed by shuffles (every lane takes part); then as {@link #score}.
     */
    private static void scoreTile(KernelContext ctx, int[] stage, int tile, int tileSlots, int stride, int[] slotOf, float[] queries,
                                  float[] weights, int[] spans, int groupHeads, int headDim, int kvFormat, int position, int t) {
        int share = GROUPED / tileSlots, r = t / share, part = t % share;
        int j = tile * tileSlots + r, p = slotOf[j], row = (tile & 1) * tileSlots * stride + r * stride;
        int perChunk = kvFormat == KvStore.BF16 ? 8 : 4, mine = headDim / perChunk / share; // (a row has at least as many chunks as work-items)
        for (int i = 0; i < groupHeads; i += 4) {
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            if (p >= 0) {
                int qa = i * headDim, qb = qa + headDim, qc = qb + headDim, qd = qc + headDim;
                KernelContext.unroll(4);
                for (int n = 0; n < mine; n++) {
                    int c = part + n * share;
                    Vec16 k = KernelContext.load4(stage, row + 4 * c);
                    int d = c * perChunk;
                    if (kvFormat == KvStore.BF16) {
                        float k0 = k.bf16(0), k1 = k.bf16(1), k2 = k.bf16(2), k3 = k.bf16(3);
                        float k4 = k.bf16(4), k5 = k.bf16(5), k6 = k.bf16(6), k7 = k.bf16(7);
                        s0 += dot4(queries, qa + d, k0, k1, k2, k3) + dot4(queries, qa + d + 4, k4, k5, k6, k7);
                        s1 += dot4(queries, qb + d, k0, k1, k2, k3) + dot4(queries, qb + d + 4, k4, k5, k6, k7);
                        s2 += dot4(queries, qc + d, k0, k1, k2, k3) + dot4(queries, qc + d + 4, k4, k5, k6, k7);
                        s3 += dot4(queries, qd + d, k0, k1, k2, k3) + dot4(queries, qd + d + 4, k4, k5, k6, k7);
                    } else {
                        float k0 = k.f32(0), k1 = k.f32(1), k2 = k.f32(2), k3 = k.f32(3);
                        s0 += dot4(queries, qa + d, k0, k1, k2, k3);
                        s1 += dot4(queries, qb + d, k0, k1, k2, k3);
                        s2 += dot4(queries, qc + d, k0, k1, k2, k3);
                        s3 += dot4(queries, qd + d, k0, k1, k2, k3);
                    }
                }
            }
            for (int m = 1; m < share; m <<= 1) { // the row's shares: adjacent lanes
                s0 += ctx.shuffleXor(s0, m);
                s1 += ctx.shuffleXor(s1, m);
                s2 += ctx.shuffleXor(s2, m);
                s3 += ctx.shuffleXor(s3, m);
            }
            if (part == 0) {
                score(weights, i, j, p, s0, groupHeads, position, spans);
                score(weights, i + 1, j, p, s1, groupHeads, position, spans);
                score(weights, i + 2, j, p, s2, groupHeads, position, spans);
                score(weights, i + 3, j, p, s3, groupHeads, position, spans);
            }
        }
    }

    /** The dot product of four shared floats from {@code at} (one broadcast load) with {@code x0..x3}. */
    private static float dot4(float[] shared, int at, float x0, float x1, float x2, float x3) {
        Vec16 v = KernelContext.load4(shared, at);
        return v.f32(0) * x0 + v.f32(1) * x1 + v.f32(2) * x2 + v.f32(3) * x3;
    }

    /**
     * Each query head's probability-weighted sum of a staged value tile's {@code rows} rows (slots {@code from …} of the
     * split), added into the warp's share of {@code partial}: as many lanes per row as it has 16-byte chunks, one chunk
     * each, four heads at a time; the warp's rows summed by shuffles.
     */
    private static void sumTile(KernelContext ctx, int[] stage, int buffer, int stride, float[] weights, float[] partial, int partialHeads, int from,
                                int rows, int groupHeads, int headDim, int kvFormat, int lane, int warp) {
        int perChunk = kvFormat == KvStore.BF16 ? 8 : 4, chunks = headDim / perChunk, rowsPerWarp = KernelContext.WARP / chunks;
        int c = lane % chunks, d = c * perChunk, r0 = warp * rowsPerWarp + lane / chunks, pass = WARPS * rowsPerWarp;
        for (int i = 0; i < groupHeads; i += 4) {
            int wa = i * GROUPED_SPLIT + from, wb = wa + GROUPED_SPLIT, wc = wb + GROUPED_SPLIT, wd = wc + GROUPED_SPLIT;
            Vec16 zero = Vec16.ofFloats(0f, 0f, 0f, 0f);
            Vec16 a = zero, bb = zero, cc = zero, e = zero; // heads i..i+3, dimensions d..d+3
            Vec16 a2 = zero, b2 = zero, c2 = zero, e2 = zero; // and d+4..d+7 (BF16 chunks)
            int mine = rows > r0 ? (rows - r0 + pass - 1) / pass : 0;
            KernelContext.unroll(4);
            for (int n = 0; n < mine; n++) {
                int r = r0 + n * pass;
                Vec16 v = KernelContext.load4(stage, buffer + r * stride + 4 * c);
                float pa = weights[wa + r], pb = weights[wb + r], pc = weights[wc + r], pd = weights[wd + r];
                if (kvFormat == KvStore.BF16) {
                    float v0 = v.bf16(0), v1 = v.bf16(1), v2 = v.bf16(2), v3 = v.bf16(3);
                    float v4 = v.bf16(4), v5 = v.bf16(5), v6 = v.bf16(6), v7 = v.bf16(7);
                    a = fma4(a, pa, v0, v1, v2, v3);
                    bb = fma4(bb, pb, v0, v1, v2, v3);
                    cc = fma4(cc, pc, v0, v1, v2, v3);
                    e = fma4(e, pd, v0, v1, v2, v3);
                    a2 = fma4(a2, pa, v4, v5, v6, v7);
                    b2 = fma4(b2, pb, v4, v5, v6, v7);
                    c2 = fma4(c2, pc, v4, v5, v6, v7);
                    e2 = fma4(e2, pd, v4, v5, v6, v7);
                } else {
                    float v0 = v.f32(0), v1 = v.f32(1), v2 = v.f32(2), v3 = v.f32(3);
                    a = fma4(a, pa, v0, v1, v2, v3);
                    bb = fma4(bb, pb, v0, v1, v2, v3);
                    cc = fma4(cc, pc, v0, v1, v2, v3);
                    e = fma4(e, pd, v0, v1, v2, v3);
                }
            }
            for (int m = chunks; m < KernelContext.WARP; m <<= 1) { // the warp's rows: lanes with the same chunk
                a = shuffleSum(ctx, a, m);
                bb = shuffleSum(ctx, bb, m);
                cc = shuffleSum(ctx, cc, m);
                e = shuffleSum(ctx, e, m);
                if (kvFormat == KvStore.BF16) {
                    a2 = shuffleSum(ctx, a2, m);
                    b2 = shuffleSum(ctx, b2, m);
                    c2 = shuffleSum(ctx, c2, m);
                    e2 = shuffleSum(ctx, e2, m);
                }
            }
            if (lane < chunks) {
                int at = (warp * partialHeads + i) * headDim + d;
                addFour(partial, at, a);
                addFour(partial, at + headDim, bb);
                addFour(partial, at + 2 * headDim, cc);
                addFour(partial, at + 3 * headDim, e);
                if (kvFormat == KvStore.BF16) {
                    addFour(partial, at + 4, a2);
                    addFour(partial, at + headDim + 4, b2);
                    addFour(partial, at + 2 * headDim + 4, c2);
                    addFour(partial, at + 3 * headDim + 4, e2);
                }
            }
        }
    }

    /** {@code acc + p·(x0, x1, x2, x3)}. */
    private static Vec16 fma4(Vec16 acc, float p, float x0, float x1, float x2, float x3) {
        return Vec16.ofFloats(acc.f32(0) + p * x0, acc.f32(1) + p * x1, acc.f32(2) + p * x2, acc.f32(3) + p * x3);
    }

    /** Each of four floats plus its value in lane {@code lane ^ mask}. */
    private static Vec16 shuffleSum(KernelContext ctx, Vec16 x, int mask) {
        float x0 = x.f32(0), x1 = x.f32(1), x2 = x.f32(2), x3 = x.f32(3);
        return Vec16.ofFloats(x0 + ctx.shuffleXor(x0, mask), x1 + ctx.shuffleXor(x1, mask), x2 + ctx.shuffleXor(x2, mask),
                x3 + ctx.shuffleXor(x3, mask));
    }

    /** Adds four floats into shared memory at {@code at}. */
    private static void addFour(float[] shared, int at, Vec16 x) {
        Vec16 old = KernelContext.load4(shared, at); // 16 bytes a lane: consecutive lanes' fours share no bank (scalar words 16 bytes apart did)
        KernelContext.store4(shared, at, Vec16.ofFloats(old.f32(0) + x.f32(0), old.f32(1) + x.f32(1), old.f32(2) + x.f32(2), old.f32(3) + x.f32(3)));
    }

    /**
     * The group's query heads, pre-scaled, into {@code queries} ({@code rows} heads of room, zeros past the group's), and
     * their sinks and windows into {@code spans}.
     */
    private static void loadQueries(F32Buffer q, long query, float scale, float[] queries, int rows, I32Buffer headSink, I32Buffer headLocal,
                                    int[] spans, int firstHead, int groupHeads, int headDim, int t) {
        int queryFloats = rows * headDim;
        KernelContext.unroll(4); // the loads in flight together, not one round trip each
        for (int i = t; i < queryFloats; i += GROUPED) {
            queries[i] = i < groupHeads * headDim ? q.get(query + i) * scale : 0f;
        }
        if (t < groupHeads) {
            spans[2 * t] = headSink.get(firstHead + t);
            spans[2 * t + 1] = headLocal.get(firstHead + t);
        }
    }

    /**
     * Softmax statistics of a grouped split: warp w takes heads w, w+4, …, its lanes striding over the split's scores for
     * the maximum m and the sum l of exp(score − m), which replace the scores; m and l go to this split's place, and
     * to {@code merge[2i]}, {@code merge[2i + 1]} for a group that is one split alone ({@link #finishSplit}).
     */
    private static void softmax(KernelContext ctx, float[] weights, float[] merge, F32Buffer partialMax, F32Buffer partialSum, int firstHead, int groupHeads,
                                int splits, int split, int lane, int warp) {
        for (int i = warp; i < groupHeads; i += WARPS) {
            float max = Float.NEGATIVE_INFINITY;
            for (int j = lane; j < GROUPED_SPLIT; j += KernelContext.WARP) max = Math.max(max, weights[i * GROUPED_SPLIT + j]);
            max = ctx.warpMax(max);
            float sum = 0f;
            for (int j = lane; j < GROUPED_SPLIT; j += KernelContext.WARP) {
                float e = max == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(weights[i * GROUPED_SPLIT + j] - max);
                weights[i * GROUPED_SPLIT + j] = e;
                sum += e;
            }
            sum = ctx.warpSum(sum);
            if (lane == 0) {
                long at = (long) (firstHead + i) * splits + split;
                partialMax.set(at, max);
                partialSum.set(at, sum);
                merge[2 * i] = max;
                merge[2 * i + 1] = sum;
            }
        }
    }

    /**
     * The end of a grouped split: the four warps' sums in {@code partial} (each warp's {@code partialHeads} heads of
     * {@code headDim}) added into this split's unnormalised outputs — or, where the group's live slots are this split's
     * alone ({@code active == 1}: every session's first 128 positions), divided by its softmax sums straight into
     * {@code out}, which is what merging one split gives, without the fence, the atomic and the reads back;
     * then the group counts itself in {@code arrivals[gi]}, and the last split of the row's KV group to arrive merges all
     * its splits as {@link #combine} does into {@code out} (or, {@code parts} 1 or 2, as that many BF16 parts into {@code high}, {@code low}): warp w merges the statistics of heads w, w+4, …, then
     * work-items stride over the group's heads × dimensions.
     */
    private static void finishSplit(KernelContext ctx, float[] partial, int partialHeads, float[] merge, int[] last, F32Buffer partialOut, F32Buffer partialMax,
                                    F32Buffer partialSum, I32Buffer arrivals, F32Buffer out, Half16Buffer high, Half16Buffer low, int parts, int gi,
                                    int firstHead, int groupHeads, int headDim, int splits, int active, int split) {
        int t = ctx.localId(), lane = ctx.laneId(), warp = t / KernelContext.WARP;
        if (active == 1) { // the group's live slots are this split's: its sums are the result, with no round trip to merge
            for (int k = t; k < groupHeads * headDim; k += GROUPED) {
                int i = k / headDim, d = k % headDim;
                float acc = 0f;
                for (int w = 0; w < WARPS; w++) acc += partial[(w * partialHeads + i) * headDim + d];
                PipelinedGemm.write(out, high, low, parts, (long) (firstHead + i) * headDim + d, acc / merge[2 * i + 1]); // the merge of one split, bit for bit
            }
            return;
        }
        for (int k = t; k < groupHeads * headDim; k += GROUPED) {
            int i = k / headDim, d = k % headDim;
            float acc = 0f;
            for (int w = 0; w < WARPS; w++) acc += partial[(w * partialHeads + i) * headDim + d];
            partialOut.set(((long) (firstHead + i) * splits + split) * headDim + d, acc);
        }

        // the last split of this row's KV group to finish merges the group's splits: no combine launch
        if (!VectorKernels.lastToArrive(ctx, arrivals, gi, active, last)) return;
        for (int i = warp; i < groupHeads; i += WARPS) {
            long stats = (long) (firstHead + i) * splits;
            float max = Float.NEGATIVE_INFINITY;
            for (int s = lane; s < active; s += KernelContext.WARP) max = Math.max(max, partialMax.get(stats + s));
            max = ctx.warpMax(max);
            float total = ctx.warpSum(mergedSum(partialMax, partialSum, stats, active, lane, KernelContext.WARP, max));
            if (lane == 0) {
                merge[2 * i] = max;
                merge[2 * i + 1] = total;
            }
        }
        ctx.barrier();
        for (int k = t; k < groupHeads * headDim; k += GROUPED) {
            int i = k / headDim, d = k % headDim;
            long head = firstHead + i;
            PipelinedGemm.write(out, high, low, parts, head * headDim + d,
                    mergedValue(partialOut, partialMax, head * splits, active, headDim, d, merge[2 * i]) / merge[2 * i + 1]);
        }
    }

    /**
     * The scores of slot {@code t} of a {@link #decodeGrouped} split (its key at {@code key}, position {@code p}, -1 when
     * empty) against the group's query heads, four at a time, into {@code weights}: the kernel's scoring step, once per
     * cache format.
     */
    private static void scoreSlot(F32Buffer keyCache, Half16Buffer keys16, int kvFormat, long key, int p, int t, float[] queries,
                                  float[] weights, int[] spans, int groupHeads, int headDim, int position) {
        for (int i = 0; i < groupHeads; i += 4) {
            float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
            if (p >= 0) {
                int qa = i * headDim, qb = qa + headDim, qc = qb + headDim, qd = qc + headDim;
                if (headDim % 4 == 0) {
                    KernelContext.unroll(8); // eight 16-byte key loads in flight
                    for (int d = 0; d < headDim; d += 4) {
                        Vec16 k = KvStore.load4(keyCache, keys16, kvFormat, key + d);
                        float k0 = k.f32(0), k1 = k.f32(1), k2 = k.f32(2), k3 = k.f32(3);
                        // each head's four query values in one shared load (all lanes read the same: a broadcast)
                        Vec16 xa = KernelContext.load4(queries, qa + d), xb = KernelContext.load4(queries, qb + d);
                        Vec16 xc = KernelContext.load4(queries, qc + d), xd = KernelContext.load4(queries, qd + d);
                        s0 += xa.f32(0) * k0 + xa.f32(1) * k1 + xa.f32(2) * k2 + xa.f32(3) * k3;
                        s1 += xb.f32(0) * k0 + xb.f32(1) * k1 + xb.f32(2) * k2 + xb.f32(3) * k3;
                        s2 += xc.f32(0) * k0 + xc.f32(1) * k1 + xc.f32(2) * k2 + xc.f32(3) * k3;
                        s3 += xd.f32(0) * k0 + xd.f32(1) * k1 + xd.f32(2) * k2 + xd.f32(3) * k3;
                    }
                } else {
                    KernelContext.unroll(8);
                    for (int d = 0; d < headDim; d++) {
                        float k = KvStore.get(keyCache, keys16, kvFormat, key + d);
                        s0 += queries[qa + d] * k;
                        s1 += queries[qb + d] * k;
                        s2 += queries[qc + d] * k;
                        s3 += queries[qd + d] * k;
                    }
                }
            }
            score(weights, i, t, p, s0, groupHeads, position, spans);
            score(weights, i + 1, t, p, s1, groupHeads, position, spans);
            score(weights, i + 2, t, p, s2, groupHeads, position, spans);
            score(weights, i + 3, t, p, s3, groupHeads, position, spans);
        }
    }

    /**
     * Each query head's probability-weighted sum of the split's values into {@code partial} (per warp): the value step of
     * {@link #decodeGrouped}, once per cache format.
     */
    private static void sumValues(KernelContext ctx, F32Buffer valueCache, Half16Buffer values16, int kvFormat, float[] weights, float[] partial,
                                  int first, int filled, int groupHeads, int headDim, int lane, int warp) {
        int rowLanes = headDim / 4; // lanes reading one value row, 16 bytes each
        boolean wide = headDim % 4 == 0 && KernelContext.WARP % rowLanes == 0;
        for (int i = 0; wide && i < groupHeads; i += 4) {
            int wa = i * GROUPED_SPLIT, wb = wa + GROUPED_SPLIT, wc = wb + GROUPED_SPLIT, wd = wc + GROUPED_SPLIT;
            int rowsPerWarp = KernelContext.WARP / rowLanes, d = lane % rowLanes * 4;
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, b0 = 0f, b1 = 0f, b2 = 0f, b3 = 0f;
            float c0 = 0f, c1 = 0f, c2 = 0f, c3 = 0f, e0 = 0f, e1 = 0f, e2 = 0f, e3 = 0f; // heads i..i+3 x dims d..d+3
            int from = warp * rowsPerWarp + lane / rowLanes, stride = WARPS * rowsPerWarp;
            int rows = filled > from ? (filled - from + stride - 1) / stride : 0;
            KernelContext.unroll(8); // eight value loads in flight per lane
            for (int k = 0; k < rows; k++) {
                int j = from + k * stride;
                Vec16 v = KvStore.load4(valueCache, values16, kvFormat, (long) (first + j) * headDim + d);
                float v0 = v.f32(0), v1 = v.f32(1), v2 = v.f32(2), v3 = v.f32(3);
                float pa = weights[wa + j], pb = weights[wb + j], pc = weights[wc + j], pd = weights[wd + j];
                a0 += pa * v0;
                a1 += pa * v1;
                a2 += pa * v2;
                a3 += pa * v3;
                b0 += pb * v0;
                b1 += pb * v1;
                b2 += pb * v2;
                b3 += pb * v3;
                c0 += pc * v0;
                c1 += pc * v1;
                c2 += pc * v2;
                c3 += pc * v3;
                e0 += pd * v0;
                e1 += pd * v1;
                e2 += pd * v2;
                e3 += pd * v3;
            }
            for (int m = rowLanes; m < KernelContext.WARP; m <<= 1) { // the warp's rows: lanes with the same dims
                a0 += ctx.shuffleXor(a0, m);
                a1 += ctx.shuffleXor(a1, m);
                a2 += ctx.shuffleXor(a2, m);
                a3 += ctx.shuffleXor(a3, m);
                b0 += ctx.shuffleXor(b0, m);
                b1 += ctx.shuffleXor(b1, m);
                b2 += ctx.shuffleXor(b2, m);
                b3 += ctx.shuffleXor(b3, m);
                c0 += ctx.shuffleXor(c0, m);
                c1 += ctx.shuffleXor(c1, m);
                c2 += ctx.shuffleXor(c2, m);
                c3 += ctx.shuffleXor(c3, m);
                e0 += ctx.shuffleXor(e0, m);
                e1 += ctx.shuffleXor(e1, m);
                e2 += ctx.shuffleXor(e2, m);
                e3 += ctx.shuffleXor(e3, m);
            }
            if (lane < rowLanes) {
                int at = (warp * MAX_GROUP_HEADS + i) * headDim + d;
                storeFour(partial, at, a0, a1, a2, a3);
                storeFour(partial, at + headDim, b0, b1, b2, b3);
                storeFour(partial, at + 2 * headDim, c0, c1, c2, c3);
                storeFour(partial, at + 3 * headDim, e0, e1, e2, e3);
            }
        }
        for (int i = 0; !wide && i < groupHeads; i += 4) {
            int wa = i * GROUPED_SPLIT, wb = wa + GROUPED_SPLIT, wc = wb + GROUPED_SPLIT, wd = wc + GROUPED_SPLIT;
            for (int d = lane; d < headDim; d += KernelContext.WARP) {
                float o0 = 0f, o1 = 0f, o2 = 0f, o3 = 0f;
                KernelContext.unroll(8); // eight value rows in flight per lane
                for (int j = warp; j < filled; j += WARPS) {
                    float v = KvStore.get(valueCache, values16, kvFormat, (long) (first + j) * headDim + d);
                    o0 += weights[wa + j] * v;
                    o1 += weights[wb + j] * v;
                    o2 += weights[wc + j] * v;
                    o3 += weights[wd + j] * v;
                }
                int at = (warp * MAX_GROUP_HEADS + i) * headDim + d;
                partial[at] = o0;
                partial[at + headDim] = o1;
                partial[at + 2 * headDim] = o2;
                partial[at + 3 * headDim] = o3;
            }
        }
    }

    /**
     * Stores query head {@code i}'s score of slot {@code j} (which holds position {@code p}, -1 when empty): -inf
     * where the slot is empty or not visible to the head (its sink and window in {@code spans[2i]}, {@code spans[2i+1]});
     * nothing for {@code i} past the group's heads.
     */
    private static void score(float[] weights, int i, int j, int p, float dot, int groupHeads, int position, int[] spans) {
        if (i >= groupHeads) return;
        boolean seen = p >= 0 && CacheLayout.visible(p, position, spans[2 * i], spans[2 * i + 1]);
        weights[i * GROUPED_SPLIT + j] = seen ? dot : Float.NEGATIVE_INFINITY;
    }

    /** Four consecutive floats into shared memory at {@code at}. */
    private static void storeFour(float[] shared, int at, float x0, float x1, float x2, float x3) {
        KernelContext.store4(shared, at, Vec16.ofFloats(x0, x1, x2, x3)); // one 16-byte store: no bank conflicts between lanes
    }

    /**
     * Merges the splits of each query head: {@code out = Σ_s e^(m_s - M) o_s / Σ_s e^(m_s - M) l_s} with M the
     * largest m_s. One group per head and batch row ({@code groupId(1)}: heads are counted over all rows, as the
     * split kernels write them); work-items stride over the dimensions. Launch {@code Grid.of(heads, rows, GROUP)}.
     */
    public static void combine(KernelContext ctx, F32Buffer partialOut, F32Buffer partialMax, F32Buffer partialSum,
                               F32Buffer out, int splits, @Specialize int headDim) {
        ctx.awaitPriorKernels();
        long head = (long) ctx.groupId(1) * ctx.groups(0) + ctx.groupId(0);
        long stats = head * splits;
        float max = Float.NEGATIVE_INFINITY;
        for (int s = 0; s < splits; s++) max = Math.max(max, partialMax.get(stats + s));
        float total = mergedSum(partialMax, partialSum, stats, splits, 0, 1, max);
        for (int d = ctx.localId(); d < headDim; d += GROUP) {
            out.set((long) head * headDim + d, mergedValue(partialOut, partialMax, stats, splits, headDim, d, max) / total);
        }
    }

    /**
     * {@code Σ_s e^(m_s - max) l_s} over splits {@code from, from + stride, …} of the head whose statistics start at
     * {@code stats}; a split that saw no slot ({@code m_s = -inf}) adds nothing.
     */
    static float mergedSum(F32Buffer partialMax, F32Buffer partialSum, long stats, int splits, int from, int stride, float max) {
        float total = 0f;
        for (int s = from; s < splits; s += stride) {
            float m = partialMax.get(stats + s);
            if (m != Float.NEGATIVE_INFINITY) total += (float) Math.exp(m - max) * partialSum.get(stats + s);
        }
        return total;
    }

    /** {@code Σ_s e^(m_s - max) o_s[d]} over the first {@code splits} splits of the head whose statistics start at {@code stats}. */
    static float mergedValue(F32Buffer partialOut, F32Buffer partialMax, long stats, int splits, int headDim, int d, float max) {
        float acc = 0f;
        KernelContext.unroll(4);
        for (int s = 0; s < splits; s++) {
            float m = partialMax.get(stats + s);
            if (m != Float.NEGATIVE_INFINITY) acc += (float) Math.exp(m - max) * partialOut.get((stats + s) * headDim + d);
        }
        return acc;
    }
}
