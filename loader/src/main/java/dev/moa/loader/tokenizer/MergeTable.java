package dev.moa.loader.tokenizer;

import java.util.Arrays;

/**
 * BPE merge rules: (left id, right id) → (rank, merged id), in an open-addressing hash table of
 * primitive longs. The BPE inner loop looks a pair up for every merge candidate; boxing keys in a
 * HashMap would make that the dominant cost.
 */
final class MergeTable {
    static final long ABSENT = -1;

    private final long[] keys;
    private final long[] values;
    private final int mask;

    MergeTable(int expectedSize) {
        int capacity = Integer.highestOneBit(Math.max(4, expectedSize * 2 - 1)) << 1;
        keys = new long[capacity];
        values = new long[capacity];
        Arrays.fill(keys, ABSENT);
        mask = capacity - 1;
    }

    /** Adds or replaces the rule for a pair (HF builds a hash map: a repeated pair keeps its last rank). */
    void put(int left, int right, int rank, int merged) {
        long key = key(left, right);
        int slot = slot(key);
        while (keys[slot] != ABSENT && keys[slot] != key) slot = (slot + 1) & mask;
        keys[slot] = key;
        values[slot] = ((long) rank << 32) | (merged & 0xFFFFFFFFL);
    }

    /** {@code rank << 32 | mergedId} for the pair, or {@link #ABSENT}. */
    long get(int left, int right) {
        long key = key(left, right);
        for (int slot = slot(key); ; slot = (slot + 1) & mask) {
            if (keys[slot] == key) return values[slot];
            if (keys[slot] == ABSENT) return ABSENT;
        }
    }

    static int rank(long rule) {
        return (int) (rule >>> 32);
    }

    static int mergedId(long rule) {
        return (int) rule;
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h >>> 40) & mask;
    }
}
