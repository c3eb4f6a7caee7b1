package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Constants the JIT carries into helpers and unrolled loops, and forgets where paths meet: each kernel against plain
 * Java and through the PTX interpreter, and through ptxas.
 */
class ConstantsTest {
    final Arena arena = Arena.ofShared();
    final Random random = new Random(3);

    /** A value constant on one path of a ternary is not that constant after it (the argmax kernel once lost its flag so). */
    @Test
    void aConstantOnOnePathIsForgottenWherePathsMeet() {
        int n = 100;
        I32Buffer in = I32Buffer.allocate(arena, n), a = I32Buffer.allocate(arena, 3L * n), b = I32Buffer.allocate(arena, 3L * n);
        for (int i = 0; i < n; i++) in.set(i, random.nextInt(41) - 20);
        Grid grid = Grid.covering(n, 32);
        Emulator.launch(ConstantKernels.class, "ternaries", grid, in, a, n);
        new PtxInterpreter(PtxCompiler.compile(ConstantKernels.class, "ternaries").ptx()).launch(grid, in.memory(), b.memory(), n);
        for (int i = 0; i < n; i++) {
            int v = in.get(i);
            int[] expected = {v > 0 ? v : 0, v > 0 ? 0 : v, v / (v > 0 ? 4 : v < -5 ? 2 : 8)};
            for (int k = 0; k < 3; k++) {
                assertEquals(expected[k], a.get(3L * i + k), "emulator, input " + v + ", output " + k);
                assertEquals(expected[k], b.get(3L * i + k), "PTX, input " + v + ", output " + k);
            }
        }
    }

    /** A constant-trip loop is unrolled whole with its counter a constant in each copy; a constant argument is one in the helper. */
    @Test
    void unrolledCountersAndConstantArgumentsIndexVectors() throws Exception {
        int n = 64;
        F32Buffer x = F32Buffer.allocate(arena, 4L * n), a = F32Buffer.allocate(arena, 3L * n), b = F32Buffer.allocate(arena, 3L * n);
        for (long i = 0; i < x.length(); i++) x.set(i, (float) random.nextGaussian());
        Grid grid = Grid.covering(n, 32);
        Emulator.launch(ConstantKernels.class, "constantIndices", grid, x, a, n);
        String ptx = PtxCompiler.compile(ConstantKernels.class, "constantIndices").ptx();
        new PtxInterpreter(ptx).launch(grid, x.memory(), b.memory(), n);
        for (int i = 0; i < n; i++) {
            float weighted = 0f, picked = 0f;
            for (int j = 0; j < 4; j++) {
                weighted += x.get(4L * i + j) * (j + 1);
                picked += x.get(4L * i + j) * (4 - j);
            }
            assertEquals(weighted, a.get(3L * i), 0f, "emulator, weighted sum " + i);
            assertEquals(weighted, b.get(3L * i), 1e-6f, "PTX, weighted sum " + i);
            assertEquals(x.get(4L * i + 2) - x.get(4L * i), b.get(3L * i + 1), 0f, "PTX, picked elements " + i);
            assertEquals(picked - x.get(4L * i + 3), b.get(3L * i + 2), 1e-6f, "PTX, elements picked through a ternary in each copy, and 2·1 + 1 " + i);
        }
        if (Ptxas.available()) {
            java.nio.file.Path work = java.nio.file.Files.createTempDirectory("moa-constants-");
            assertEquals(0, Ptxas.assemble(ptx, "sm_80", work).spillStores(), "no spills");
            java.nio.file.Files.delete(work);
        }
        assertFalse(ptx.contains("setp.ge.s32"), "no loop test left:\n" + ptx);
    }

    /**
     * A local assigned a constant once, and a helper returning a constant, are constants where they are read: the loop
     * bounded by them is unrolled whole (no loop test, its counter indexing a vector), a test of them leaves only its
     * path; a local assigned twice keeps both values.
     */
    @Test
    void localsAssignedOnceAndHelpersOfConstantsAreConstants() {
        int n = 64;
        F32Buffer x = F32Buffer.allocate(arena, 4L * n), a = F32Buffer.allocate(arena, 2L * n), b = F32Buffer.allocate(arena, 2L * n);
        for (long i = 0; i < x.length(); i++) x.set(i, (float) random.nextGaussian());
        Grid grid = Grid.covering(n, 32);
        Emulator.launch(ConstantKernels.class, "derivedConstants", grid, x, a, n);
        String ptx = PtxCompiler.compile(ConstantKernels.class, "derivedConstants").ptx();
        new PtxInterpreter(ptx).launch(grid, x.memory(), b.memory(), n);
        for (int i = 0; i < n; i++) {
            float sum = 0f;
            for (int j = 0; j < 4; j++) sum += x.get(4L * i + j) * (j + 1);
            float first = x.get(4L * i);
            assertEquals(sum, a.get(2L * i), 0f, "emulator " + i);
            assertEquals(sum, b.get(2L * i), 1e-6f, "PTX " + i);
            assertEquals(first * (first > 0f ? 2 : 1), b.get(2L * i + 1), 0f, "PTX, the local written twice " + i);
        }
        assertFalse(ptx.contains("neg.f32"), "the test of the constant bound decided, its path gone:\n" + ptx);
        assertEquals(2, ptx.split("setp\\.", -1).length - 1, "two tests left (the work-item's range, the sign), no loop test:\n" + ptx);
    }

    /** A test of a constant is decided while translating: only the taken path reaches the PTX, and it computes as Java does. */
    @Test
    void aTestOfAConstantKeepsOnlyItsPath() {
        int n = 70;
        F32Buffer x = F32Buffer.allocate(arena, n), a = F32Buffer.allocate(arena, n), b = F32Buffer.allocate(arena, n);
        for (int i = 0; i < n; i++) x.set(i, (float) random.nextGaussian());
        Grid grid = Grid.covering(n, 32);
        Emulator.launch(ConstantKernels.class, "modes", grid, x, a, n);
        String ptx = PtxCompiler.compile(ConstantKernels.class, "modes").ptx();
        new PtxInterpreter(ptx).launch(grid, x.memory(), b.memory(), n);
        for (int i = 0; i < n; i++) {
            float v = x.get(i), expected = (float) Math.sqrt(Math.abs(v)) + 2f * (v * v);
            assertEquals(expected, a.get(i), 0f, "emulator " + i);
            assertEquals(expected, b.get(i), 1e-6f * Math.max(1f, expected), "PTX " + i);
        }
        assertEquals(1, ptx.split("sqrt\\.", -1).length - 1, "one square root (mode 1's copy only):\n" + ptx);
        assertFalse(ptx.contains("ex2"), "no call passes mode 2: its exponential is never translated:\n" + ptx);
    }
    /**
     * {@code null} as a buffer argument: where the callee's constants compile its use out, the kernel translates and
     * computes as the emulator does; where the write through it is live, the JIT refuses the kernel in one sentence.
     */
    @Test
    void aNullBufferIsTakenWhereItsUseIsCompiledOut() {
        int n = 70;
        F32Buffer x = F32Buffer.allocate(arena, n), a = F32Buffer.allocate(arena, n), b = F32Buffer.allocate(arena, n);
        for (int i = 0; i < n; i++) x.set(i, (float) random.nextGaussian());
        Grid grid = Grid.covering(n, 32);
        Emulator.launch(ConstantKernels.class, "nullBuffers", grid, x, a, n);
        new PtxInterpreter(PtxCompiler.compile(ConstantKernels.class, "nullBuffers").ptx()).launch(grid, x.memory(), b.memory(), n);
        for (int i = 0; i < n; i++) {
            assertEquals(x.get(i) * 2f + 1f, a.get(i), 0f, "emulator " + i);
            assertEquals(x.get(i) * 2f + 1f, b.get(i), 0f, "PTX " + i);
        }
        var e = org.junit.jupiter.api.Assertions.assertThrows(KernelCompilationException.class,
                () -> PtxCompiler.compile(ConstantKernels.class, "liveNullBuffer"));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("cannot be traced"), e.getMessage());
    }
}
