package dev.moa.runtime.bench;

import dev.moa.tasks.cpu.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * STREAM-style copy bandwidth of this machine with all kernel threads: bytes read plus bytes written per
 * second, best of several passes over buffers far larger than the caches.
 */
public final class MemoryBandwidth {
    private MemoryBandwidth() {
    }

    /** Copy bandwidth in bytes/s, measured over two buffers of {@code bufferBytes}. */
    public static double copyBytesPerSecond(long bufferBytes, int passes) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = arena.allocate(bufferBytes, 64), b = arena.allocate(bufferBytes, 64);
            a.fill((byte) 1);
            b.fill((byte) 2);
            int chunks = (int) Math.min(Integer.MAX_VALUE, Math.max(1, bufferBytes >> 20));
            long chunk = bufferBytes / chunks;
            double best = 0;
            for (int pass = 0; pass < passes; pass++) {
                MemorySegment from = pass % 2 == 0 ? a : b, to = pass % 2 == 0 ? b : a;
                long start = System.nanoTime();
                Parallel.forRange(chunks, 1, (s, e) -> {
                    for (int i = s; i < e; i++) MemorySegment.copy(from, i * chunk, to, i * chunk, chunk);
                });
                double seconds = (System.nanoTime() - start) / 1e9;
                best = Math.max(best, 2.0 * chunk * chunks / seconds);
            }
            return best;
        }
    }
}
