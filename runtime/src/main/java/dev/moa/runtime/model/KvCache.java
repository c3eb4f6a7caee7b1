package dev.moa.runtime.model;

import dev.moa.plans.CacheLayout;
import java.lang.foreign.MemorySegment;

/**
 * Where a session keeps the keys (after RoPE) and values of the tokens it has seen, and the attention over
 * them. Layouts differ (dense: every position; MoA: per-head sink + ring), so attention lives with the layout.
 */
public interface KvCache {

    /** Most positions this cache can hold. */
    int capacity();

    /** Most tokens starting at {@code position} that one forward chunk may hold (their keys are all written first). */
    default int maxChunk(int position) {
        return Integer.MAX_VALUE;
    }

    /** Stores the K and V of all KV heads of the token at {@code position} in layer {@code layer}. */
    void write(int layer, int position, float[] k, int kOffset, float[] v, int vOffset);

    /**
     * Attention of query head {@code head} at {@code position} over what the cache holds for its KV group:
     * {@code out = softmax(q·Kᵀ / √d) · V}. {@code scores} is scratch of at least {@link #capacity()} floats.
     */
    void attend(int layer, int head, int position, float[] q, int qOffset, float[] out, int outOffset, float[] scores);

    /** Bytes of K and V storage: what the cache may hold. */
    long byteSize();

    /**
     * Bytes of memory holding keys and values now (a prompt's staging included): storage is made as it is written,
     * so this grows with the positions written up to {@link #byteSize()}, and stays 0 for a session whose keys and
     * values live on a device.
     */
    default long residentBytes() {
        return byteSize();
    }

    /** How keys and values are stored (and rounded when written). */
    default KvFormat format() {
        return KvFormat.F32;
    }

    /**
     * Bytes of K and V a decode step at {@code position} reads at the least: every key and value some query head
     * of a KV group can see, once per group (the memory roofline's share of attention). Defaults to all storage.
     */
    default long bytesRead(int position) {
        return byteSize();
    }

    /** The layout decode keeps this cache in, which a device copy of it uses too. */
    default CacheLayout layout() {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " has no device layout");
    }

    /**
     * Copies the keys and values of KV group {@code group} of {@code layer}, slot by slot of {@link #layout()}, into
     * {@code keys} and {@code values} (memory of {@link #format()}'s values, as stored) from value {@code at} on; a sparse cache first moves its staged
     * prompt into the ring, as its first decode step would.
     */
    default void exportGroup(int layer, int group, MemorySegment keys, MemorySegment values, long at) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot move to a device");
    }

    /** The inverse of {@link #exportGroup}: the group's slots read back from a device copy, after its decode steps. */
    default void importGroup(int layer, int group, MemorySegment keys, MemorySegment values, long at) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot come back from a device");
    }

    /**
     * A buffer of {@code count} floats, sized in long and checked first: a Java array holds at most 2^31 − 1, and an
     * int product past that wraps to a negative (or a wrong, small) size.
     */
    static float[] floats(long count, String what) {
        return new float[arrayLength(count, what)];
    }

    /** {@code count} as the length of one Java array of values, checked as {@link #floats} explains. */
    static int arrayLength(long count, String what) {
        if (count < 0 || count > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException(what + " needs " + count + " values, more than one buffer can hold; lower the context length");
        }
        return (int) count;
    }
}
