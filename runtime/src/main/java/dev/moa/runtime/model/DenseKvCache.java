package dev.moa.runtime.model;

import dev.moa.plans.CacheLayout;
import dev.moa.plans.HeadSpans;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import dev.moa.loader.config.ModelConfig;
import dev.moa.tasks.cpu.VectorMath;

/**
 * Full causal attention: every position 0..capacity−1 of every KV head is kept, in F32.
 * Layout per layer: {@code [kvHead][position][headDim]}, so one head's keys are contiguous.
 */
public final class DenseKvCache implements KvCache {
    private final int capacity, kvHeads, headDim, groupSize, heads;
    private final float scale;
    private final float[][] keys, values;

    public DenseKvCache(ModelConfig config, int capacity) {
        this.capacity = capacity;
        this.kvHeads = config.numKvHeads();
        this.headDim = config.headDim();
        this.groupSize = config.groupSize();
        this.heads = config.numHeads();
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        long perLayer = (long) kvHeads * capacity * headDim;
        String what = "a KV cache layer of " + capacity + " positions x " + kvHeads + " heads x " + headDim;
        keys = new float[config.numLayers()][];
        values = new float[config.numLayers()][];
        for (int l = 0; l < keys.length; l++) {
            keys[l] = KvCache.floats(perLayer, what);
            values[l] = KvCache.floats(perLayer, what);
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
            System.arraycopy(k, kOffset + h * headDim, keys[layer], slot(h, position), headDim);
            System.arraycopy(v, vOffset + h * headDim, values[layer], slot(h, position), headDim);
        }
    }

    @Override
    public void attend(int layer, int head, int position, float[] q, int qOffset, float[] out, int outOffset, float[] scores) {
        int kvHead = head / groupSize;
        float[] k = keys[layer], v = values[layer];
        int n = position + 1;
        for (int j = 0; j < n; j++) scores[j] = VectorMath.dot(q, qOffset, k, slot(kvHead, j), headDim) * scale;
        VectorMath.softmax(scores, 0, n);
        java.util.Arrays.fill(out, outOffset, outOffset + headDim, 0f);
        for (int j = 0; j < n; j++) VectorMath.addScaled(out, outOffset, scores[j], v, slot(kvHead, j), headDim);
    }

    @Override
    public long byteSize() {
        return 2L * keys.length * keys[0].length * Float.BYTES;
    }

    /** Bytes of K and V a dense cache of {@code capacity} positions allocates (what {@link #byteSize()} reports once built). */
    public static long byteSize(ModelConfig config, int capacity) {
        return 2L * config.numLayers() * config.numKvHeads() * capacity * config.headDim() * Float.BYTES;
    }

    @Override
    public long bytesRead(int position) {
        return 2L * keys.length * Math.min(position + 1, capacity) * kvHeads * headDim * Float.BYTES;
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
        int floats = capacity * headDim;
        MemorySegment.copy(this.keys[layer], slot(group, 0), keys, ValueLayout.JAVA_FLOAT, at * Float.BYTES, floats);
        MemorySegment.copy(this.values[layer], slot(group, 0), values, ValueLayout.JAVA_FLOAT, at * Float.BYTES, floats);
    }

    @Override
    public void importGroup(int layer, int group, MemorySegment keys, MemorySegment values, long at) {
        int floats = capacity * headDim;
        MemorySegment.copy(keys, ValueLayout.JAVA_FLOAT, at * Float.BYTES, this.keys[layer], slot(group, 0), floats);
        MemorySegment.copy(values, ValueLayout.JAVA_FLOAT, at * Float.BYTES, this.values[layer], slot(group, 0), floats);
    }
}
