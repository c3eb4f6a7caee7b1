package dev.moa.loader.tokenizer;

import java.util.Arrays;

/**
 * One word being merged by BPE: a doubly linked list of symbols (token ids) and a min-heap of merge
 * candidates keyed by (rank, position), as in HF's {@code Word::merge_all}. Each step applies the
 * lowest-ranked applicable merge, leftmost first, then queues the two new pairs it creates;
 * entries made stale by earlier merges are recognised when popped and dropped. O(n log n) per word
 * instead of rescanning all pairs after every merge.
 */
final class BpeWord {
    private int[] ids;
    private int[] prev;
    private int[] next;
    private boolean[] removed;
    private int size;

    BpeWord(int capacity) {
        ids = new int[Math.max(4, capacity)];
        prev = new int[ids.length];
        next = new int[ids.length];
        removed = new boolean[ids.length];
    }

    void add(int id) {
        if (size == ids.length) {
            int n = size * 2;
            ids = Arrays.copyOf(ids, n);
            prev = Arrays.copyOf(prev, n);
            next = Arrays.copyOf(next, n);
            removed = Arrays.copyOf(removed, n);
        }
        ids[size] = id;
        prev[size] = size - 1;
        next[size] = size + 1; // == size of the list for the last symbol: "no next"
        size++;
    }

    void mergeAll(MergeTable merges) {
        LongMinHeap queue = new LongMinHeap(size);
        for (int i = 0; i + 1 < size; i++) {
            long rule = merges.get(ids[i], ids[i + 1]);
            if (rule != MergeTable.ABSENT) queue.push(candidate(MergeTable.rank(rule), i));
        }
        while (!queue.isEmpty()) {
            long top = queue.pop();
            int rank = (int) (top >>> 32);
            int pos = (int) top;
            if (removed[pos] || next[pos] >= size) continue;
            int right = next[pos];
            // The pair at pos may have changed since this candidate was queued: only apply it if the
            // current pair still has exactly this rule.
            long rule = merges.get(ids[pos], ids[right]);
            if (rule == MergeTable.ABSENT || MergeTable.rank(rule) != rank) continue;

            ids[pos] = MergeTable.mergedId(rule);
            removed[right] = true;
            next[pos] = next[right];
            if (next[pos] < size) prev[next[pos]] = pos;

            if (prev[pos] >= 0) {
                long left = merges.get(ids[prev[pos]], ids[pos]);
                if (left != MergeTable.ABSENT) queue.push(candidate(MergeTable.rank(left), prev[pos]));
            }
            if (next[pos] < size) {
                long after = merges.get(ids[pos], ids[next[pos]]);
                if (after != MergeTable.ABSENT) queue.push(candidate(MergeTable.rank(after), pos));
            }
        }
    }

    /** The remaining symbols, left to right. */
    int[] ids() {
        int count = 0;
        for (int i = 0; i < size; i++) if (!removed[i]) count++;
        int[] out = new int[count];
        for (int i = 0, j = 0; i < size; i++) if (!removed[i]) out[j++] = ids[i];
        return out;
    }

    /** Heap order = merge order: lowest rank first, then leftmost position. */
    private static long candidate(int rank, int pos) {
        return ((long) rank << 32) | pos;
    }

    /** A binary min-heap of primitive longs. */
    private static final class LongMinHeap {
        private long[] heap;
        private int count;

        LongMinHeap(int capacity) {
            heap = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return count == 0;
        }

        void push(long value) {
            if (count == heap.length) heap = Arrays.copyOf(heap, count * 2);
            int i = count++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= value) break;
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = value;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--count];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= count) break;
                if (child + 1 < count && heap[child + 1] < heap[child]) child++;
                if (heap[child] >= last) break;
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}
