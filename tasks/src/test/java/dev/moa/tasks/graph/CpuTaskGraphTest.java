package dev.moa.tasks.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernels.VectorKernels;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A task graph runs its launches in order and can be replayed; bad arguments are refused when it is built, and a
 * buffer both only read and written by one launch when it runs, as on a GPU.
 */
class CpuTaskGraphTest {
    @Test
    void runsTasksInOrderAndReplays() {
        Random random = new Random();
        try (Arena arena = Arena.ofShared(); Backend cpu = new EmulatorBackend()) {
            int n = 333;
            F32Buffer a = F32Buffer.allocate(arena, n), b = F32Buffer.allocate(arena, n);
            F32Buffer sum = F32Buffer.allocate(arena, n), out = F32Buffer.allocate(arena, n);
            for (int i = 0; i < n; i++) {
                a.set(i, (float) random.nextGaussian());
                b.set(i, (float) random.nextGaussian());
            }
            TaskGraph graph = new TaskGraph()
                    .task("sum", VectorKernels.class, "add", Grid.covering(n, 128), a, b, sum, n)
                    .task("gate", VectorKernels.class, "siluTimes", Grid.covering(n, 128), sum, b, out, n);
            for (int round = 0; round < 2; round++) {
                cpu.run(graph);
                for (int i = 0; i < n; i++) {
                    double s = a.get(i) + b.get(i);
                    assertEquals(s / (1 + Math.exp(-s)) * b.get(i), out.get(i), 1e-5);
                }
                a.set(0, a.get(0) + 1f); // the next replay sees the new input
            }
            assertThrows(IllegalArgumentException.class,
                    () -> new TaskGraph().task("bad", VectorKernels.class, "add", Grid.of(1, 32), a, "b", sum, n));
            // in place, the gate read through the read-only cache and written: refused as a CUDA device refuses it
            TaskGraph inPlace = new TaskGraph().task("gate in place", VectorKernels.class, "siluTimes", Grid.covering(n, 128), sum, b, sum, n);
            String refused = assertThrows(IllegalArgumentException.class, () -> cpu.run(inPlace)).getMessage();
            assertEquals(dev.moa.tasks.cuda.PtxEntry.aliased("siluTimes", 0, 2), refused);
        }
    }
}
