package dev.moa.plans;

/**
 * The one MoA KV-cache layout and the one visibility rule, for the CPU cache, the GPU kernels and the tests.
 *
 * <p>Layout: per layer, each KV group (the query heads sharing one KV head) owns {@code sinkSlots + ring[l][g]}
 * slots, one after another: the sink holds positions {@code 0 .. sinkSlots-1} in order, the ring the later ones,
 * position p in slot {@code sinkSlots + (p - sinkSlots) mod ring} (see {@link #slotOf}). The sink is
 * as wide as the widest head's sink (at most {@link ElasticRule#SINK}), a group's ring as wide as its widest query
 * head's local window (native GQA: the group's keys are stored once) and never wider than the context, which is all
 * any head can ever see. {@code offset(l, g)} is where a group's slots start in a layer's buffer.
 *
 * <p>Visibility at decode: query head h at position q sees key position k iff {@code k <= q} and
 * {@code k < sink[h]} or {@code k > q - local[h]} (see {@link #visible}); as ranges, the sink
 * {@code [0, sinkEnd)} and the window {@code [windowStart, q]}. Ring slots are overwritten only by positions a
 * window has already left behind, which {@code CacheLayoutTest} checks by brute force.
 */
public final class CacheLayout {
    private final HeadSpans spans;
    private final int groupSize, sinkSlots;
    private final int[][] ring, offset;
    private final int[] layerSlots;

    public CacheLayout(HeadSpans spans, int groupSize, int context) {
        if (groupSize < 1) throw new IllegalArgumentException("group size must be positive, got " + groupSize);
        this.spans = spans;
        this.groupSize = groupSize;
        int sink = 0;
        for (int[] layer : spans.sink()) for (int s : layer) sink = Math.max(sink, s);
        this.sinkSlots = sink;
        int layers = spans.sink().length;
        ring = new int[layers][];
        offset = new int[layers][];
        layerSlots = new int[layers];
        for (int l = 0; l < layers; l++) {
            int heads = spans.local()[l].length;
            if (heads % groupSize != 0) throw new IllegalArgumentException("layer " + l + ": " + heads + " heads are not groups of " + groupSize);
            ring[l] = new int[heads / groupSize];
            offset[l] = new int[heads / groupSize];
            long slots = 0;
            for (int g = 0; g < ring[l].length; g++) {
                for (int h = g * groupSize; h < (g + 1) * groupSize; h++) ring[l][g] = Math.max(ring[l][g], Math.min(spans.local()[l][h], context));
                offset[l][g] = (int) slots;
                slots += sinkSlots + ring[l][g];
            }
            if (slots > Integer.MAX_VALUE / 2) throw new IllegalArgumentException("layer " + l + " needs " + slots + " KV slots; lower the context length");
            layerSlots[l] = (int) slots;
        }
    }

    /**
     * The slot of position {@code position} in a group with {@code sinkSlots} sink and {@code ringSlots} ring slots,
     * or -1 when the group keeps no such position (a sink-only group past its sink). Written for the GPU kernels
     * too (the JIT inlines it): ints only.
     */
    public static int slotOf(int position, int sinkSlots, int ringSlots) {
        if (position < sinkSlots) return position;
        if (ringSlots == 0) return -1;
        return sinkSlots + (position - sinkSlots) % ringSlots;
    }

    /**
     * Slots of a group with {@code sinkSlots} sink and {@code ringSlots} ring slots that hold a position once
     * {@code position} is written: positions fill the sink, then the ring, which then wraps ({@link #slotOf}), so slots
     * {@code 0 … live − 1} hold one and the rest none yet. What attention need read: a session whose cache is sized
     * for far more than it has decoded reads what it has. Ints only (the GPU kernels call it).
     */
    public static int liveSlots(int position, int sinkSlots, int ringSlots) {
        return Math.min(sinkSlots + ringSlots, position + 1);
    }

    /** Whether query head with {@code sink} and {@code local} at position {@code query} sees key position {@code key}. */
    public static boolean visible(int key, int query, int sink, int local) {
        return key <= query && (key < sink || key > query - local);
    }

    /** End (exclusive) of the sink range a query at {@code query} sees: {@code [0, sinkEnd)}. */
    public static int sinkEnd(int query, int sink) {
        return Math.min(sink, query + 1);
    }

    /** Start of the window range a query at {@code query} sees: {@code [windowStart, query]}, never inside the sink range. */
    public static int windowStart(int query, int sink, int local) {
        return Math.max(sinkEnd(query, sink), query - local + 1);
    }

    public int slot(int layer, int group, int position) {
        return slotOf(position, sinkSlots, ring[layer][group]);
    }

    /** The first prompt position past the sink a group still holds once the prompt's keys are in place. */
    public int firstKept(int layer, int group, int promptLength) {
        return Math.max(sinkSlots, promptLength - ring[layer][group]);
    }

    public HeadSpans spans() {
        return spans;
    }

    public int groupSize() {
        return groupSize;
    }

    public int layers() {
        return ring.length;
    }

    public int groups(int layer) {
        return ring[layer].length;
    }

    public int sinkSlots() {
        return sinkSlots;
    }

    public int ringSlots(int layer, int group) {
        return ring[layer][group];
    }

    /** Slots of a group: sink then ring. */
    public int groupSlots(int layer, int group) {
        return sinkSlots + ring[layer][group];
    }

    /** Where a group's slots start in its layer's buffer. */
    public int offset(int layer, int group) {
        return offset[layer][group];
    }

    /** Slots of all groups of a layer. */
    public int layerSlots(int layer) {
        return layerSlots[layer];
    }

    /** Slots of all layers. */
    public long slots() {
        long total = 0;
        for (int s : layerSlots) total += s;
        return total;
    }

    /**
     * The position slot {@code slot} of a group holds once {@code cached} tokens (positions {@code 0 .. cached-1})
     * were written, or -1 while it is empty: a sink slot holds its own position, a ring slot the latest position
     * that {@link #slotOf} maps to it.
     */
    public long positionAt(int layer, int group, int slot, long cached) {
        if (slot < sinkSlots) return slot < cached ? slot : -1;
        int r = slot - sinkSlots, ringSize = ring[layer][group];
        long first = (long) sinkSlots + r; // the first position of this ring slot
        if (r >= ringSize || cached <= first) return -1;
        return first + (cached - 1 - first) / ringSize * ringSize;
    }

    /**
     * Slots holding a key once {@code positions} tokens are cached: a group fills its sink and ring, then the ring
     * overwrites itself. This is also what a decode step reads, each slot once per group.
     */
    public long slotsInUse(long positions) {
        long total = 0;
        for (int layer = 0; layer < ring.length; layer++)
            for (int group = 0; group < ring[layer].length; group++) total += Math.min(positions, groupSlots(layer, group));
        return total;
    }

    /** Bytes of keys and values at {@code headDim} elements of {@code bytesPerElement} per slot. */
    public long byteSize(int headDim, int bytesPerElement) {
        return 2 * slots() * headDim * bytesPerElement;
    }
}
