package dev.moa.tasks.kernels;

import dev.moa.plans.BlockBand;
import dev.moa.plans.CacheLayout;
import dev.moa.plans.ElasticRule;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Vec16;

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
    /**
     * Floats between staged key rows: a multiple of 4 (rows 16-byte aligned for {@link KernelContext#load4}) and
     * 4 mod 32 in banks, so the four keys a warp's parts read at once start in four different banks.
     */
    private static final int K_STRIDE = MAX_HEAD_DIM + 4;
    private static final int BLOCK = ElasticRule.BLOCK;

    private PrefillKernels() {
    }

    /** The attention's launch for a chunk of {@code count} prompt tokens and {@code heads} query heads. */
    public static Grid grid(int count, int heads) {
        return Grid.of((count + QUERIES - 1) / QUERIES, heads, GROUP);
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
                            int sinkSlots, int heads, int kvHeads, int headDim, int stride, int start, int kvFormat) {
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
            kv.set(key + i, KvStore.asStored(qkv.get(base + i), kvFormat));
            kv.set(key + i + half, KvStore.asStored(qkv.get(base + i + half), kvFormat));
            kv.set(staged + i, KvStore.asStored(qkv.get(value + i), kvFormat));
            kv.set(staged + i + half, KvStore.asStored(qkv.get(value + i + half), kvFormat));
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

    /**
     * Attention of query head {@code groupId(1)} for the chunk's queries {@code [32·groupId(0), +32)}: the chunk is the
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
     * value per load. Launch {@link #grid}{@code (count, heads)}; needs {@code headDim ≤ MAX_HEAD_DIM}.
     */
    public static void blockSparse(KernelContext ctx, F32Buffer qkv, F32Buffer kv, F32Buffer out, I32Buffer bands, int start, int count,
                                   int tokens, int heads, int kvHeads, int headDim, int stride, float scale) {
        float[] ks = ctx.sharedF32(KEYS * K_STRIDE);
        float[] vs = ctx.sharedF32(KEYS * MAX_HEAD_DIM);
        float[] acc = ctx.sharedF32(QUERIES * MAX_HEAD_DIM);
        float[] scores = ctx.sharedF32(QUERIES * KEYS);
        float[] probs = ctx.sharedF32(QUERIES * KEYS);
        int t = ctx.localId(), row = t / PARTS, part = t % PARTS;
        int head = ctx.groupId(1), g = head / (heads / kvHeads);
        int firstQuery = start + ctx.groupId(0) * QUERIES, query = firstQuery + row, end = start + count;
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
