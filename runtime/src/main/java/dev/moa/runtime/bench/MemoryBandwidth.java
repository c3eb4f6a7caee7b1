package dev.moa.runtime.bench;

import dev.moa.tasks.cpu.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Memory bandwidth of this machine with all kernel threads, best of several passes over buffers far larger
 * than the caches: STREAM-style copy (bytes read plus bytes written per second) and a pure read (SIMD sum),
 * which is what decoding does with the weights.
 */
public final class MemoryBandwidth {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    public record Result(double copyBytesPerSecond, double readBytesPerSecond) {}

    private MemoryBandwidth() {
    }

    public static Result measure(long bufferBytes, int passes) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = arena.allocate(bufferBytes, 64), b = arena.allocate(bufferBytes, 64);
            a.fill((byte) 1);
            b.fill((byte) 2);
            int chunks = (int) Math.max(1, bufferBytes >> 20);
            long chunk = bufferBytes / chunks / 64 * 64;
            double copy = 0, read = 0;
            float[] sink = new float[chunks];
            for (int pass = 0; pass < passes; pass++) {
                MemorySegment from = pass % 2 == 0 ? a : b, to = pass % 2 == 0 ? b : a;
                long start = System.nanoTime();
                Parallel.forRange(chunks, 1, (s, e) -> {
                    for (int i = s; i < e; i++) MemorySegment.copy(from, i * chunk, to, i * chunk, chunk);
                });
                copy = Math.max(copy, 2.0 * chunk * chunks / ((System.nanoTime() - start) / 1e9));

                start = System.nanoTime();
                Parallel.forRange(chunks, 1, (s, e) -> {
                    for (int i = s; i < e; i++) sink[i] = sum(from, i * chunk, chunk);
                });
                read = Math.max(read, (double) chunk * chunks / ((System.nanoTime() - start) / 1e9));
            }
            return new Result(copy, read);
        }
    }

    private static float sum(MemorySegment s, long offset, long bytes) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long step = F.vectorByteSize();
        for (long o = offset, end = offset + bytes; o + 4 * step <= end; o += 4 * step) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, s, o, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(FloatVector.fromMemorySegment(F, s, o + step, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(FloatVector.fromMemorySegment(F, s, o + 2 * step, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(FloatVector.fromMemorySegment(F, s, o + 3 * step, ByteOrder.LITTLE_ENDIAN));
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }
}
