package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.model.KvFormat;
import dev.moa.tasks.graph.EmulatorBackend;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The device's KV pool: regions placed first fit never overlap and stay inside the pool, freed slots merge and are
 * used again, the pool grows only where no free range fits and then keeps every region's keys, values and positions
 * (its steps become stale), an unreserved pool gives its memory back when empty, a reserved one keeps its size.
 * Checked against a brute-force map of which region owns each slot, over random allocations and frees.
 */
class KvPoolTest {
    static final int HEAD_DIM = 4;

    @Test
    void randomRegionsNeverOverlapAndKeepTheirContentThroughGrowthAndCompaction() {
        for (KvFormat format : KvFormat.values()) for (boolean reserved : new boolean[] {false, true}) {
            try (KvPool pool = new KvPool(new EmulatorBackend(), format, HEAD_DIM)) {
                if (reserved) pool.reserve(2L * 400 * HEAD_DIM * format.bytes()); // 400 slots, about what the regions hold at once
                Random random = new Random(7);
                List<KvPool.Region> live = new ArrayList<>();
                List<Integer> marks = new ArrayList<>();
                int grown = 0, compacted = 0, mark = 0;
                for (int op = 0; op < 400; op++) {
                    if (!live.isEmpty() && random.nextInt(3) == 0) {
                        int i = random.nextInt(live.size());
                        live.remove(i).close();
                        marks.remove(i);
                        continue;
                    }
                    long slotsBefore = pool.slots();
                    int generation = pool.generation();
                    long[] startsBefore = live.stream().mapToLong(KvPool.Region::start).toArray();
                    KvPool.Region r = pool.allocate(1 + random.nextInt(40));
                    long[] startsAfter = live.stream().mapToLong(KvPool.Region::start).toArray();
                    if (pool.slots() != slotsBefore) {
                        grown++;
                        assertNotEquals(generation, pool.generation(), "a growth replaces the buffers: steps over the old ones are stale");
                    } else if (!java.util.Arrays.equals(startsBefore, startsAfter)) {
                        compacted++;
                        assertTrue(reserved, "only a reserved pool compacts");
                        assertNotEquals(generation, pool.generation(), "a compaction moves regions: steps over the old places are stale");
                    } else {
                        assertEquals(generation, pool.generation(), "no growth, same buffers");
                    }
                    write(pool, r, ++mark);
                    live.add(r);
                    marks.add(mark);
                    // every live region still holds what was written into it (growth copies them), none overlaps another
                    long[] owner = new long[(int) pool.slots()];
                    long used = 0;
                    for (int i = 0; i < live.size(); i++) {
                        KvPool.Region region = live.get(i);
                        assertTrue(region.start() >= 0 && region.start() + region.length() <= pool.slots(), "inside the pool");
                        for (long s = region.start(); s < region.start() + region.length(); s++) {
                            assertEquals(0, owner[(int) s], "slot " + s + " in two regions");
                            owner[(int) s] = i + 1;
                        }
                        used += region.length();
                        check(pool, region, marks.get(i));
                    }
                    assertEquals(used, pool.usedSlots());
                }
                if (reserved) {
                    assertTrue(compacted > 0, format + ": the reserved pool never compacted");
                } else {
                    assertTrue(grown > 1 && grown < 20, format + ": the pool grew " + grown + " times (doubling)");
                }
                for (KvPool.Region r : live) r.close();
                assertEquals(0, pool.usedSlots());
                if (!reserved) {
                    assertEquals(0, pool.slots(), "an unreserved pool gives its memory back when empty");
                    assertNull(pool.kv());
                }
            }
        }
    }

    @Test
    void freedSlotsMergeAndARegionFitsWhereSmallerOnesWere() {
        try (KvPool pool = new KvPool(new EmulatorBackend(), KvFormat.F32, HEAD_DIM)) {
            pool.reserve(2L * 100 * HEAD_DIM * 4); // 100 slots of keys and values
            assertEquals(100, pool.slots());
            KvPool.Region a = pool.allocate(30), b = pool.allocate(30), c = pool.allocate(30);
            assertEquals(List.of(0, 30, 60), List.of(a.start(), b.start(), c.start()), "first fit, one after another");
            a.close();
            b.close();
            int generation = pool.generation();
            KvPool.Region d = pool.allocate(55); // fits only where a and b were, merged
            assertEquals(0, d.start());
            assertEquals(generation, pool.generation(), "no growth");
            KvPool.Region e = pool.allocate(5); // the rest of a and b's range, before the tail after c
            assertEquals(55, e.start());
            List.of(c, d, e).forEach(KvPool.Region::close);
            assertEquals(100, pool.slots(), "a reserved pool keeps its size when empty");
            assertEquals(0, pool.usedSlots());
            assertEquals(0, pool.allocate(100).start(), "everything merged back into one range");
        }
    }

    @Test
    void aReservedPoolWithScatteredFreeSlotsCompactsInsteadOfGrowing() {
        try (KvPool pool = new KvPool(new EmulatorBackend(), KvFormat.BF16, HEAD_DIM)) {
            pool.reserve(2L * 100 * HEAD_DIM * 2);
            KvPool.Region a = pool.allocate(30), b = pool.allocate(30), c = pool.allocate(30);
            write(pool, b, 7);
            a.close();
            c.close(); // 70 free slots, in ranges of 30 and 40
            int generation = pool.generation();
            KvPool.Region d = pool.allocate(50);
            assertEquals(100, pool.slots(), "no growth");
            assertEquals(0, b.start(), "b moved down");
            check(pool, b, 7);
            assertEquals(30, d.start());
            assertNotEquals(generation, pool.generation(), "steps over b's old place are stale");
        }
    }

    @Test
    void aNewRegionIsZeroedWhateverItsSlotsHeld() {
        for (KvFormat format : KvFormat.values()) {
            try (KvPool pool = new KvPool(new EmulatorBackend(), format, HEAD_DIM)) {
                KvPool.Region old = pool.allocate(20), keep = pool.allocate(5);
                for (long i = 0; i < 20L * HEAD_DIM; i++) { // a session whose keys and values overflowed
                    if (format == KvFormat.BF16) {
                        pool.kv().keys16().set(i, (short) 0x7FC0);
                        pool.kv().values16().set(i, (short) 0x7FC0);
                    } else {
                        pool.kv().keys().set(i, Float.NaN);
                        pool.kv().values().set(i, Float.NaN);
                    }
                }
                old.close();
                KvPool.Region next = pool.allocate(12);
                assertEquals(0, next.start(), "in the slots the closed session left");
                for (long i = 0; i < 12L * HEAD_DIM; i++) {
                    float key = format == KvFormat.BF16 ? dev.moa.tasks.kernel.KernelContext.bf16ToFloat(pool.kv().keys16().get(i)) : pool.kv().keys().get(i);
                    float value = format == KvFormat.BF16 ? dev.moa.tasks.kernel.KernelContext.bf16ToFloat(pool.kv().values16().get(i)) : pool.kv().values().get(i);
                    assertEquals(0f, key, format + ": key value " + i);
                    assertEquals(0f, value, format + ": value " + i);
                }
                keep.close();
            }
        }
    }

    @Test
    void aBatchOfNewRegionsGrowsThePoolOnceForAll() {
        try (KvPool pool = new KvPool(new EmulatorBackend(), KvFormat.F32, HEAD_DIM)) {
            KvPool.Region[] first = pool.allocate(10, 20, 30);
            assertEquals(60, pool.slots(), "one growth, to what they need");
            assertEquals(1, pool.generation());
            assertEquals(List.of(0, 10, 30), List.of(first[0].start(), first[1].start(), first[2].start()));
            first[1].close(); // a hole of 20 at 10
            KvPool.Region[] next = pool.allocate(15, 50);
            assertEquals(10, next[0].start(), "the first fits the hole");
            assertEquals(125, pool.slots(), "the second did not fit: one growth, to the slots plus both (more than twice)");
            assertEquals(2, pool.generation());
            assertEquals(60, next[1].start(), "in the new tail");
            assertEquals(10 + 30 + 15 + 50, pool.usedSlots());
            KvPool.Region[] fits = pool.allocate(5, 10);
            assertEquals(List.of(25, 110), List.of(fits[0].start(), fits[1].start()), "first fit, no growth");
            assertEquals(2, pool.generation());
        }
    }

    @Test
    void aPoolPastWhatTheKernelsAddressIsRefused() {
        try (KvPool pool = new KvPool(new EmulatorBackend(), KvFormat.BF16, HEAD_DIM)) {
            var e = assertThrows(IllegalArgumentException.class, () -> pool.allocate(1L << 31));
            assertEquals("the device's BF16 KV caches would need 2147483648 slots, more than its kernels address (2^31); step fewer or shorter sessions",
                    e.getMessage());
            assertEquals(0, pool.slots(), "nothing made");
        }
    }

    /** Fills every key, value and position of the region with values from {@code mark}. */
    private static void write(KvPool pool, KvPool.Region r, int mark) {
        for (long s = r.start(); s < r.start() + r.length(); s++) {
            pool.positions().set(s, mark);
            for (int d = 0; d < HEAD_DIM; d++) {
                long i = s * HEAD_DIM + d;
                if (pool.format() == KvFormat.BF16) {
                    pool.kv().keys16().set(i, (short) mark);
                    pool.kv().values16().set(i, (short) -mark);
                } else {
                    pool.kv().keys().set(i, mark);
                    pool.kv().values().set(i, -mark);
                }
            }
        }
    }

    private static void check(KvPool pool, KvPool.Region r, int mark) {
        for (long s = r.start(); s < r.start() + r.length(); s++) {
            assertEquals(mark, pool.positions().get(s), "position of slot " + s);
            long i = s * HEAD_DIM + HEAD_DIM - 1;
            if (pool.format() == KvFormat.BF16) {
                assertEquals((short) mark, pool.kv().keys16().get(i));
                assertEquals((short) -mark, pool.kv().values16().get(i));
            } else {
                assertEquals(mark, pool.kv().keys().get(i));
                assertEquals(-mark, pool.kv().values().get(i));
            }
        }
    }
}
