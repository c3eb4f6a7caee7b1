package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernels.MatVecKernels;
import dev.moa.tasks.kernels.VectorKernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The generated PTX, executed by a test-only interpreter, computes what the Java kernel computes in the emulator:
 * the translation is checked, not just the kernel's idea. A deliberately broken translation must be caught.
 */
class TranslationFidelityTest {
    final Random random = new Random();
    final Arena arena = Arena.ofShared();

    F32Buffer randomBuffer(int n) {
        F32Buffer b = F32Buffer.allocate(arena, n);
        for (int i = 0; i < n; i++) b.set(i, (float) random.nextGaussian());
        return b;
    }

    F32Buffer copy(F32Buffer b) {
        F32Buffer c = F32Buffer.allocate(arena, b.length());
        MemorySegment.copy(b.memory(), 0, c.memory(), 0, b.memory().byteSize());
        return c;
    }

    static void assertClose(F32Buffer expected, F32Buffer actual, double tolerance) {
        for (long i = 0; i < expected.length(); i++) {
            assertEquals(expected.get(i), actual.get(i), tolerance * Math.max(1, Math.abs(expected.get(i))), "element " + i);
        }
    }

    PtxInterpreter ptx(Class<?> owner, String method) {
        return new PtxInterpreter(PtxCompiler.compile(owner, method).ptx());
    }

    @Test
    void elementwiseKernels() {
        int n = 900 + random.nextInt(200);
        F32Buffer a = randomBuffer(n), b = randomBuffer(n), c1 = F32Buffer.allocate(arena, n), c2 = F32Buffer.allocate(arena, n);
        Emulator.launch(VectorKernels.class, "add", Grid.covering(n, 128), a, b, c1, n);
        ptx(VectorKernels.class, "add").launch(Grid.covering(n, 128), a.memory(), b.memory(), c2.memory(), n);
        assertClose(c1, c2, 0);
        Emulator.launch(VectorKernels.class, "siluTimes", Grid.covering(n, 128), a, b, c1, n);
        ptx(VectorKernels.class, "siluTimes").launch(Grid.covering(n, 128), a.memory(), b.memory(), c2.memory(), n);
        assertClose(c1, c2, 1e-5);
    }

    @Test
    void rowKernelsWithSharedMemoryAndBarriers() {
        int rows = 2, dim = 300 + random.nextInt(100);
        F32Buffer x = randomBuffer(rows * dim), w = randomBuffer(dim);
        F32Buffer out1 = F32Buffer.allocate(arena, rows * dim), out2 = F32Buffer.allocate(arena, rows * dim);
        Grid grid = Grid.of(rows, VectorKernels.ROW_GROUP);
        Emulator.launch(VectorKernels.class, "rmsNorm", grid, x, w, out1, dim, 1e-5f);
        ptx(VectorKernels.class, "rmsNorm").launch(grid, x.memory(), w.memory(), out2.memory(), dim, 1e-5f);
        assertClose(out1, out2, 1e-5);

        F32Buffer s1 = copy(x), s2 = copy(x);
        Emulator.launch(VectorKernels.class, "softmax", grid, s1, dim);
        ptx(VectorKernels.class, "softmax").launch(grid, s2.memory(), dim);
        assertClose(s1, s2, 1e-5);

        F32Buffer logits = randomBuffer(2000);
        I32Buffer r1 = I32Buffer.allocate(arena, 1), r2 = I32Buffer.allocate(arena, 1);
        Emulator.launch(VectorKernels.class, "argmax", Grid.of(1, VectorKernels.ROW_GROUP), logits, r1, 2000);
        ptx(VectorKernels.class, "argmax").launch(Grid.of(1, VectorKernels.ROW_GROUP), logits.memory(), r2.memory(), 2000);
        assertEquals(r1.get(0), r2.get(0));
    }

    @Test
    void warpShuffleMatVec() {
        int rows = 21, cols = 77 + random.nextInt(50);
        Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
        for (long i = 0; i < w.length(); i++) w.set(i, (short) (Float.floatToIntBits((float) random.nextGaussian()) >>> 16));
        F32Buffer x = randomBuffer(cols), o1 = F32Buffer.allocate(arena, rows), o2 = F32Buffer.allocate(arena, rows);
        Grid grid = Grid.of((rows + MatVecKernels.ROWS_PER_GROUP - 1) / MatVecKernels.ROWS_PER_GROUP, MatVecKernels.GROUP);
        Emulator.launch(MatVecKernels.class, "bf16", grid, w, x, o1, rows, cols);
        ptx(MatVecKernels.class, "bf16").launch(grid, w.memory(), x.memory(), o2.memory(), rows, cols);
        assertClose(o1, o2, 1e-5);
    }

    /** Flipping one emitted instruction (add.f32 → sub.f32, or a loop condition inverted) is caught. */
    @Test
    void aWrongTranslationIsCaught() {
        int n = 300;
        F32Buffer a = randomBuffer(n), b = randomBuffer(n), c1 = F32Buffer.allocate(arena, n), c2 = F32Buffer.allocate(arena, n);
        Emulator.launch(VectorKernels.class, "add", Grid.covering(n, 128), a, b, c1, n);
        String good = PtxCompiler.compile(VectorKernels.class, "add").ptx();
        String broken = good.replace("add.f32", "sub.f32");
        assertNotEquals(good, broken);
        new PtxInterpreter(broken).launch(Grid.covering(n, 128), a.memory(), b.memory(), c2.memory(), n);
        assertTrue(differs(c1, c2), "sub instead of add must change the result");

        int rows = 1, dim = 333;
        F32Buffer x = randomBuffer(dim), w = randomBuffer(dim), o1 = F32Buffer.allocate(arena, dim), o2 = F32Buffer.allocate(arena, dim);
        Emulator.launch(VectorKernels.class, "rmsNorm", Grid.of(rows, VectorKernels.ROW_GROUP), x, w, o1, dim, 1e-5f);
        String norm = PtxCompiler.compile(VectorKernels.class, "rmsNorm").ptx();
        String inverted = norm.replaceFirst("setp\\.ge\\.s32", "setp.lt.s32");
        assertNotEquals(norm, inverted);
        new PtxInterpreter(inverted).launch(Grid.of(rows, VectorKernels.ROW_GROUP), x.memory(), w.memory(), o2.memory(), dim, 1e-5f);
        assertTrue(differs(o1, o2), "an inverted loop condition must change the result");
    }

    static boolean differs(F32Buffer a, F32Buffer b) {
        for (long i = 0; i < a.length(); i++) if (Math.abs(a.get(i) - b.get(i)) > 1e-4 * Math.max(1, Math.abs(a.get(i)))) return true;
        return false;
    }
}
