package dev.moa.tasks.kernels;

import dev.moa.plans.BlockBand;
import dev.moa.plans.CacheLayout;
import dev.moa.plans.ElasticRule;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Specialize;
import dev.moa.tasks.kernel.Vec16;

/**
 * Prefill attention over a prompt, flash-attention style (online softmax, keys and values staged in shared memory
 * once for a block of queries), visiting only what MoA keeps: query block m of 64 tokens reads key block 0 (the
 * sink) and the band of {@link BlockBand} blocks ending at its own block, the same rule the CPU's block-sparse
 * prefill and the plan optimiser ask ({@code plans.BlockBand}); inside them the token-causal mask. A prompt of at
 * most 64 tokens is dense and causal, as on the CPU. Dense attention is the band that covers every block. Two
 * kernels do it: {@link #blockSparse} with FFMA on any head size, {@link #blockSparseTensor} on the tensor cores.
 * Both take a chunk of the prompt's queries against the keys and values {@link #rope} staged for every position so
 * far, so a long prompt runs in chunks.
 */
public final class PrefillKernels {
    /** Query rows per group. */
    public static final int QUERIES = 32;
    /** Keys staged per step. */
    public static final int KEYS = 16;
    /** Work-items per group: four per query row. */
    public static final int GROUP = 128;
    /** The widest head the kernel stages. */
    public static final int MAX_HEAD_DIM = 128;
    private static final int PARTS = GROUP / QUERIES;
    /**
     * Floats between staged key rows: a multiple of 4 (rows 16-byte aligned for {@link KernelContext#load4}) and
     * 4 mod 32 in banks, so the four keys a warp's parts read at once start in four different banks.
     */
    private static final int K_STRIDE = MAX_HEAD_DIM + 4;
    private static final int BLOCK = ElasticRule.BLOCK;
    /** {@link #blockSparseTensor}: queries per group (one 64-token block, 16 per warp) and keys per tile step (one block). */
    private static final int TC_ROWS = 64;
    /** {@link #blockSparseTensor}'s work-items per group: four warps. */
    public static final int TC_GROUP = 128;
    /** log2(e): {@link #blockSparseTensor} scales its scores by it so that each exponential is one {@code ex2}. */
    private static final float LOG2_E = 1.442695f;

    private PrefillKernels() {
    }

    /**
     * {@link #blockSparse}'s launch for a chunk of {@code count} prompt tokens and {@code heads} query heads: a group per
     * ({@value #QUERIES}-query group, head), in the order its schedule gives ({@link #longestFirst}{@code (…, QUERIES)}).
     */
    public static Grid grid(int count, int heads) {
        return Grid.of((count + QUERIES - 1) / QUERIES * heads, GROUP);
    }

    /**
     * RoPE (rotate-half) on a chunk of prompt tokens' query and key heads, in place in {@code qkv} (the chunk's rows of
     * {@code stride} floats, laid out as for {@link #blockSparse}); the chunk's row r is the token at position
     * {@code start + r}. Every token's rotated key and value go into {@code kv}, the prompt's keys and values of this
     * layer (row p of {@code 2·kvHeads·headDim} floats: key heads, then value heads), as the cache's format stores them
     * ({@link KvStore#asStored}: BF16-rounded for a BF16 cache), which is what the prompt's attention reads, so it
     * attends to what decode will. The keys and values a session's MoA cache keeps once the prompt is in — positions
     * before {@code sinkSlots} and from {@code firstKept[g]} on ({@code CacheLayout.firstKept} of the whole prompt), the
     * ring's last {@code rings[g]} positions — also go to their slots ({@code CacheLayout.slotOf}) of KV group g, which
     * start at slot {@code offsets[g]}, in {@code kvFormat} ({@link KvStore}); positions that a later one would
     * overwrite are never written, so no two tokens race for a slot. One group per (head, token): groups
     * {@code 0..heads-1} rotate query heads, the next {@code kvHeads} rotate key heads and store them with their
     * values; work-items stride over the rotation pairs, each storing the pairs it rotated. Launch
     * {@code Grid.of(heads + kvHeads, count, GROUP)}.
     */
    public static void rope(KernelContext ctx, F32Buffer qkv, F32Buffer cos, F32Buffer sin, F32Buffer keyCache, F32Buffer valueCache,
                            Half16Buffer keys16, Half16Buffer values16, F32Buffer kv, I32Buffer offsets, I32Buffer rings, I32Buffer firstKept,
                            int sinkSlots, @Specialize int heads, @Specialize int kvHeads, @Specialize int headDim, @Specialize int stride,
                            int start, @Specialize int kvFormat) {
        ropeBody(ctx, qkv, cos, sin, keyCache, valueCache, keys16, values16, kv, null, 0L, offsets, rings, firstKept, sinkSlots, heads, kvHeads, headDim,
                stride, start, kvFormat, false);
    }

    /**
     * As {@link #rope}, the prompt's keys and values staged for {@link #blockSparseTensor} straight away: split into
     * {@code kv16} as {@link #splitKeysValues} splits {@link #rope}'s floats ({@code kv16[e]} the BF16 rounding of what
     * {@code kv[e]} would hold, {@code kv16[low + e]} the rounding of what that left; the same bits), so the prompt holds
     * no float copy of its keys and values (on Llama-3.2-1B 4 KB a token of the whole prompt) and the split's pass and
     * launch are gone. The same launch.
     */
    public static void ropeSplit(KernelContext ctx, F32Buffer qkv, F32Buffer cos, F32Buffer sin, F32Buffer keyCache, F32Buffer valueCache,
                                 Half16Buffer keys16, Half16Buffer values16, Half16Buffer kv16, long low, I32Buffer offsets, I32Buffer rings,
                                 I32Buffer firstKept, int sinkSlots, @Specialize int heads, @Specialize int kvHeads, @Specialize int headDim,
                                 @Specialize int stride, int start, @Specialize int kvFormat) {
        ropeBody(ctx, qkv, cos, sin, keyCache, valueCache, keys16, values16, null, kv16, low, offsets, rings, firstKept, sinkSlots, heads, kvHeads, headDim,
                stride, start, kvFormat, true);
    }

    /** {@link #rope} ({@code split} false: the staged keys and values as floats in {@code kv}) and {@link #ropeSplit} (as parts in {@code kv16}). */
    private static void ropeBody(KernelContext ctx, F32Buffer qkv, F32Buffer cos, F32Buffer sin, F32Buffer keyCache, F32Buffer valueCache,
                                 Half16Buffer keys16, Half16Buffer values16, F32Buffer kv, Half16Buffer kv16, long low, I32Buffer offsets,
                                 I32Buffer rings, I32Buffer firstKept, int sinkSlots, int heads, int kvHeads, int headDim, int stride, int start,
                                 int kvFormat, boolean split) {
        ctx.awaitPriorKernels();
        int head = ctx.groupId(0), token = start + ctx.groupId(1), half = headDim / 2;
        long angles = (long) token * half, row = (long) ctx.groupId(1) * stride;
        long base = row + (long) head * headDim; // query heads, then key heads: the same offsets
        for (int i = ctx.localId(); i < half; i += GROUP) {
            AttentionKernels.rotate(qkv, base, i, half, cos.get(angles + i), sin.get(angles + i), qkv, keys16, KvStore.F32, base);
        }
        if (head < heads) return;
        int g = head - heads, kvDim = kvHeads * headDim;
        long value = row + (long) (heads + kvHeads + g) * headDim;
        long key = (long) token * 2 * kvDim + (long) g * headDim, staged = key + kvDim;
        for (int i = ctx.localId(); i < half; i += GROUP) {
            stage(kv, kv16, low, split, key + i, KvStore.asStored(qkv.get(base + i), kvFormat));
            stage(kv, kv16, low, split, key + i + half, KvStore.asStored(qkv.get(base + i + half), kvFormat));
            stage(kv, kv16, low, split, staged + i, KvStore.asStored(qkv.get(value + i), kvFormat));
            stage(kv, kv16, low, split, staged + i + half, KvStore.asStored(qkv.get(value + i + half), kvFormat));
        }
        int slot = CacheLayout.slotOf(token, sinkSlots, rings.get(g));
        if (slot < 0 || (token >= sinkSlots && token < firstKept.get(g))) return; // not kept once the prompt is in
        long at = (long) (offsets.get(g) + slot) * headDim;
        for (int i = ctx.localId(); i < half; i += GROUP) {
            KvStore.set(keyCache, keys16, kvFormat, at + i, qkv.get(base + i));
            KvStore.set(keyCache, keys16, kvFormat, at + i + half, qkv.get(base + i + half));
            KvStore.set(valueCache, values16, kvFormat, at + i, qkv.get(value + i));
            KvStore.set(valueCache, values16, kvFormat, at + i + half, qkv.get(value + i + half));
        }
    }

    /** Element {@code e} of the prompt's staged keys and values: {@code x} into {@code kv}, or its two BF16 parts into {@code kv16} ({@code split}). */
    private static void stage(F32Buffer kv, Half16Buffer kv16, long low, boolean split, long e, float x) {
        if (split) {
            splitInto(kv16, low, e, x);
        } else {
            kv.set(e, x);
        }
    }

    /** {@code kv16[e]} = the BF16 rounding of {@code x}, {@code kv16[low + e]} = the rounding of what that left: the tensor-core attention's parts. */
    private static void splitInto(Half16Buffer kv16, long low, long e, float x) {
        short high = KernelContext.floatToBf16(x);
        kv16.set(e, high);
        kv16.set(low + e, KernelContext.floatToBf16(x - KernelContext.bf16ToFloat(high)));
    }

    /**
     * Whether {@link #blockSparseTensor} takes heads of {@code headDim}: a multiple of 8 (a row of BF16 keys or values
     * is whole 16-byte pieces, which it copies), at most 128.
     */
    public static boolean tensorTakes(int headDim) {
        return headDim % 8 == 0 && headDim <= MAX_HEAD_DIM;
    }

    /**
     * {@link #blockSparseTensor}'s launch for a chunk of {@code count} prompt tokens and {@code heads} query heads: a
     * group per (64-query block, head), in the order its {@code schedule} gives ({@link #longestFirst}).
     */
    public static Grid tensorGrid(int count, int heads, int headDim) {
        return Grid.of((count + TC_ROWS - 1) / TC_ROWS * heads, TC_GROUP).withSharedBytes(tensorSharedBytes(headDim));
    }

    /** The first band block query block {@code block} of a {@code tokens}-token prompt sees with a band of {@code band} blocks (block 0 its sink). */
    private static int bandFirst(int block, int band, int tokens) {
        return tokens <= BLOCK ? 1 : BlockBand.firstBandBlock(block, band);
    }

    /** Key tiles a query block sees: the sink block, then the band's blocks from {@code bandFirst} up to its own. */
    private static int tiles(int block, int bandFirst) {
        return 1 + (block >= bandFirst ? block - bandFirst + 1 : 0);
    }

    /** The largest of each of {@link #longestFirst}'s three sort-key fields (21 bits). */
    private static final long KEY = (1 << 21) - 1;

    /**
     * The order in which {@link #blockSparseTensor}'s groups take a chunk's work, {@code count} queries from
     * {@code start} of a {@code tokens}-token prompt: items {@code queryBlock·heads + head}, the most key tiles first
     * (ties: later query blocks, then lower heads, so a KV group's heads run side by side). Groups start in launch
     * order, each taking the next item when an SM frees, so the longest go first and the last wave is short ones — where
     * in block order a causal prompt's most expensive blocks (and a dense head's, beside a MoA plan's short bands) came
     * last and ran alone: by simulation of 528 resident groups (four an SM of an H100) over a 4096-token chunk of the
     * 1B shapes, 1.11–1.33× the balanced time dense and 1.4–1.6× with mixed bands, against 1.01–1.03× this way.
     */
    public static int[] longestFirst(int start, int count, int tokens, int heads, int[] bands) {
        return longestFirst(start, count, tokens, heads, bands, TC_ROWS);
    }

    /**
     * {@link #longestFirst} over items of {@code queries} queries ({@link #blockSparse}'s groups of {@value #QUERIES};
     * 64 for the tensor-core kernel), each costed by its 64-token block's key tiles.
     */
    public static int[] longestFirst(int start, int count, int tokens, int heads, int[] bands, int queries) {
        if (heads > KEY || (count + queries - 1) / queries > KEY || (start + count) / BLOCK >= KEY) {
            throw new IllegalArgumentException(heads + " heads over " + (start + count) + " tokens: past what a schedule key holds");
        }
        int blocks = (count + queries - 1) / queries;
        // sort keys of 21 bits each, ascending: fewer tiles last, then earlier blocks, then higher heads (a 128k-token
        // prompt's chunks are 64 blocks of up to 2048 tiles; heads below 2^21)
        long[] keys = new long[blocks * heads];
        for (int i = 0; i < blocks; i++) {
            int block = (start + i * queries) / BLOCK;
            for (int h = 0; h < heads; h++) {
                long tiles = tiles(block, bandFirst(block, bands[h], tokens));
                keys[i * heads + h] = (KEY - tiles) << 42 | (KEY - i) << 21 | h;
            }
        }
        java.util.Arrays.sort(keys); // primitives: a 128k-token prompt's layer (65,536 items) in a few milliseconds
        int[] order = new int[keys.length];
        for (int k = 0; k < order.length; k++) order[k] = (int) ((KEY - (keys[k] >>> 21 & KEY)) * heads + (keys[k] & KEY));
        return order;
    }

    /** Dynamic shared memory one group of {@link #blockSparseTensor} needs at {@code headDim} (54 KB at 64, 102 KB at 128). */
    public static int tensorSharedBytes(int headDim) {
        return 4 * tensorWords(headDim);
    }

    /** Head dimensions as the tensor cores take them: a multiple of 16 (the product's k), zeros past the head's. */
    private static int paddedDims(int headDim) {
        return (headDim + 15) / 16 * 16;
    }

    /** Words of a Q or K row in shared memory (BF16 pairs of the padded dims, +4 so ldmatrix rows spread over banks). */
    private static int rowWords(int headDim) {
        return paddedDims(headDim) / 2 + 4;
    }

    /** {@link #blockSparseTensor}'s dynamic shared words: Q, K and V (64 rows each), each split in two parts. */
    private static int tensorWords(int headDim) {
        return 6 * TC_ROWS * rowWords(headDim);
    }

    /**
     * Elements of each of {@link #splitKeysValues}' two parts for a {@code tokens}-token prompt of {@code kvRow} keys
     * and values a token (the second part starts there): the prompt's rows rounded up to whole 64-token blocks, as
     * {@link #blockSparseTensor} copies whole tiles; the rows past the prompt are never read (their copies read nothing).
     */
    public static long splitPart(int tokens, int kvRow) {
        return (long) ((tokens + BLOCK - 1) / BLOCK) * BLOCK * kvRow;
    }

    /**
     * A prompt's keys and values, as {@link #rope} staged them in {@code kv} (F32), split for {@link #blockSparseTensor}:
     * for elements {@code [from, from + count)}, {@code kv16[e]} = the BF16 rounding of {@code kv[e]} and
     * {@code kv16[low + e]} = the BF16 rounding of what that left, the two parts the tensor cores multiply, split once
     * rather than by every group that reads a tile. The model's prompts stage their keys and values so split in
     * {@link #ropeSplit} itself; this pass is the device check's ({@link TensorCoreCheck}) and the benchmark's, over
     * keys and values they make as floats. {@code kv16} holds two parts of
     * {@link #splitPart} elements, {@code low} the first's length. One element per work-item; launch
     * {@code Grid.covering(count, GROUP)}.
     */
    public static void splitKeysValues(KernelContext ctx, F32Buffer kv, Half16Buffer kv16, long low, long from, int count) {
        ctx.awaitPriorKernels();
        int i = ctx.globalId();
        if (i >= count) return;
        splitInto(kv16, low, from + i, kv.get(from + i));
    }

    /**
     * {@link #blockSparse} on the tensor cores ({@link KernelContext#mmaBf16}, m16n8k16), flash-attention 2 style:
     * group k takes item {@code i·heads + h = schedule[scheduleAt + k]} ({@link #longestFirst}: each of the chunk's
     * query blocks and heads once): query head h for the chunk's 64 queries {@code [64i, +64)} (one 64-token block,
     * as {@code start} is a multiple of 64), warp w its 16 queries {@code 16w…}; {@link #blockSparse}'s other arguments, the same keys seen
     * (block 0, then the band's blocks up to the query's own, causal inside it). Per 64-key tile the group copies K
     * and V (a row per key) into shared memory asynchronously, without a branch ({@link #copyRows}): a tile's values
     * travel while its scores are computed, the next tile's keys while its P·V is; each warp computes its 16 × 64
     * scores S = Q·Kᵀ as eight 16×8 products per 16 dimensions, masks and scales them, keeps each row's running maximum
     * and (per lane, summed across the row's four lanes once at the end) its sum of exponentials, rescales its output
     * and adds P·V, P's A fragments made from its score registers (an S block's C fragment is the A fragment's layout,
     * pairwise, as in flash-attention 2: P never goes through shared memory), V's rows read transposed ({@link KernelContext#loadMatrixTransposed}) as B fragments. Q, K, V and P are F32 and the tensor core
     * reads BF16, so each is split into a BF16 part and the BF16 rounding of what remains — K and V once a chunk, by
     * {@link #splitKeysValues} into {@code kv} (the second parts {@code low} elements after the first), Q and P here —
     * and a product takes the three terms hi·hi + lo·hi + hi·lo (lo·lo, about 2⁻¹⁸ of a product, is left out): the
     * scores and outputs keep about 16 bits, within 1e-4 of the F32 kernel. Each lane holds, for rows g = lane / 4
     * and g + 8 of its warp, the columns {@code 2(lane % 4)}, +1 of every 8-wide block (MatrixFragments). Head dims
     * are padded with zeros to a multiple of 16. Launch {@link #tensorGrid}; needs {@link #tensorTakes} and sm_80.
     */
    public static void blockSparseTensor(KernelContext ctx, F32Buffer qkv, Half16Buffer kv, long low, F32Buffer out, I32Buffer bands, I32Buffer schedule, int scheduleAt, int start,
                                         int count, int tokens, @Specialize int heads, @Specialize int kvHeads, @Specialize int headDim,
                                         @Specialize int stride, float scale) {
        tensorAttention(ctx, qkv, kv, low, out, null, null, 0, bands, schedule, scheduleAt, start, count, tokens, heads, kvHeads, headDim, stride, scale, true);
    }

    /**
     * As {@link #blockSparseTensor}, its output written as the two BF16 parts the output projection reads
     * ({@link PipelinedGemm#writeParts}: {@code high} each float's rounding, {@code low} the rounding of what that left),
     * not as floats: the prompt's F32 output and the launch that split it go. The same launch.
     */
    public static void blockSparseTensorParts(KernelContext ctx, F32Buffer qkv, Half16Buffer kv, long low, Half16Buffer high, Half16Buffer lowParts,
                                              I32Buffer bands, I32Buffer schedule, int scheduleAt, int start, int count, int tokens, @Specialize int heads, @Specialize int kvHeads,
                                              @Specialize int headDim, @Specialize int stride, float scale) {
        tensorAttention(ctx, qkv, kv, low, null, high, lowParts, 2, bands, schedule, scheduleAt, start, count, tokens, heads, kvHeads, headDim, stride, scale, true);
    }

    /**
     * As {@link #blockSparseTensor} with Q, K, V and P each rounded to BF16 once instead of split in two parts: one
     * tensor-core product where that kernel takes three (flash-attention 2's bf16 arithmetic, what PyTorch's bf16
     * attention computes; about 8 bits a product, so outputs within about 1e-2 of the F32 kernel). The same arguments
     * and launch; {@code kv}'s second parts are not read.
     */
    public static void blockSparseTensorRounded(KernelContext ctx, F32Buffer qkv, Half16Buffer kv, long low, F32Buffer out, I32Buffer bands, I32Buffer schedule, int scheduleAt,
                                                int start, int count, int tokens, @Specialize int heads, @Specialize int kvHeads,
                                                @Specialize int headDim, @Specialize int stride, float scale) {
        tensorAttention(ctx, qkv, kv, low, out, null, null, 0, bands, schedule, scheduleAt, start, count, tokens, heads, kvHeads, headDim, stride, scale, false);
    }

    /** As {@link #blockSparseTensorRounded}, its output written rounded to BF16 into {@code high} (one part) instead of as floats. */
    public static void blockSparseTensorRoundedParts(KernelContext ctx, F32Buffer qkv, Half16Buffer kv, long low, Half16Buffer high, I32Buffer bands, I32Buffer schedule, int scheduleAt,
                                                     int start, int count, int tokens, @Specialize int heads, @Specialize int kvHeads,
                                                     @Specialize int headDim, @Specialize int stride, float scale) {
        tensorAttention(ctx, qkv, kv, low, null, high, high, 1, bands, schedule, scheduleAt, start, count, tokens, heads, kvHeads, headDim, stride, scale, false);
    }

    /**
     * The body of {@link #blockSparseTensor} ({@code split}: each operand in two BF16 parts, three products) and {@link
     * #blockSparseTensorRounded} (one part, one product), writing floats to {@code out} ({@code parts} 0) or that many
     * BF16 parts to {@code high}, {@code lowParts}; each entry passes its constants, so each compiles to its own alone.
     */
    private static void tensorAttention(KernelContext ctx, F32Buffer qkv, Half16Buffer kv, long low, F32Buffer out, Half16Buffer high,
                                        Half16Buffer lowParts, int parts, I32Buffer bands, I32Buffer schedule, int scheduleAt, int start, int count, int tokens, int heads, int kvHeads,
                                        int headDim, int stride, float scale, boolean split) {
        ctx.awaitPriorKernels();
        int dims = paddedDims(headDim), words = rowWords(headDim);
        int[] sh = ctx.sharedDynamicI32(tensorWords(headDim));
        int qHigh = 0, qLow = TC_ROWS * words, kHigh = 2 * TC_ROWS * words, kLow = 3 * TC_ROWS * words;
        int vHigh = 4 * TC_ROWS * words, vLow = 5 * TC_ROWS * words;
        int t = ctx.localId(), lane = ctx.laneId(), warp = t / KernelContext.WARP, g = lane / 4, c = lane % 4;
        int item = schedule.get(scheduleAt + ctx.groupId(0)); // (query block, head): the longest first (longestFirst)
        int head = item % heads, kvHead = head / (heads / kvHeads);
        int first = start + item / heads * TC_ROWS, end = start + count, block = first / BLOCK;
        int kvStride = 2 * kvHeads * headDim;
        long keys = (long) kvHead * headDim, values = keys + (long) kvHeads * headDim;
        // the row each lane names to ldmatrix (as in GemmKernels.bf16Tensor): A rows of this warp's 16, B rows of a 16-row pair of blocks
        int aRow = warp * 16 + lane % 8 + 8 * (lane / 8 % 2), aWord = 4 * (lane / 16);
        int bRow = lane % 8 + 8 * (lane / 16), bWord = 4 * (lane / 8 % 2);
        // and for V, a row per key, loaded transposed (B of P·V wants columns): rows of keys 0–7 and 8–15 of 16, dims 8 on for matrices 2 and 3
        int vRow = lane % 8 + 8 * (lane / 8 % 2), vWord = 4 * (lane / 16);
        int rowA = first + warp * 16 + g, rowB = rowA + 8; // the queries of this lane's scores and outputs

        // the group's 64 queries, split, once (row first - start of the chunk's q/k/v on)
        stageRows(sh, qHigh, qLow, words, qkv, (long) (first - start) * stride + (long) head * headDim, stride, Math.min(TC_ROWS, end - first),
                headDim, dims, t, split);
        // key tiles: block 0 (the sink, or the whole of a prompt of one block), then the band's blocks up to this one
        int bandFirst = bandFirst(block, bands.get(head), tokens), tiles = tiles(block, bandFirst);
        // scores in log2 units (times scale·log2(e)), so that an exponential is one ex2; each row's running maximum in
        // them, and each lane's share of the row's sum of exponentials
        float scale2 = scale * LOG2_E;
        float maxA = Float.NEGATIVE_INFINITY, maxB = Float.NEGATIVE_INFINITY, sumA = 0f, sumB = 0f;
        Vec16 zero = Vec16.ofFloats(0f, 0f, 0f, 0f);
        Vec16 o0 = zero, o1 = zero, o2 = zero, o3 = zero, o4 = zero, o5 = zero, o6 = zero, o7 = zero; // dims 8n…8n+7
        Vec16 o8 = zero, o9 = zero, o10 = zero, o11 = zero, o12 = zero, o13 = zero, o14 = zero, o15 = zero;
        copyRows(ctx, sh, kHigh, kLow, words, kv, low, keys, kvStride, Math.min(TC_ROWS, end), headDim, dims, t, split); // the first tile's keys
        ctx.commitCopies();
        for (int tile = 0; tile < tiles; tile++) {
            int key0 = (tile == 0 ? 0 : bandFirst + tile - 1) * BLOCK;
            ctx.waitCopies(0); // this tile's keys are in
            ctx.barrier(); // everyone's, and the queries; the last tile's P and V are read
            // its values travel while the scores are computed
            copyRows(ctx, sh, vHigh, vLow, words, kv, low, (long) key0 * kvStride + values, kvStride, Math.min(TC_ROWS, end - key0), headDim, dims,
                    t, split);
            ctx.commitCopies();

            // S = Q·Kᵀ: 16 queries × 64 keys, keys 8j… in s_j
            Vec16 s0 = zero, s1 = zero, s2 = zero, s3 = zero, s4 = zero, s5 = zero, s6 = zero, s7 = zero;
            for (int kd = 0; kd < dims; kd += 16) {
                int a = aRow * words + kd / 2 + aWord, b = bRow * words + kd / 2 + bWord;
                Vec16 aH = ctx.loadMatrix(sh, qHigh + a), aL = ctx.loadMatrix(sh, qLow + a);
                Vec16 bH = ctx.loadMatrix(sh, kHigh + b), bL = ctx.loadMatrix(sh, kLow + b);
                s0 = product(ctx, aH, aL, bH, bL, 0, s0, split);
                s1 = product(ctx, aH, aL, bH, bL, 1, s1, split);
                bH = ctx.loadMatrix(sh, kHigh + b + 16 * words);
                bL = ctx.loadMatrix(sh, kLow + b + 16 * words);
                s2 = product(ctx, aH, aL, bH, bL, 0, s2, split);
                s3 = product(ctx, aH, aL, bH, bL, 1, s3, split);
                bH = ctx.loadMatrix(sh, kHigh + b + 32 * words);
                bL = ctx.loadMatrix(sh, kLow + b + 32 * words);
                s4 = product(ctx, aH, aL, bH, bL, 0, s4, split);
                s5 = product(ctx, aH, aL, bH, bL, 1, s5, split);
                bH = ctx.loadMatrix(sh, kHigh + b + 48 * words);
                bL = ctx.loadMatrix(sh, kLow + b + 48 * words);
                s6 = product(ctx, aH, aL, bH, bL, 0, s6, split);
                s7 = product(ctx, aH, aL, bH, bL, 1, s7, split);
            }
            // masked (causal, the chunk's end) in the group's own block only — a tile before it is seen whole by every
            // query, and it is the last tile — then each row's maximum over its four lanes, scaled (as scale2 > 0, the
            // maximum of the scaled scores), which the exponentials subtract from each scaled score in one fma
            if (key0 + TC_ROWS > first) {
                int col = key0 + 2 * c;
                s0 = masked(s0, col, rowA, rowB, end);
                s1 = masked(s1, col + 8, rowA, rowB, end);
                s2 = masked(s2, col + 16, rowA, rowB, end);
                s3 = masked(s3, col + 24, rowA, rowB, end);
                s4 = masked(s4, col + 32, rowA, rowB, end);
                s5 = masked(s5, col + 40, rowA, rowB, end);
                s6 = masked(s6, col + 48, rowA, rowB, end);
                s7 = masked(s7, col + 56, rowA, rowB, end);
            }
            float tileA = Math.max(Math.max(Math.max(rowMax(s0, 0), rowMax(s1, 0)), Math.max(rowMax(s2, 0), rowMax(s3, 0))),
                    Math.max(Math.max(rowMax(s4, 0), rowMax(s5, 0)), Math.max(rowMax(s6, 0), rowMax(s7, 0))));
            float tileB = Math.max(Math.max(Math.max(rowMax(s0, 2), rowMax(s1, 2)), Math.max(rowMax(s2, 2), rowMax(s3, 2))),
                    Math.max(Math.max(rowMax(s4, 2), rowMax(s5, 2)), Math.max(rowMax(s6, 2), rowMax(s7, 2))));
            tileA = Math.max(tileA, ctx.shuffleXor(tileA, 1));
            tileA = Math.max(tileA, ctx.shuffleXor(tileA, 2));
            tileB = Math.max(tileB, ctx.shuffleXor(tileB, 1));
            tileB = Math.max(tileB, ctx.shuffleXor(tileB, 2));
            float nextA = Math.max(maxA, tileA * scale2), nextB = Math.max(maxB, tileB * scale2);
            // what the exponentials subtract: the new maximum, or 0 for a row that has seen only hidden keys so far (its
            // maximum -inf), whose exponentials are then 0 rather than NaN; and the factor rescaling what a row summed
            float subA = nextA == Float.NEGATIVE_INFINITY ? 0f : nextA, subB = nextB == Float.NEGATIVE_INFINITY ? 0f : nextB;
            float keepA = KernelContext.exp2(maxA - subA), keepB = KernelContext.exp2(maxB - subB);
            maxA = nextA;
            maxB = nextB;
            // P = 2^(S - max), summed per lane
            float tileSumA = 0f, tileSumB = 0f;
            s0 = exponentials(s0, scale2, subA, subB);
            s1 = exponentials(s1, scale2, subA, subB);
            s2 = exponentials(s2, scale2, subA, subB);
            s3 = exponentials(s3, scale2, subA, subB);
            s4 = exponentials(s4, scale2, subA, subB);
            s5 = exponentials(s5, scale2, subA, subB);
            s6 = exponentials(s6, scale2, subA, subB);
            s7 = exponentials(s7, scale2, subA, subB);
            tileSumA = s0.f32(0) + s0.f32(1) + s1.f32(0) + s1.f32(1) + s2.f32(0) + s2.f32(1) + s3.f32(0) + s3.f32(1)
                    + s4.f32(0) + s4.f32(1) + s5.f32(0) + s5.f32(1) + s6.f32(0) + s6.f32(1) + s7.f32(0) + s7.f32(1);
            tileSumB = s0.f32(2) + s0.f32(3) + s1.f32(2) + s1.f32(3) + s2.f32(2) + s2.f32(3) + s3.f32(2) + s3.f32(3)
                    + s4.f32(2) + s4.f32(3) + s5.f32(2) + s5.f32(3) + s6.f32(2) + s6.f32(3) + s7.f32(2) + s7.f32(3);
            sumA = sumA * keepA + tileSumA;
            sumB = sumB * keepB + tileSumB;
            // P's A fragments for keys 16m…16m+15, split, from the scores of 8-key blocks 2m and 2m + 1
            Vec16 p0H = probabilities(s0, s1), p1H = probabilities(s2, s3), p2H = probabilities(s4, s5), p3H = probabilities(s6, s7);
            Vec16 p0L = remainders(s0, s1, p0H), p1L = remainders(s2, s3, p1H), p2L = remainders(s4, s5, p2H), p3L = remainders(s6, s7, p3H);
            o0 = rescale(o0, keepA, keepB);
            o1 = rescale(o1, keepA, keepB);
            o2 = rescale(o2, keepA, keepB);
            o3 = rescale(o3, keepA, keepB);
            o4 = rescale(o4, keepA, keepB);
            o5 = rescale(o5, keepA, keepB);
            o6 = rescale(o6, keepA, keepB);
            o7 = rescale(o7, keepA, keepB);
            if (dims > 64) { // (zeros otherwise)
                o8 = rescale(o8, keepA, keepB);
                o9 = rescale(o9, keepA, keepB);
                o10 = rescale(o10, keepA, keepB);
                o11 = rescale(o11, keepA, keepB);
                o12 = rescale(o12, keepA, keepB);
                o13 = rescale(o13, keepA, keepB);
                o14 = rescale(o14, keepA, keepB);
                o15 = rescale(o15, keepA, keepB);
            }
            ctx.waitCopies(0); // this tile's values are in
            ctx.barrier(); // everyone's; and every warp has read K
            if (tile + 1 < tiles) { // the next tile's keys travel while P·V is computed
                int next = bandFirst + tile; // (the band's blocks follow block 0 in order)
                copyRows(ctx, sh, kHigh, kLow, words, kv, low, (long) next * BLOCK * kvStride + keys, kvStride, Math.min(TC_ROWS, end - next * BLOCK),
                        headDim, dims, t, split);
            }
            ctx.commitCopies();

            // O += P·V: per 16 keys, P's A fragments, and V's rows, transposed, as B for each pair of 8-dim blocks (the
            // loop unrolled whole, kk a constant in each copy: the fragments are picked while translating)
            KernelContext.unroll(TC_ROWS / 16);
            for (int kk = 0; kk < TC_ROWS; kk += 16) {
                int b = vHigh + (kk + vRow) * words + vWord, vLowFromHigh = vLow - vHigh;
                Vec16 aH = kk == 0 ? p0H : kk == 16 ? p1H : kk == 32 ? p2H : p3H;
                Vec16 aL = kk == 0 ? p0L : kk == 16 ? p1L : kk == 32 ? p2L : p3L;
                Vec16 bH = ctx.loadMatrixTransposed(sh, b), bL = ctx.loadMatrixTransposed(sh, b + vLowFromHigh);
                o0 = product(ctx, aH, aL, bH, bL, 0, o0, split);
                o1 = product(ctx, aH, aL, bH, bL, 1, o1, split);
                if (dims > 16) {
                    bH = ctx.loadMatrixTransposed(sh, b + 8);
                    bL = ctx.loadMatrixTransposed(sh, b + vLowFromHigh + 8);
                    o2 = product(ctx, aH, aL, bH, bL, 0, o2, split);
                    o3 = product(ctx, aH, aL, bH, bL, 1, o3, split);
                }
                if (dims > 32) {
                    bH = ctx.loadMatrixTransposed(sh, b + 16);
                    bL = ctx.loadMatrixTransposed(sh, b + vLowFromHigh + 16);
                    o4 = product(ctx, aH, aL, bH, bL, 0, o4, split);
                    o5 = product(ctx, aH, aL, bH, bL, 1, o5, split);
                }
                if (dims > 48) {
                    bH = ctx.loadMatrixTransposed(sh, b + 24);
                    bL = ctx.loadMatrixTransposed(sh, b + vLowFromHigh + 24);
                    o6 = product(ctx, aH, aL, bH, bL, 0, o6, split);
                    o7 = product(ctx, aH, aL, bH, bL, 1, o7, split);
                }
                if (dims > 64) {
                    bH = ctx.loadMatrixTransposed(sh, b + 32);
                    bL = ctx.loadMatrixTransposed(sh, b + vLowFromHigh + 32);
                    o8 = product(ctx, aH, aL, bH, bL, 0, o8, split);
                    o9 = product(ctx, aH, aL, bH, bL, 1, o9, split);
                }
                if (dims > 80) {
                    bH = ctx.loadMatrixTransposed(sh, b + 40);
                    bL = ctx.loadMatrixTransposed(sh, b + vLowFromHigh + 40);
                    o10 = product(ctx, aH, aL, bH, bL, 0, o10, split);
                    o11 = product(ctx, aH, aL, bH, bL, 1, o11, split);
                }
                if (dims > 96) {
                    bH = ctx.loadMatrixTransposed(sh, b + 48);
                    bL = ctx.loadMatrixTransposed(sh, b + vLowFromHigh + 48);
                    o12 = product(ctx, aH, aL, bH, bL, 0, o12, split);
                    o13 = product(ctx, aH, aL, bH, bL, 1, o13, split);
                }
                if (dims > 112) {
                    bH = ctx.loadMatrixTransposed(sh, b + 56);
                    bL = ctx.loadMatrixTransposed(sh, b + vLowFromHigh + 56);
                    o14 = product(ctx, aH, aL, bH, bL, 0, o14, split);
                    o15 = product(ctx, aH, aL, bH, bL, 1, o15, split);
                }
            }
        }
        // each row's sum over its four lanes, then the lane's outputs divided by it
        sumA += ctx.shuffleXor(sumA, 1);
        sumA += ctx.shuffleXor(sumA, 2);
        sumB += ctx.shuffleXor(sumB, 1);
        sumB += ctx.shuffleXor(sumB, 2);
        long outA = (long) (rowA - start) * heads * headDim + (long) head * headDim, outB = outA + 8L * heads * headDim;
        boolean inA = rowA < end, inB = rowB < end;
        int d = 2 * c;
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d, headDim, sumA, sumB, o0);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 8, headDim, sumA, sumB, o1);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 16, headDim, sumA, sumB, o2);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 24, headDim, sumA, sumB, o3);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 32, headDim, sumA, sumB, o4);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 40, headDim, sumA, sumB, o5);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 48, headDim, sumA, sumB, o6);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 56, headDim, sumA, sumB, o7);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 64, headDim, sumA, sumB, o8);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 72, headDim, sumA, sumB, o9);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 80, headDim, sumA, sumB, o10);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 88, headDim, sumA, sumB, o11);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 96, headDim, sumA, sumB, o12);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 104, headDim, sumA, sumB, o13);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 112, headDim, sumA, sumB, o14);
        storeOutput(out, high, lowParts, parts, outA, outB, inA, inB, d + 120, headDim, sumA, sumB, o15);
    }

    /**
     * One 16×8 block of a split product, {@code acc + aH·bH + aL·bH + aH·bL}: B is 8-row block {@code block} (0 or
     * 1) of the ldmatrix results {@code bH} (high parts) and {@code bL} (remainders), its words 2·block and 2·block + 1;
     * without {@code split}, {@code acc + aH·bH} alone (the remainders' loads, unused, are left out by ptxas).
     */
    private static Vec16 product(KernelContext ctx, Vec16 aH, Vec16 aL, Vec16 bH, Vec16 bL, int block, Vec16 acc, boolean split) {
        int h0 = bH.word(2 * block), h1 = bH.word(2 * block + 1);
        if (!split) return ctx.mmaBf16(aH, h0, h1, acc);
        int l0 = bL.word(2 * block), l1 = bL.word(2 * block + 1);
        return ctx.mmaBf16(aH, l0, l1, ctx.mmaBf16(aL, h0, h1, ctx.mmaBf16(aH, h0, h1, acc)));
    }

    /**
     * 64 rows of {@code headDim} floats ({@code rows} of them real, zeros after; rows {@code stride} floats apart from
     * {@code from}) into shared rows of {@code words} words as BF16 pairs: the high parts from word {@code high}, the
     * remainders from {@code low}; dims past the head's, up to {@code dims}, zero. Each work-item takes four dims of a
     * row per load (16 bytes), the group's 128 consecutive pieces along rows.
     */
    private static void stageRows(int[] sh, int high, int low, int words, F32Buffer x, long from, int stride, int rows, int headDim, int dims,
                                  int t, boolean split) {
        int pieces = dims / 4;
        for (int i = t; i < TC_ROWS * pieces; i += TC_GROUP) {
            int r = i / pieces, d = 4 * (i % pieces);
            Vec16 v = Vec16.ofFloats(0f, 0f, 0f, 0f);
            if (r < rows && d < headDim) v = x.load4(from + (long) r * stride + d);
            int at = r * words + d / 2;
            storeSplit(sh, high, low, at, v.f32(0), v.f32(1), split);
            storeSplit(sh, high, low, at + 1, v.f32(2), v.f32(3), split);
        }
    }

    /**
     * Copies {@code rows} rows of one KV head's keys or values (a row per token, {@code stride} elements apart from
     * element {@code from} of {@code kv}, their second BF16 parts {@code low} elements further on) into rows
     * {@code words} apart from words {@code high} and {@code lowAt} of {@code sh}, asynchronously ({@link
     * KernelContext#copyAsync}), 16 bytes (eight dims) a copy, work-item t taking every {@value #TC_GROUP}th: the padded
     * dims past {@code headDim} and the rows past {@code rows} become zeros (copies that read nothing). All 64 rows'
     * addresses lie in {@code kv} ({@link #splitPart} pads the prompt to whole tiles), so none is clamped.
     */
    private static void copyRows(KernelContext ctx, int[] sh, int high, int lowAt, int words, Half16Buffer kv, long low, long from, int stride,
                                 int rows, int headDim, int dims, int t, boolean split) {
        // work-item t copies column piece t % pieces of rows t / pieces, + TC_GROUP / pieces, …: the same piece every
        // pass, so a pass is a row step (where pieces does not divide TC_GROUP, the few work-items past the last whole
        // row of pieces copy again what another does, harmless, and past the tile nothing). What changes between passes
        // is a multiple of the row step: constants where the shapes are, so a pass is an add, a compare and two copies.
        int pieces = dims / 8, rowsPerPass = TC_GROUP / pieces, piece = t % pieces, r0 = t / pieces;
        boolean dimInside = 8 * piece < headDim;
        // this work-item's first copy (rows past the prompt lie in splitPart's padding: inside the buffer, never read),
        // its first word, and the rows of the tile from its first on that hold keys (none where its dims are padding)
        long first = from + (dimInside ? 8 * piece : 0) + (long) r0 * stride;
        int word = r0 * words + 4 * piece, left = dimInside ? rows - r0 : 0;
        int passes = (TC_ROWS + rowsPerPass - 1) / rowsPerPass; // 8 at most (16 pieces, head_dim 128): unrolled whole where dims is known
        KernelContext.unroll(8);
        for (int pass = 0; pass < passes; pass++) {
            int step = pass * rowsPerPass;
            if (TC_GROUP % pieces == 0 || r0 + step < TC_ROWS) {
                long at = first + (long) step * stride;
                int to = word + step * words;
                boolean inside = step < left;
                ctx.copyAsync(sh, high + to, kv, at, inside);
                if (split) ctx.copyAsync(sh, lowAt + to, kv, low + at, inside);
            }
        }
    }

    /** Two floats as one word of BF16 pairs at {@code high + at} and the word of their remainders at {@code low + at}. */
    private static void storeSplit(int[] sh, int high, int low, int at, float x0, float x1, boolean split) {
        int h = KernelContext.packBf16(x0, x1);
        sh[high + at] = h;
        if (split) sh[low + at] = GemmKernels.remainder(x0, x1, h);
    }

    /**
     * A lane's scores of one 8-key block (keys {@code key}, key+1 for queries {@code rowA}, {@code rowB}), -inf for
     * keys after the query or past the chunk's staged keys.
     */
    private static Vec16 masked(Vec16 s, int key, int rowA, int rowB, int end) {
        boolean in0 = key < end, in1 = key + 1 < end;
        return Vec16.ofFloats(in0 && key <= rowA ? s.f32(0) : Float.NEGATIVE_INFINITY, in1 && key + 1 <= rowA ? s.f32(1) : Float.NEGATIVE_INFINITY,
                in0 && key <= rowB ? s.f32(2) : Float.NEGATIVE_INFINITY, in1 && key + 1 <= rowB ? s.f32(3) : Float.NEGATIVE_INFINITY);
    }

    /** The larger of a lane's two scores of row A ({@code i = 0}) or row B ({@code i = 2}). */
    private static float rowMax(Vec16 s, int i) {
        return i == 0 ? Math.max(s.f32(0), s.f32(1)) : Math.max(s.f32(2), s.f32(3));
    }

    /** {@code 2^(s·scale2 - sub)} of each score, row A's less {@code subA}, row B's less {@code subB} (one fma and one ex2 each). */
    private static Vec16 exponentials(Vec16 s, float scale2, float subA, float subB) {
        return Vec16.ofFloats(KernelContext.exp2(Math.fma(s.f32(0), scale2, -subA)), KernelContext.exp2(Math.fma(s.f32(1), scale2, -subA)),
                KernelContext.exp2(Math.fma(s.f32(2), scale2, -subB)), KernelContext.exp2(Math.fma(s.f32(3), scale2, -subB)));
    }

    /** A lane's output block with row A's floats times {@code keepA}, row B's times {@code keepB}. */
    private static Vec16 rescale(Vec16 o, float keepA, float keepB) {
        return Vec16.ofFloats(o.f32(0) * keepA, o.f32(1) * keepA, o.f32(2) * keepB, o.f32(3) * keepB);
    }

    /**
     * The A fragment of 16 keys' probabilities (BF16, high parts) from the lane's C fragments of their two 8-key
     * blocks {@code s} and {@code t}: word 0 row g's keys 2c, 2c+1 of the first block, word 1 row g + 8's, words 2 and 3
     * the same of the second — the layout an ldmatrix of P stored row by row would give.
     */
    private static Vec16 probabilities(Vec16 s, Vec16 t) {
        return Vec16.ofWords(KernelContext.packBf16(s.f32(0), s.f32(1)), KernelContext.packBf16(s.f32(2), s.f32(3)),
                KernelContext.packBf16(t.f32(0), t.f32(1)), KernelContext.packBf16(t.f32(2), t.f32(3)));
    }

    /** What {@link #probabilities} left of each probability, rounded to BF16 in the same layout: the split's second part. */
    private static Vec16 remainders(Vec16 s, Vec16 t, Vec16 high) {
        return Vec16.ofWords(GemmKernels.remainder(s.f32(0), s.f32(1), high.word(0)), GemmKernels.remainder(s.f32(2), s.f32(3), high.word(1)),
                GemmKernels.remainder(t.f32(0), t.f32(1), high.word(2)), GemmKernels.remainder(t.f32(2), t.f32(3), high.word(3)));
    }

    /**
     * A lane's four outputs of one 8-dim block (dims {@code d}, d+1 of rows A and B), divided by the rows' sums, where
     * they exist: as floats into {@code out} ({@code parts} 0) or as BF16 parts into {@code high}, {@code low}.
     */
    private static void storeOutput(F32Buffer out, Half16Buffer high, Half16Buffer low, int parts, long outA, long outB, boolean inA, boolean inB,
                                    int d, int headDim, float sumA, float sumB, Vec16 o) {
        if (d >= headDim) return;
        if (inA) {
            PipelinedGemm.write(out, high, low, parts, outA + d, o.f32(0) / sumA);
            PipelinedGemm.write(out, high, low, parts, outA + d + 1, o.f32(1) / sumA);
        }
        if (inB) {
            PipelinedGemm.write(out, high, low, parts, outB + d, o.f32(2) / sumB);
            PipelinedGemm.write(out, high, low, parts, outB + d + 1, o.f32(3) / sumB);
        }
    }

    /**
     * Attention of one query head for 32 of the chunk's queries (its schedule's item, below): the chunk is the
     * prompt's positions {@code [start, start + count)} of a {@code tokens}-token prompt, {@code start} a multiple of
     * 64. {@code qkv} holds one row of {@code stride} floats per chunk token, the query heads (after RoPE) first,
     * {@code headDim} floats each; {@code kv} holds every prompt position up to the chunk's last, as {@link #rope}
     * stages it: row p of {@code 2·kvHeads·headDim} floats, the key heads (after RoPE) then the value heads. Query head
     * h reads KV head {@code h / (heads / kvHeads)}. {@code bands[h]} is head h's band in 64-token blocks
     * ({@code local / 64}; at least the whole prompt's blocks for dense). Writes the head's output to the chunk's row of
     * {@code out} (rows of {@code heads·headDim}). {@code scale} is 1/√headDim. Which keys a query sees depends on its
     * position and the prompt's length only, so a prompt run in chunks attends exactly as one run at once.
     *
     * <p>What each work-item does: it serves query row {@code t / 4} of the group; per step the group stages 16
     * keys and values, work-item part {@code t % 4} scores keys part, part+4, … against its row (-inf where the rule
     * or causality hides them), takes their maximum and exponentials, combines maximum and sum with the row's other
     * three parts by warp shuffles (so each part holds the row's running maximum and sum), writes the probabilities
     * of its own keys to shared memory, and rescales and
     * accumulates its quarter of the row's output dimensions in shared memory. The steps visit the sink block's tiles, then the band's, up to the block's
     * last query. When {@code headDim % 4 == 0} (every real model) the keys and values are staged with 16-byte
     * loads, a score reads four query and four key values per load (the query from global memory, L1-resident), and
     * the output update takes four dimensions and four keys at a time ({@link KernelContext#load4}); otherwise one
     * value per load. Group k takes item {@code i·heads + h = schedule[scheduleAt + k]}: query head h for the chunk's
     * queries {@code [32i, +32)} ({@link #longestFirst}{@code (…, QUERIES)}: each once). Launch {@link #grid}{@code (count,
     * heads)}; needs {@code headDim ≤ MAX_HEAD_DIM}.
     */
    public static void blockSparse(KernelContext ctx, F32Buffer qkv, F32Buffer kv, F32Buffer out, I32Buffer bands, I32Buffer schedule, int scheduleAt,
                                   int start, int count, int tokens, @Specialize int heads, @Specialize int kvHeads, @Specialize int headDim,
                                   @Specialize int stride, float scale) {
        ctx.awaitPriorKernels();
        float[] ks = ctx.sharedF32(KEYS * K_STRIDE);
        float[] vs = ctx.sharedF32(KEYS * MAX_HEAD_DIM);
        float[] acc = ctx.sharedF32(QUERIES * MAX_HEAD_DIM);
        float[] scores = ctx.sharedF32(QUERIES * KEYS);
        float[] probs = ctx.sharedF32(QUERIES * KEYS);
        int t = ctx.localId(), row = t / PARTS, part = t % PARTS;
        int item = schedule.get(scheduleAt + ctx.groupId(0)); // (query group, head): the longest first
        int head = item % heads, g = head / (heads / kvHeads);
        int firstQuery = start + item / heads * QUERIES, query = firstQuery + row, end = start + count;
        int lastQuery = Math.min(end, firstQuery + QUERIES) - 1;
        boolean vec = headDim % 4 == 0; // rows, heads and staged rows then all start 16-byte aligned
        long qAt = (long) (query - start) * stride + (long) head * headDim;
        int kvStride = 2 * kvHeads * headDim;
        long kAt = (long) g * headDim, vAt = kAt + (long) kvHeads * headDim;

        // which keys the row sees: the sink block and the band (moa.md §2), or everything before it for a short prompt
        int sinkEnd, bandStart;
        if (tokens <= BLOCK) {
            sinkEnd = 0;
            bandStart = 0;
        } else {
            sinkEnd = Math.min(BLOCK, query + 1);
            bandStart = BlockBand.firstBandBlock(query / BLOCK, bands.get(head)) * BLOCK;
        }
        // the group's tiles: [0, sink) then [band, lastQuery], where the whole group's rows share one 64-block
        int groupSink = tokens <= BLOCK ? 0 : Math.min(BLOCK, lastQuery + 1);
        int groupBand = tokens <= BLOCK ? 0 : Math.max(groupSink, BlockBand.firstBandBlock(firstQuery / BLOCK, bands.get(head)) * BLOCK);

        for (int d = part; d < headDim; d += PARTS) acc[row * MAX_HEAD_DIM + d] = 0f; // (a barrier follows before any read)
        float max = Float.NEGATIVE_INFINITY, sum = 0f;
        int sinkTiles = (groupSink + KEYS - 1) / KEYS, bandTiles = lastQuery >= groupBand ? (lastQuery - groupBand) / KEYS + 1 : 0;
        for (int tile = 0; tile < sinkTiles + bandTiles; tile++) {
            int first = tile < sinkTiles ? tile * KEYS : groupBand + (tile - sinkTiles) * KEYS;
            int stop = tile < sinkTiles ? Math.min(groupSink, first + KEYS) : Math.min(lastQuery + 1, first + KEYS);
            ctx.barrier(); // the last step's keys and scores are read
            if (vec) {
                int chunks = headDim / 4; // 16-byte pieces of a row
                for (int i = t; i < KEYS * chunks; i += GROUP) {
                    int j = i / chunks, d = 4 * (i % chunks);
                    Vec16 k = Vec16.ofFloats(0f, 0f, 0f, 0f), v = k;
                    if (first + j < stop) {
                        long at = (long) (first + j) * kvStride + d;
                        k = kv.load4(at + kAt);
                        v = kv.load4(at + vAt);
                    }
                    int ka = j * K_STRIDE + d, va = j * MAX_HEAD_DIM + d;
                    ks[ka] = k.f32(0);
                    ks[ka + 1] = k.f32(1);
                    ks[ka + 2] = k.f32(2);
                    ks[ka + 3] = k.f32(3);
                    vs[va] = v.f32(0);
                    vs[va + 1] = v.f32(1);
                    vs[va + 2] = v.f32(2);
                    vs[va + 3] = v.f32(3);
                }
            } else {
                for (int i = t; i < KEYS * headDim; i += GROUP) {
                    int j = i / headDim, d = i % headDim;
                    boolean in = first + j < stop;
                    long at = (long) (first + j) * kvStride + d;
                    ks[j * K_STRIDE + d] = in ? kv.get(at + kAt) : 0f;
                    vs[j * MAX_HEAD_DIM + d] = in ? kv.get(at + vAt) : 0f;
                }
            }
            ctx.barrier();
            for (int j = part; j < KEYS; j += PARTS) {
                int key = first + j;
                boolean seen = query < end && key < stop && key <= query && (key < sinkEnd || key >= Math.max(bandStart, sinkEnd));
                float dot = 0f;
                if (seen && vec) {
                    KernelContext.unroll(4);
                    for (int d = 0; d < headDim; d += 4) {
                        Vec16 q = qkv.load4(qAt + d), k = KernelContext.load4(ks, j * K_STRIDE + d);
                        dot += q.f32(0) * k.f32(0) + q.f32(1) * k.f32(1) + q.f32(2) * k.f32(2) + q.f32(3) * k.f32(3);
                    }
                } else if (seen) {
                    KernelContext.unroll(4);
                    for (int d = 0; d < headDim; d++) dot += qkv.get(qAt + d) * ks[j * K_STRIDE + d];
                }
                scores[row * KEYS + j] = seen ? dot * scale : Float.NEGATIVE_INFINITY;
            }
            // the row's maximum and sum over the tile: each part over its own four keys (its own scores: no barrier),
            // then across the row's four parts, which are neighbouring lanes of one warp (shuffles over lanes ^1, ^2)
            float tileMax = Float.NEGATIVE_INFINITY;
            for (int j = part; j < KEYS; j += PARTS) tileMax = Math.max(tileMax, scores[row * KEYS + j]);
            tileMax = Math.max(tileMax, ctx.shuffleXor(tileMax, 1));
            tileMax = Math.max(tileMax, ctx.shuffleXor(tileMax, 2));
            float next = Math.max(max, tileMax);
            boolean any = next != Float.NEGATIVE_INFINITY; // the row has seen a key
            float keep = any ? (float) Math.exp(max - next) : 1f; // 0 while max is -inf
            float tileSum = 0f;
            for (int j = part; j < KEYS; j += PARTS) {
                float p = any ? (float) Math.exp(scores[row * KEYS + j] - next) : 0f;
                tileSum += p;
                probs[row * KEYS + j] = p;
            }
            tileSum += ctx.shuffleXor(tileSum, 1);
            tileSum += ctx.shuffleXor(tileSum, 2);
            ctx.barrier(); // every part's probabilities written; every barrier is reached by the whole group
            if (any && vec) {
                sum = sum * keep + tileSum;
                max = next;
                for (int d = 4 * part; d < headDim; d += 4 * PARTS) { // four dimensions, four keys per step
                    int at = row * MAX_HEAD_DIM + d;
                    float a0 = acc[at] * keep, a1 = acc[at + 1] * keep, a2 = acc[at + 2] * keep, a3 = acc[at + 3] * keep;
                    KernelContext.unroll(4);
                    for (int j = 0; j < KEYS; j += 4) {
                        Vec16 p = KernelContext.load4(probs, row * KEYS + j);
                        Vec16 v0 = KernelContext.load4(vs, j * MAX_HEAD_DIM + d), v1 = KernelContext.load4(vs, (j + 1) * MAX_HEAD_DIM + d);
                        Vec16 v2 = KernelContext.load4(vs, (j + 2) * MAX_HEAD_DIM + d), v3 = KernelContext.load4(vs, (j + 3) * MAX_HEAD_DIM + d);
                        a0 += p.f32(0) * v0.f32(0) + p.f32(1) * v1.f32(0) + p.f32(2) * v2.f32(0) + p.f32(3) * v3.f32(0);
                        a1 += p.f32(0) * v0.f32(1) + p.f32(1) * v1.f32(1) + p.f32(2) * v2.f32(1) + p.f32(3) * v3.f32(1);
                        a2 += p.f32(0) * v0.f32(2) + p.f32(1) * v1.f32(2) + p.f32(2) * v2.f32(2) + p.f32(3) * v3.f32(2);
                        a3 += p.f32(0) * v0.f32(3) + p.f32(1) * v1.f32(3) + p.f32(2) * v2.f32(3) + p.f32(3) * v3.f32(3);
                    }
                    acc[at] = a0;
                    acc[at + 1] = a1;
                    acc[at + 2] = a2;
                    acc[at + 3] = a3;
                }
            } else if (any) {
                sum = sum * keep + tileSum;
                max = next;
                for (int d = part; d < headDim; d += PARTS) {
                    float a = acc[row * MAX_HEAD_DIM + d] * keep;
                    KernelContext.unroll(4);
                    for (int j = 0; j < KEYS; j++) a += probs[row * KEYS + j] * vs[j * MAX_HEAD_DIM + d];
                    acc[row * MAX_HEAD_DIM + d] = a;
                }
            }
        }
        if (query >= end) return;
        long o = (long) (query - start) * heads * headDim + (long) head * headDim;
        if (vec) { // each part writes the dimensions it accumulated (no barrier after the last update)
            for (int d = 4 * part; d < headDim; d += 4 * PARTS) {
                for (int i = 0; i < 4; i++) out.set(o + d + i, acc[row * MAX_HEAD_DIM + d + i] / sum);
            }
        } else {
            for (int d = part; d < headDim; d += PARTS) out.set(o + d, acc[row * MAX_HEAD_DIM + d] / sum);
        }
    }
}
