package dev.moa.runtime.device;

import dev.moa.runtime.model.KvFormat;
import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.kernel.I32Buffer;
import java.util.Map;
import java.util.TreeMap;

/**
 * The keys and values of every device session of one format in one place: one key, one value and one position
 * buffer of {@link #slots} slots ({@code headDim} values each), each session a contiguous {@link Region} of them (its
 * layers one after another, each in its {@link dev.moa.plans.CacheLayout}). A device step's kernels reach a row's
 * cache through per-(row, KV group) slot offsets into these buffers, so a session's cache stays where it is for its
 * whole life on the device: when the batch changes the new step is built over the same regions, nothing is copied,
 * and no cache exists twice (the steps used to own their rows' caches and copy them into each new step).
 *
 * <p>Regions are placed first fit. Where none fits, a {@link #reserve reserved} pool (a server's KV budget, its full
 * size from the start) whose free slots would hold them all is compacted: its regions moved down, one after another,
 * through a small buffer on the device, so its free slots become one range; otherwise the pool grows (to twice its
 * slots, or what the regions need): new buffers, everything copied over on the device, the old ones freed. Either way
 * the steps built before are stale ({@link #generation}) and are rebuilt before their next token. An unreserved pool
 * frees its buffers when its last region is freed. A new region is zeroed on the device: what a closed session left
 * in its slots, or fresh device memory, may be NaN, and attention weighs the slots a prompt did not fill by zero.
 */
public final class KvPool implements AutoCloseable {
    private final Backend backend;
    private final KvFormat format;
    private final int headDim;
    /** Free slot ranges, start → length, never adjacent (freed ranges merge with their neighbours). */
    private final TreeMap<Long, Long> free = new TreeMap<>();
    /** The live regions by start: what a compaction moves. */
    private final TreeMap<Long, Region> live = new TreeMap<>();
    private OwnedBuffers buffers;
    private KvBuffers kv;
    private I32Buffer positions;
    private long slots, used, reserved;
    private int generation;
    private boolean closed;

    KvPool(Backend backend, KvFormat format, int headDim) {
        this.backend = backend;
        this.format = format;
        this.headDim = headDim;
    }

    /** A session's slots: {@code [start, start + length)} of the pool's buffers; close it to give them back. */
    public final class Region implements AutoCloseable {
        /** Its first slot: moved down by a compaction (under the pool's lock). */
        private long start;
        private final long length;
        private boolean closed;

        private Region(long start, long length) {
            this.start = start;
            this.length = length;
        }

        /** The first slot (a compaction moves it: read it again when the pool's generation changed). */
        int start() {
            synchronized (KvPool.this) {
                return (int) start;
            }
        }

        long length() {
            return length;
        }

        KvPool pool() {
            return KvPool.this;
        }

        /** Bytes of its keys and values. */
        long byteSize() {
            return 2 * length * slotBytes();
        }

        @Override
        public void close() {
            synchronized (KvPool.this) {
                if (closed) return;
                closed = true;
                live.remove(start);
                release(start, length);
            }
        }
    }

    /** Slots for a session's cache of {@code slots} slots (all its layers): first fit, the pool growing where none fits. */
    synchronized Region allocate(long slots) {
        return allocate(new long[] {slots})[0];
    }

    /**
     * Regions of these sizes (a batch's new sessions), placed first fit; where they do not all fit, the pool grows
     * once, for all of them (to twice its slots, or what they need), rather than once per region.
     */
    synchronized Region[] allocate(long... sizes) {
        if (closed) throw new IllegalStateException("the device's KV pool was closed with its model");
        long total = 0;
        for (long n : sizes) {
            if (n < 1) throw new IllegalArgumentException("a region of " + n + " KV slots");
            total += n;
        }
        long most = Integer.MAX_VALUE;
        Region[] placed = place(sizes);
        if (placed == null && reserved > 0 && slots - used >= total) { // room enough, but scattered
            compact();
            placed = place(sizes);
        }
        if (placed == null) {
            if (used + total > most) {
                throw new IllegalArgumentException("the device's " + format + " KV caches would need " + (used + total)
                        + " slots, more than its kernels address (2^31); step fewer or shorter sessions");
            }
            grow(Math.min(most, Math.max(2 * this.slots, this.slots + total)));
            placed = place(sizes); // (the new tail alone holds them all)
        }
        // zeroed on the device: attention weighs the slots a prompt did not fill by zero, and what a closed session left
        // there (or fresh device memory) may be NaN, which a zero weight does not cancel
        for (Region r : placed) {
            backend.zero(kv.keyBuffer(), r.start * slotBytes(), r.length * slotBytes());
            backend.zero(kv.valueBuffer(), r.start * slotBytes(), r.length * slotBytes());
        }
        return placed;
    }

    /** Every size placed first fit, or none (null) where one does not fit. */
    private Region[] place(long[] sizes) {
        Region[] out = new Region[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            Long at = firstFit(sizes[i]);
            if (at == null) {
                for (int j = 0; j < i; j++) { // undone without the pool shrinking
                    live.remove(out[j].start);
                    used -= out[j].length;
                    addFree(out[j].start, out[j].length);
                }
                return null;
            }
            long length = free.remove(at);
            if (length > sizes[i]) free.put(at + sizes[i], length - sizes[i]);
            used += sizes[i];
            out[i] = new Region(at, sizes[i]);
            live.put(at, out[i]);
        }
        return out;
    }

    /** Slots a compaction moves at a time, through a buffer of that many on the device. */
    static final int MOVE_SLOTS = 1 << 16;

    /**
     * Moves every region down to the lowest free slots, in order, so the free slots become one range at the end: each
     * piece of at most {@link #MOVE_SLOTS} slots copied to a small buffer on the device and from there to its new
     * place (a region's old and new slots may overlap, and device copies must not). The steps built before are stale.
     */
    private void compact() {
        long move = 0;
        for (Region r : live.values()) move = Math.max(move, r.length);
        try (OwnedBuffers scratch = new OwnedBuffers(backend)) {
            long pieceSlots = Math.min(MOVE_SLOTS, Math.max(1, move));
            KvBuffers through = KvBuffers.allocate(scratch, format, pieceSlots * headDim);
            I32Buffer throughPositions = scratch.i32(pieceSlots);
            for (var buffer : java.util.List.of(through.keyBuffer(), through.valueBuffer(), throughPositions)) backend.upload(buffer, 0, 0);
            long cursor = 0, slotBytes = slotBytes();
            TreeMap<Long, Region> moved = new TreeMap<>();
            for (Region r : live.values()) {
                if (r.start != cursor) {
                    for (long done = 0; done < r.length; done += pieceSlots) {
                        long n = Math.min(pieceSlots, r.length - done), from = r.start + done, to = cursor + done;
                        backend.copy(kv.keyBuffer(), from * slotBytes, through.keyBuffer(), 0, n * slotBytes);
                        backend.copy(through.keyBuffer(), 0, kv.keyBuffer(), to * slotBytes, n * slotBytes);
                        backend.copy(kv.valueBuffer(), from * slotBytes, through.valueBuffer(), 0, n * slotBytes);
                        backend.copy(through.valueBuffer(), 0, kv.valueBuffer(), to * slotBytes, n * slotBytes);
                        backend.copy(positions, from * Integer.BYTES, throughPositions, 0, n * Integer.BYTES);
                        backend.copy(throughPositions, 0, positions, to * Integer.BYTES, n * Integer.BYTES);
                    }
                    r.start = cursor;
                }
                moved.put(r.start, r);
                cursor += r.length;
            }
            backend.synchronize();
            live.clear();
            live.putAll(moved);
            free.clear();
            if (cursor < slots) free.put(cursor, slots - cursor);
            generation++;
        }
    }

    /**
     * Makes the pool at least {@code bytes} of keys and values now, and keeps it so while regions come and go: a
     * server reserves its KV budget, so sessions joining never grow the pool (a growth copies every cache).
     */
    synchronized void reserve(long bytes) {
        long wanted = Math.min(Integer.MAX_VALUE, Math.max(1, bytes / (2 * slotBytes())));
        reserved = Math.max(reserved, wanted);
        if (slots < wanted) grow(wanted);
    }

    private Long firstFit(long n) {
        for (Map.Entry<Long, Long> e : free.entrySet()) if (e.getValue() >= n) return e.getKey();
        return null;
    }

    private void release(long start, long length) {
        if (closed) return; // (the accelerator closed first: its memory is gone already)
        used -= length;
        addFree(start, length);
        if (used == 0 && reserved == 0) { // nothing lives here and nothing is reserved: the device memory goes back
            free.clear();
            closeBuffers();
            slots = 0;
            generation++;
        }
    }

    /** Marks {@code [start, start + length)} free, merged with the free ranges it touches. */
    private void addFree(long start, long length) {
        var before = free.floorEntry(start);
        if (before != null && before.getKey() + before.getValue() == start) {
            start = before.getKey();
            length += before.getValue();
        }
        Long after = free.remove(start + length);
        if (after != null) length += after;
        free.put(start, length);
    }

    /**
     * New buffers of {@code newSlots} slots with every slot of the old ones copied over on the device (the host copies
     * of the new ones are never sent: a device copy is made without them), then the old ones freed. If the new ones
     * cannot be had, the pool stays as it was.
     */
    private void grow(long newSlots) {
        OwnedBuffers next = new OwnedBuffers(backend);
        try {
            KvBuffers nextKv = KvBuffers.allocate(next, format, newSlots * headDim);
            I32Buffer nextPositions = next.i32(newSlots);
            // device copies made now (kernels take the other format's one-vector placeholders too), none of the host content sent
            for (var buffer : java.util.List.of(nextKv.keys(), nextKv.values(), nextKv.keys16(), nextKv.values16(), nextPositions)) backend.upload(buffer, 0, 0);
            if (slots > 0) {
                backend.copy(kv.keyBuffer(), 0, nextKv.keyBuffer(), 0, slots * slotBytes());
                backend.copy(kv.valueBuffer(), 0, nextKv.valueBuffer(), 0, slots * slotBytes());
                backend.copy(positions, 0, nextPositions, 0, slots * Integer.BYTES);
            }
            backend.synchronize(); // (the new slots hold anything: each region is zeroed when it is placed)
            closeBuffers();
            buffers = next;
            kv = nextKv;
            positions = nextPositions;
        } catch (RuntimeException | Error e) {
            next.close();
            throw e;
        }
        addFree(slots, newSlots - slots); // the new tail (merged with a free range ending the old slots)
        slots = newSlots;
        generation++;
    }

    private void closeBuffers() {
        if (buffers != null) buffers.close();
        buffers = null;
        kv = null;
        positions = null;
    }

    /** Bytes of one slot's keys (or values). */
    long slotBytes() {
        return (long) headDim * format.bytes();
    }

    KvFormat format() {
        return format;
    }

    /** The keys and values of every region. */
    synchronized KvBuffers kv() {
        return kv;
    }

    /** The position each slot holds (written by the decode step's cache write). */
    synchronized I32Buffer positions() {
        return positions;
    }

    /** Bumped whenever the buffers are replaced: steps built over an older generation must not run. */
    synchronized int generation() {
        return generation;
    }

    synchronized long slots() {
        return slots;
    }

    /** Slots held by regions. */
    synchronized long usedSlots() {
        return used;
    }

    @Override
    public synchronized void close() {
        closed = true;
        free.clear();
        live.clear();
        closeBuffers();
        slots = used = 0;
        generation++;
    }
}
