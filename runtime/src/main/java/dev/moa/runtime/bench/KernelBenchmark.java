package dev.moa.runtime.bench;

import dev.moa.tasks.cpu.WeightFormat;
import dev.moa.tasks.cpu.WeightMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * The matmul kernel alone, per storage format, on a matrix larger than any cache (16384 × 4096): decode
 * (one token, memory-bound, reported in GB/s of weights streamed) and prefill (a 64-token chunk,
 * compute-bound, in GFLOP/s). Best of several repetitions after a warm-up.
 */
public final class KernelBenchmark {
    public record Result(WeightFormat format, double decodeGigabytesPerSecond, double prefillGigaflops) {}

    private KernelBenchmark() {
    }

    public static Result run(WeightFormat format, int rows, int cols, int chunk) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment data = arena.allocate((long) rows * cols * format.byteSize(), 64);
            SplittableRandom random = new SplittableRandom(1);
            // Small random values so every format holds finite, non-trivial numbers (F32 bits 0x3C..., halves 0x2C...).
            for (long i = 0; i < data.byteSize(); i += 2) data.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i,
                    (short) (0x2C00 | random.nextInt(0x400)));
            WeightMatrix w = WeightMatrix.of(format, data, rows, cols);
            w.warmUp();
            float[] x = new float[chunk * cols], out = new float[chunk * rows];
            for (int i = 0; i < x.length; i++) x[i] = (float) random.nextDouble(-1, 1);
            double decode = best(() -> w.multiply(x, 1, out), 30);
            double prefill = best(() -> w.multiply(x, chunk, out), 8);
            return new Result(format, w.byteSize() / decode / 1e9, 2.0 * rows * cols * chunk / prefill / 1e9);
        }
    }

    private static double best(Runnable work, int repetitions) {
        for (int i = 0; i < 3; i++) work.run();
        double best = Double.MAX_VALUE;
        for (int i = 0; i < repetitions; i++) {
            long start = System.nanoTime();
            work.run();
            best = Math.min(best, (System.nanoTime() - start) / 1e9);
        }
        return best;
    }
}
