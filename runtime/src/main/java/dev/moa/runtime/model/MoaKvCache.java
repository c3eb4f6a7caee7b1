package dev.moa.runtime.model;

import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.BlockBand;
import dev.moa.plans.CacheLayout;
import dev.moa.plans.ElasticRule;
import dev.moa.plans.HeadSpans;
import dev.moa.tasks.cpu.VectorMath;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * MoA's static per-head cache (moa.md §2–3) in the {@link CacheLayout}: every query head h keeps its {@code sink}
 * first positions and its {@code local} most recent ones. Natively GQA: the KV heads of a group store what the
 * widest head of the group needs (the sink slots and a ring of {@code max local} slots), and each query head attends
 * only inside its own span. Keys are stored after RoPE at their absolute positions, so slot order never matters.
 *
 * <p>Prefill: the prompt's keys and values are staged densely, and query i of head h attends key j ≤ i only in
 * the blocks its {@link BlockBand} keeps (key block 0, the sink, and the band of {@code local/64} blocks ending at
 * its own block) — blocks outside are never visited. Prompts of at most 64 tokens attend densely. The first decoded token moves each layer's
 * sink and its last {@code max local} prompt positions into the ring and drops the staging buffer.
 *
 * <p>Decode: the new token is written first (overwriting the oldest ring entry), then head h attends its sink
 * and the last {@code local} positions. Generation may run past N: the window keeps sliding.
 */
public final class MoaKvCache implements KvCache {
    static final int BLOCK = ElasticRule.BLOCK;

    private final int layers, kvHeads, headDim, groupSize, promptLength, capacity;
    private final float scale;
    private final HeadSpans spans;
    private final CacheLayout layout;
    private final int sinkSize;
    private final KvFormat format;
    /** [layer][kvHead] → sink slots then ring slots, each headDim values. */
    private final KvRows[][] keys, values;
    /**
     * Dense prompt keys/values per layer ([kvHead][position][headDim]) until the layer's first decode write: F32
     * arrays holding values already rounded to the format, so prefill attends to what decode will.
     */
    private final KvRows.F32[] stagedKeys, stagedValues;

    public MoaKvCache(ModelConfig config, HeadSpans spans, int promptLength) {
        this(config, spans, promptLength, KvFormat.F32);
    }

    public MoaKvCache(ModelConfig config, HeadSpans spans, int promptLength, KvFormat format) {
        if (spans.sink().length != config.numLayers()) {
            throw new IllegalArgumentException("spans for " + spans.sink().length + " layers, model has " + config.numLayers());
        }
        this.layers = config.numLayers();
        this.kvHeads = config.numKvHeads();
        this.headDim = config.headDim();
        this.groupSize = config.groupSize();
        this.promptLength = promptLength;
        this.capacity = config.maxPositions();
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        this.spans = spans;
        this.layout = new CacheLayout(spans, groupSize, config.maxPositions());
        this.sinkSize = layout.sinkSlots();
        this.format = format;
        keys = new KvRows[layers][kvHeads];
        values = new KvRows[layers][kvHeads];
        for (int l = 0; l < layers; l++) {
            for (int g = 0; g < kvHeads; g++) {
                long count = (long) layout.groupSlots(l, g) * headDim;
                keys[l][g] = KvRows.allocate(format, count, "the MoA cache of layer " + l + " KV head " + g);
                values[l][g] = KvRows.allocate(format, count, "the MoA cache of layer " + l + " KV head " + g);
            }
        }
        stagedKeys = new KvRows.F32[layers];
        stagedValues = new KvRows.F32[layers];
        for (int l = 0; l < layers; l++) {
            long count = (long) kvHeads * promptLength * headDim;
            stagedKeys[l] = new KvRows.F32(KvCache.floats(count, "the prompt's keys of one layer"));
            stagedValues[l] = new KvRows.F32(KvCache.floats(count, "the prompt's values of one layer"));
        }
    }

    /** Bytes of K and V an F32 cache with these spans allocates for decode (what {@link #byteSize()} reports once built). */
    public static long byteSize(ModelConfig config, HeadSpans spans) {
        return byteSize(config, spans, KvFormat.F32);
    }

    /** Bytes of K and V a cache with these spans allocates for decode in {@code format}. */
    public static long byteSize(ModelConfig config, HeadSpans spans, KvFormat format) {
        return new CacheLayout(spans, config.groupSize(), config.maxPositions()).byteSize(config.headDim(), format.bytes());
    }

    @Override
    public KvFormat format() {
        return format;
    }

    @Override
    public int capacity() {
        return capacity;
    }

    /** Prompt tokens may share a chunk; after the prompt, one token at a time (a ring slot is reused each step). */
    @Override
    public int maxChunk(int position) {
        return position < promptLength ? promptLength - position : 1;
    }

    public HeadSpans spans() {
        return spans;
    }

    private int staged(int kvHead, int position) {
        return (kvHead * promptLength + position) * headDim;
    }

    @Override
    public void write(int layer, int position, float[] k, int kOffset, float[] v, int vOffset) {
        if (position < promptLength) {
            for (int g = 0; g < kvHeads; g++) {
                int at = staged(g, position);
                System.arraycopy(k, kOffset + g * headDim, stagedKeys[layer].values, at, headDim);
                System.arraycopy(v, vOffset + g * headDim, stagedValues[layer].values, at, headDim);
                format.round(stagedKeys[layer].values, at, headDim);
                format.round(stagedValues[layer].values, at, headDim);
            }
            return;
        }
        if (stagedKeys[layer] != null) moveStagedIntoRing(layer);
        for (int g = 0; g < kvHeads; g++) store(layer, g, position, k, kOffset + g * headDim, v, vOffset + g * headDim);
    }

    private void store(int layer, int kvHead, int position, float[] k, int kOffset, float[] v, int vOffset) {
        int slot = layout.slot(layer, kvHead, position);
        if (slot < 0) return; // a sink-only group keeps nothing past its sink
        int at = slot * headDim;
        keys[layer][kvHead].put(at, k, kOffset, headDim);
        values[layer][kvHead].put(at, v, vOffset, headDim);
    }

    /** The prompt's sink positions and its last ring-size positions, into their slots; staging is then freed. */
    private void moveStagedIntoRing(int layer) {
        for (int g = 0; g < kvHeads; g++) {
            int firstKept = layout.firstKept(layer, g, promptLength);
            for (int p = 0; p < promptLength; p++) {
                if (p < sinkSize || p >= firstKept) {
                    store(layer, g, p, stagedKeys[layer].values, staged(g, p), stagedValues[layer].values, staged(g, p));
                }
            }
        }
        stagedKeys[layer] = null;
        stagedValues[layer] = null;
    }

    @Override
    public void attend(int layer, int head, int position, float[] q, int qOffset, float[] out, int outOffset, float[] scores) {
        int g = head / groupSize;
        int local = spans.local()[layer][head], sink = spans.sink()[layer][head];
        // Keys in two ranges: the sink [0, sinkEnd) and the window [windowStart, position].
        int sinkEnd, windowStart;
        if (position < promptLength) {
            if (promptLength <= BLOCK) {
                sinkEnd = 0;
                windowStart = 0;
            } else {
                sinkEnd = Math.min(BLOCK, position + 1);
                windowStart = new BlockBand(local / BLOCK).firstBandBlock(position / BLOCK) * BLOCK;
            }
        } else {
            sinkEnd = CacheLayout.sinkEnd(position, sink);
            windowStart = CacheLayout.windowStart(position, sink, local);
        }
        boolean prefill = position < promptLength;
        KvRows k = prefill ? stagedKeys[layer] : keys[layer][g];
        KvRows v = prefill ? stagedValues[layer] : values[layer][g];
        int from = Math.max(windowStart, sinkEnd);
        int n = 0;
        for (int j = 0; j < sinkEnd; j++) scores[n++] = k.dot(q, qOffset, offset(prefill, layer, g, j), headDim) * scale;
        // The window is contiguous in storage except for one wrap of the ring: walk it without a division per key.
        int ringEnd = prefill ? Integer.MAX_VALUE : layout.groupSlots(layer, g) * headDim;
        int ringStart = sinkSize * headDim;
        for (int j = from, at = offset(prefill, layer, g, from); j <= position; j++) {
            scores[n++] = k.dot(q, qOffset, at, headDim) * scale;
            at += headDim;
            if (at == ringEnd) at = ringStart;
        }
        VectorMath.softmax(scores, 0, n);
        Arrays.fill(out, outOffset, outOffset + headDim, 0f);
        n = 0;
        for (int j = 0; j < sinkEnd; j++) v.addScaled(out, outOffset, scores[n++], offset(prefill, layer, g, j), headDim);
        for (int j = from, at = offset(prefill, layer, g, from); j <= position; j++) {
            v.addScaled(out, outOffset, scores[n++], at, headDim);
            at += headDim;
            if (at == ringEnd) at = ringStart;
        }
    }

    private int offset(boolean prefill, int layer, int kvHead, int position) {
        return prefill ? staged(kvHead, position) : layout.slot(layer, kvHead, position) * headDim;
    }

    /** K and V storage of the per-head caches (what decode keeps), without the transient prompt staging. */
    @Override
    public long byteSize() {
        long bytes = 0;
        for (KvRows[] layer : keys) for (KvRows head : layer) bytes += head.byteSize();
        return 2 * bytes;
    }

    @Override
    public long bytesRead(int position) {
        return 2 * layout.slotsInUse(position + 1L) * headDim * format.bytes();
    }

    @Override
    public CacheLayout layout() {
        return layout;
    }

    @Override
    public void exportGroup(int layer, int group, MemorySegment keys, MemorySegment values, long at) {
        if (stagedKeys[layer] != null) moveStagedIntoRing(layer);
        this.keys[layer][group].copyTo(0, this.keys[layer][group].length(), keys, at);
        this.values[layer][group].copyTo(0, this.values[layer][group].length(), values, at);
    }

    @Override
    public void importGroup(int layer, int group, MemorySegment keys, MemorySegment values, long at) {
        if (stagedKeys[layer] != null) moveStagedIntoRing(layer); // nothing staged is newer than the device's copy
        this.keys[layer][group].copyFrom(keys, at, 0, this.keys[layer][group].length());
        this.values[layer][group].copyFrom(values, at, 0, this.values[layer][group].length());
    }
}
