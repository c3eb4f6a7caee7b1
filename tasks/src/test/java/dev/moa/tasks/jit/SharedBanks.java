package dev.moa.tasks.jit;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Shared-memory bank conflicts of the accesses the {@link PtxInterpreter} runs, counted as Nsight Compute counts
 * shared wavefronts: shared memory is 32 banks of 4-byte words and serves 128 bytes a cycle; a warp's access is split
 * into phases of 128 bytes' worth of lanes (all 32 lanes for 4-byte accesses, 16 for 8-byte ones, 8 for 16-byte ones:
 * {@code ld.shared.v4}, {@code cp.async} of 16 bytes, each 8×8 matrix of an {@code ldmatrix.x4}), and a phase whose
 * lanes touch different words of one bank takes as many wavefronts as that bank has words (lanes reading one word
 * share it). One wavefront per phase is the ideal; the rest are conflicts, cycles in which the SM's shared memory
 * serves fewer than 128 bytes — what bounds a tensor-core kernel on a GPU where {@code ldmatrix} feeds every
 * {@code mma}. The lanes of one dynamic instance of an instruction are matched by warp, instruction and how many
 * times each lane has run it; instances some lanes skipped (a guard, lanes that left) are counted at the group's end
 * with the lanes that came.
 */
final class SharedBanks {
    private record Key(int warp, int op, int occurrence) {
    }

    private static final class Request {
        final long[] address = new long[32];
        final boolean[] present = new boolean[32];
        final int bytes;
        int arrived;

        Request(int bytes) {
            this.bytes = bytes;
        }
    }

    /** Per instruction: {requests, wavefronts, ideal wavefronts}. */
    private final Map<Integer, long[]> perOp = new ConcurrentHashMap<>();
    private final Map<Key, Request> open = new ConcurrentHashMap<>();

    /**
     * Lane {@code lane} of warp {@code warp} (of {@code lanes} lanes) accesses {@code bytes} bytes of shared memory at
     * {@code address} in its {@code occurrence}-th run of instruction {@code op}.
     */
    void access(int warp, int lane, int lanes, int op, int occurrence, long address, int bytes) {
        Key key = new Key(warp, op, occurrence);
        Request r = open.computeIfAbsent(key, k -> new Request(bytes));
        boolean complete;
        synchronized (r) {
            r.address[lane] = address;
            r.present[lane] = true;
            complete = ++r.arrived == lanes;
        }
        if (complete) {
            open.remove(key);
            count(op, r);
        }
    }

    /** The end of a group: instances some lanes never reached, with the lanes that did. */
    void endGroup() {
        open.forEach((k, r) -> count(k.op(), r));
        open.clear();
    }

    private void count(int op, Request r) {
        int size = Math.max(4, r.bytes), perPhase = 128 / size;
        long wavefronts = 0, ideal = 0;
        for (int phase = 0; phase < 32 / perPhase; phase++) {
            Map<Integer, java.util.Set<Long>> banks = new java.util.HashMap<>();
            boolean any = false;
            for (int lane = phase * perPhase; lane < (phase + 1) * perPhase; lane++) {
                if (!r.present[lane]) continue;
                any = true;
                for (long word = r.address[lane] / 4; word <= (r.address[lane] + r.bytes - 1) / 4; word++) {
                    banks.computeIfAbsent((int) (word % 32), b -> new java.util.HashSet<>()).add(word);
                }
            }
            if (!any) continue;
            ideal++;
            wavefronts += banks.values().stream().mapToInt(java.util.Set::size).max().orElse(1);
        }
        long[] totals = perOp.computeIfAbsent(op, o -> new long[3]);
        synchronized (totals) {
            totals[0]++;
            totals[1] += wavefronts;
            totals[2] += ideal;
        }
    }

    /** Wavefronts of every shared access so far. */
    long wavefronts() {
        return perOp.values().stream().mapToLong(t -> t[1]).sum();
    }

    /** The wavefronts those accesses would take without conflicts. */
    long ideal() {
        return perOp.values().stream().mapToLong(t -> t[2]).sum();
    }

    /** The instructions whose accesses conflicted: text, warp requests, wavefronts per request against the ideal. */
    String report(java.util.List<PtxInterpreter.Op> code) {
        StringBuilder s = new StringBuilder();
        new TreeMap<>(perOp).forEach((op, t) -> {
            if (t[1] > t[2]) {
                s.append(String.format("%s: %d requests, %.2f wavefronts each where %.2f would do%n", code.get(op).text(), t[0], (double) t[1] / t[0],
                        (double) t[2] / t[0]));
            }
        });
        return s.toString();
    }
}
