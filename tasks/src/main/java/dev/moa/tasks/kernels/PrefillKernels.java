package dev.moa.tasks.kernels;

import dev.moa.plans.BlockBand;
import dev.moa.plans.CacheLayout;
import dev.moa.plans.ElasticRule;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;

/**
 * Prefill attention over a prompt, flash-attention style (online softmax, keys and values staged in shared memory
 * once for a block of queries), visiting only what MoA keeps: query block m of 64 tokens reads key block 0 (the
 * sink) and the band of {@link BlockBand} blocks ending at its own block, the same rule the CPU's block-sparse
 * prefill and the plan optimiser ask ({@code plans.BlockBand}); inside them the token-causal mask. A prompt of at
 * most 64 tokens is dense and causal, as on the CPU. Dense attention is the band that covers every block.
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
    private static final int BLOCK = ElasticRule.BLOCK;

    private PrefillKernels() {
    }

    /** The launch for {@code tokens} prompt tokens and {@code heads} query heads. */
    public static Grid grid(int tokens, int heads) {
        return Grid.of((tokens + QUERIES - 1) / QUERIES, heads, GROUP);
    }

    /**
     * RoPE (rotate-half) on every prompt token's query and key heads, in place in {@code qkv} (rows of {@code stride}
     * floats, laid out as for {@link #blockSparse}); token t sits at position t. The keys and values a session's MoA
     * cache keeps once the prompt is in — positions before {@code sinkSlots} and from {@code firstKept[g]} on
     * ({@code CacheLayout.firstKept}), the ring's last {@code rings[g]} positions — are written to their slots
     * ({@code CacheLayout.slotOf}) of KV group g, which start at slot {@code offsets[g]}; positions that a later one
     * would overwrite are never written, so no two tokens race for a slot. One group per (head, token): groups
     * {@code 0..heads-1} rotate query heads, the next {@code kvHeads} rotate key heads and store them with their
     * values; work-items stride over the rotation pairs. Launch {@code Grid.of(heads + kvHeads, tokens, GROUP)}.
     */
    public static void rope(KernelContext ctx, F32Buffer qkv, F32Buffer cos, F32Buffer sin, F32Buffer keyCache, F32Buffer valueCache,
                            I32Buffer offsets, I32Buffer rings, I32Buffer firstKept, int sinkSlots, int heads, int kvHeads, int headDim, int stride) {
        int head = ctx.groupId(0), token = ctx.groupId(1), half = headDim / 2;
        long angles = (long) token * half, row = (long) token * stride;
        long base = row + (long) head * headDim; // query heads, then key heads: the same offsets
        for (int i = ctx.localId(); i < half; i += GROUP) AttentionKernels.rotate(qkv, base, i, half, cos.get(angles + i), sin.get(angles + i), qkv, base);
        if (head < heads) return;
        int g = head - heads;
        int slot = CacheLayout.slotOf(token, sinkSlots, rings.get(g));
        if (slot < 0 || (token >= sinkSlots && token < firstKept.get(g))) return; // not kept once the prompt is in
        long at = (long) (offsets.get(g) + slot) * headDim, value = row + (long) (heads + kvHeads + g) * headDim;
        for (int i = ctx.localId(); i < half; i += GROUP) { // each work-item stores the pairs it rotated
            keyCache.set(at + i, qkv.get(base + i));
            keyCache.set(at + i + half, qkv.get(base + i + half));
            valueCache.set(at + i, qkv.get(value + i));
            valueCache.set(at + i + half, qkv.get(value + i + half));
        }
    }

    /**
     * Attention of query head {@code groupId(1)} for prompt tokens {@code [32·groupId(0), +32)}. {@code qkv} holds
     * one row of {@code stride} floats per token: the query heads (after RoPE) at 0, the key heads (after RoPE) at
     * {@code heads·headDim}, the value heads after them, {@code headDim} floats each; query head h reads KV head
     * {@code h / (heads / kvHeads)}. {@code bands[h]} is head h's band in 64-token blocks ({@code local / 64}; at
     * least the whole prompt's blocks for dense). Writes the head's output to {@code out} (rows of
     * {@code heads·headDim}). {@code scale} is 1/√headDim.
     *
     * <p>What each work-item does: it serves query row {@code t / 4} of the group; per step the group stages 16
     * keys and values, work-item part {@code t % 4} scores keys part, part+4, … against its row (-inf where the rule
     * or causality hides them) into shared memory, then every part reads its row's 16 scores, updates the row's
     * running maximum and sum (each part the same), writes the probabilities of its own keys, and rescales and
     * accumulates its quarter of the row's output dimensions in shared memory. The steps visit the sink block's tiles, then the band's, up to the block's
     * last query. Launch {@link #grid}{@code (tokens, heads)}; needs {@code headDim ≤ MAX_HEAD_DIM}.
     */
    public static void blockSparse(KernelContext ctx, F32Buffer qkv, F32Buffer out, I32Buffer bands, int tokens, int heads, int kvHeads,
                                   int headDim, int stride, float scale) {
        float[] ks = ctx.sharedF32(KEYS * (MAX_HEAD_DIM + 1));
        float[] vs = ctx.sharedF32(KEYS * MAX_HEAD_DIM);
        float[] acc = ctx.sharedF32(QUERIES * MAX_HEAD_DIM);
        float[] scores = ctx.sharedF32(QUERIES * KEYS);
        float[] probs = ctx.sharedF32(QUERIES * KEYS);
        int t = ctx.localId(), row = t / PARTS, part = t % PARTS;
        int head = ctx.groupId(1), g = head / (heads / kvHeads);
        int firstQuery = ctx.groupId(0) * QUERIES, query = firstQuery + row;
        int lastQuery = Math.min(tokens, firstQuery + QUERIES) - 1;
        int kStride = headDim + 1;
        long qAt = (long) query * stride + (long) head * headDim;
        long kAt = (long) heads * headDim + (long) g * headDim, vAt = kAt + (long) kvHeads * headDim;

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

        for (int d = part; d < headDim; d += PARTS) acc[row * MAX_HEAD_DIM + d] = 0f;
        float max = Float.NEGATIVE_INFINITY, sum = 0f;
        int sinkTiles = (groupSink + KEYS - 1) / KEYS, bandTiles = lastQuery >= groupBand ? (lastQuery - groupBand) / KEYS + 1 : 0;
        for (int tile = 0; tile < sinkTiles + bandTiles; tile++) {
            int first = tile < sinkTiles ? tile * KEYS : groupBand + (tile - sinkTiles) * KEYS;
            int end = tile < sinkTiles ? Math.min(groupSink, first + KEYS) : Math.min(lastQuery + 1, first + KEYS);
            ctx.barrier(); // the last step's keys and scores are read
            for (int i = t; i < KEYS * headDim; i += GROUP) {
                int j = i / headDim, d = i % headDim;
                boolean in = first + j < end;
                long at = (long) (first + j) * stride + d;
                ks[j * kStride + d] = in ? qkv.get(at + kAt) : 0f;
                vs[j * MAX_HEAD_DIM + d] = in ? qkv.get(at + vAt) : 0f;
            }
            ctx.barrier();
            for (int j = part; j < KEYS; j += PARTS) {
                int key = first + j;
                boolean seen = query < tokens && key < end && key <= query && (key < sinkEnd || key >= Math.max(bandStart, sinkEnd));
                float dot = 0f;
                if (seen) {
                    KernelContext.unroll(4);
                    for (int d = 0; d < headDim; d++) dot += qkv.get(qAt + d) * ks[j * kStride + d];
                }
                scores[row * KEYS + j] = seen ? dot * scale : Float.NEGATIVE_INFINITY;
            }
            ctx.barrier();
            float tileMax = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < KEYS; j++) tileMax = Math.max(tileMax, scores[row * KEYS + j]);
            float next = Math.max(max, tileMax);
            boolean any = next != Float.NEGATIVE_INFINITY; // the row has seen a key
            float keep = any ? (float) Math.exp(max - next) : 1f; // 0 while max is -inf
            float tileSum = 0f;
            for (int j = 0; j < KEYS; j++) {
                float p = any ? (float) Math.exp(scores[row * KEYS + j] - next) : 0f;
                tileSum += p;
                if (j % PARTS == part) probs[row * KEYS + j] = p;
            }
            ctx.barrier(); // every part's probabilities written; every barrier is reached by the whole group
            if (any) {
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
        if (query >= tokens) return;
        long o = (long) query * heads * headDim + (long) head * headDim;
        for (int d = part; d < headDim; d += PARTS) out.set(o + d, acc[row * MAX_HEAD_DIM + d] / sum);
    }
}
