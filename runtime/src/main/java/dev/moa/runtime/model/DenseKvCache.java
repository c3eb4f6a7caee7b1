package dev.moa.runtime.model;

import dev.moa.plans.CacheLayout;
import dev.moa.plans.HeadSpans;
import java.lang.foreign.MemorySegment;

import dev.moa.loader.config.ModelConfig;
import dev.moa.tasks.cpu.VectorMath;

/**
 * Full causal attention: every position 0..capacity−1 of every KV head is kept, in F32 or BF16 ({@link KvFormat}).
 * Layout per layer: {@code [kvHead][position][headDim]}, so one head's keys are contiguous.
 */
public final class DenseKvCache implements KvCache {
    private final int capacity, kvHeads, headDim, groupSize, heads;
    private final float scale;
    private final KvFormat format;
    private final KvRows[] keys, values;

    public DenseKvCache(ModelConfig config, int capacity) {
        this(config, capacity, KvFormat.F32);
    }

    public DenseKvCache(ModelConfig config, int capacity, KvFormat format) {
        this.capacity = capacity;
        this.kvHeads = config.numKvHeads();
        this.headDim = config.headDim();
        this.groupSize = config.groupSize();
        this.heads = config.numHeads();
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        long perLayer = (long) kvHeads * capacity * headDim;
        String what = "a KV cache layer of " + capacity + " positions x " + kvHeads + " heads x " + headDim;
        this.format = format;
        keys = new KvRows[config.numLayers()];
        values = new KvRows[config.numLayers()];
        for (int l = 0; l < keys.length; l++) {
            keys[l] = KvRows.allocate(format, perLayer, headDim, what);
            values[l] = KvRows.allocate(format, perLayer, headDim, what);
        }
    }

    @Override
    public int capacity() {
        return capacity;
    }

    private int slot(int kvHead, int position) {
        return (kvHead * capacity + position) * headDim;
    }

    @Override
    public void write(int layer, int position, float[] k, int kOffset, float[] v, int vOffset) {
        if (position < 0 || position >= capacity) {
            throw new IllegalStateException("position " + position + " is outside the KV cache of " + capacity + " positions");
        }
        for (int h = 0; h < kvHeads; h++) {
            keys[layer].put(slot(h, position), k, kOffset + h * headDim, headDim);
            values[layer].put(slot(h, position), v, vOffset + h * headDim, headDim);
        }
    }

    @Override
    public void attend(int layer, int head, int position, float[] q, int qOffset, float[] out, int outOffset, float[] scores) {
        int kvHead = head / groupSize;
        KvRows k = keys[layer], v = values[layer];
        int n = position + 1;
        k.dots(q, qOffset, slot(kvHead, 0), n, headDim, scale, scores, 0);
        VectorMath.softmax(scores, 0, n);
        java.util.Arrays.fill(out, outOffset, outOffset + headDim, 0f);
        v.addScaled(scores, 0, slot(kvHead, 0), n, headDim, out, outOffset);
    }

    @Override
    public long byteSize() {
        return 2L * keys.length * keys[0].byteSize();
    }

    @Override
    public long residentBytes() {
        long bytes = 0;
        for (int l = 0; l < keys.length; l++) bytes += keys[l].residentBytes() + values[l].residentBytes();
        return bytes;
    }

    /** Bytes of K and V an F32 dense cache of {@code capacity} positions allocates (what {@link #byteSize()} reports once built). */
    public static long byteSize(ModelConfig config, int capacity) {
        return byteSize(config, capacity, KvFormat.F32);
    }

    /** Bytes of K and V a dense cache of {@code capacity} positions allocates in {@code format}. */
    public static long byteSize(ModelConfig config, int capacity, KvFormat format) {
        return 2L * config.numLayers() * config.numKvHeads() * capacity * config.headDim() * format.bytes();
    }

    @Override
    public KvFormat format() {
        return format;
    }

    @Override
    public long bytesRead(int position) {
        return 2L * keys.length * Math.min(position + 1, capacity) * kvHeads * headDim * format.bytes();
    }

    /** Dense as a MoA layout: no sink, every head's window the whole capacity, so slot p holds position p. */
    @Override
    public CacheLayout layout() {
        int[][] sink = new int[keys.length][heads], local = new int[keys.length][heads];
        for (int[] row : local) java.util.Arrays.fill(row, capacity);
        return new CacheLayout(new HeadSpans(capacity, sink, local), groupSize, capacity);
    }

    @Override
    public void exportGroup(int layer, int group, MemorySegment keys, MemorySegment values, long at) {
        this.keys[layer].copyTo(slot(group, 0), capacity * headDim, keys, at);
        this.values[layer].copyTo(slot(group, 0), capacity * headDim, values, at);
    }

    @Override
    public void importGroup(int layer, int group, MemorySegment keys, MemorySegment values, long at) {
        this.keys[layer].copyFrom(keys, at, slot(group, 0), capacity * headDim);
        this.values[layer].copyFrom(values, at, slot(group, 0), capacity * headDim);
    }
}
