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
     * rows holding values already rounded to the format, so prefill attends to what decode will. Their pages are made
     * as the prompt is written (a prompt run on a device writes none) and dropped when moved into the ring.
     */
    private final KvRows[] stagedKeys, stagedValues;
    /** One key and one value row, rounded before staging (writes come from one thread at a time). */
    private final float[] keyRow, valueRow;
    /** Whether the layer's prompt has gone into its ring (or never will: decode or an import came first). */
    private final boolean[] settled;

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
                keys[l][g] = KvRows.allocate(format, count, headDim, "the MoA cache of layer " + l + " KV head " + g);
                values[l][g] = KvRows.allocate(format, count, headDim, "the MoA cache of layer " + l + " KV head " + g);
            }
        }
        stagedKeys = new KvRows[layers];
        stagedValues = new KvRows[layers];
        for (int l = 0; l < layers; l++) {
            long count = (long) kvHeads * promptLength * headDim;
            stagedKeys[l] = KvRows.allocate(KvFormat.F32, count, headDim, "the prompt's keys of one layer");
            stagedValues[l] = KvRows.allocate(KvFormat.F32, count, headDim, "the prompt's values of one layer");
        }
        settled = new boolean[layers];
        keyRow = new float[headDim];
        valueRow = new float[headDim];
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
                System.arraycopy(k, kOffset + g * headDim, keyRow, 0, headDim);
                System.arraycopy(v, vOffset + g * headDim, valueRow, 0, headDim);
                format.round(keyRow, 0, headDim);
                format.round(valueRow, 0, headDim);
                stagedKeys[layer].put(staged(g, position), keyRow, 0, headDim);
                stagedValues[layer].put(staged(g, position), valueRow, 0, headDim);
            }
            return;
        }
        settle(layer);
        for (int g = 0; g < kvHeads; g++) store(layer, g, position, k, kOffset + g * headDim, v, vOffset + g * headDim);
    }

    private void store(int layer, int kvHead, int position, float[] k, int kOffset, float[] v, int vOffset) {
        int slot = layout.slot(layer, kvHead, position);
        if (slot < 0) return; // a sink-only group keeps nothing past its sink
        int at = slot * headDim;
        keys[layer][kvHead].put(at, k, kOffset, headDim);
        values[layer][kvHead].put(at, v, vOffset, headDim);
    }

    /**
     * The prompt's sink positions and its last ring-size positions, into their slots, once; staging is then freed.
     * A layer whose prompt was not staged here (it ran on a device) has nothing to move.
     */
    private void settle(int layer) {
        if (settled[layer]) return;
        settled[layer] = true;
        // rows of its own: layers settle in parallel when a device step exports them (one thread per layer)
        float[] key = new float[headDim], value = new float[headDim];
        for (int g = 0; g < kvHeads && stagedKeys[layer].residentBytes() > 0; g++) {
            int firstKept = layout.firstKept(layer, g, promptLength);
            for (int p = 0; p < promptLength; p++) {
                if (p < sinkSize || p >= firstKept) {
                    stagedKeys[layer].read(staged(g, p), key, 0, headDim);
                    stagedValues[layer].read(staged(g, p), value, 0, headDim);
                    store(layer, g, p, key, 0, value, 0);
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
        // Three runs of consecutive rows: the sink (slots 0.. in both layouts), then the window, contiguous in
        // storage except for one wrap of the ring (staging has none).
        int window = Math.max(0, position + 1 - from), at = offset(prefill, layer, g, from); // none where the window starts past the query (a prefill band of no blocks)
        int beforeWrap = prefill ? window : Math.min(window, layout.groupSlots(layer, g) - at / headDim);
        int ringStart = sinkSize * headDim;
        k.dots(q, qOffset, offset(prefill, layer, g, 0), sinkEnd, headDim, scale, scores, 0);
        k.dots(q, qOffset, at, beforeWrap, headDim, scale, scores, sinkEnd);
        k.dots(q, qOffset, ringStart, window - beforeWrap, headDim, scale, scores, sinkEnd + beforeWrap);
        int n = sinkEnd + window;
        VectorMath.softmax(scores, 0, n);
        Arrays.fill(out, outOffset, outOffset + headDim, 0f);
        v.addScaled(scores, 0, offset(prefill, layer, g, 0), sinkEnd, headDim, out, outOffset);
        v.addScaled(scores, sinkEnd, at, beforeWrap, headDim, out, outOffset);
        v.addScaled(scores, sinkEnd + beforeWrap, ringStart, window - beforeWrap, headDim, out, outOffset);
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
    public long residentBytes() {
        long bytes = 0;
        for (int l = 0; l < layers; l++) {
            for (int g = 0; g < kvHeads; g++) bytes += keys[l][g].residentBytes() + values[l][g].residentBytes();
            if (stagedKeys[l] != null) bytes += stagedKeys[l].residentBytes() + stagedValues[l].residentBytes();
        }
        return bytes;
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
        settle(layer);
        this.keys[layer][group].copyTo(0, this.keys[layer][group].length(), keys, at);
        this.values[layer][group].copyTo(0, this.values[layer][group].length(), values, at);
    }

    @Override
    public void importGroup(int layer, int group, MemorySegment keys, MemorySegment values, long at) {
        settle(layer); // nothing staged is newer than the device's copy
        this.keys[layer][group].copyFrom(keys, at, 0, this.keys[layer][group].length());
        this.values[layer][group].copyFrom(values, at, 0, this.values[layer][group].length());
    }
}
