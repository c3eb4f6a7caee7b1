package dev.moa.tasks.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.MatrixFragments;
import java.lang.foreign.Arena;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The tensor-core tile product against a plain matrix product, and the fragment layout against the PTX ISA's
 * table, checked element by element: every element of A, B and C has exactly one (lane, register, half).
 */
class TensorCoreKernelTest {
    final Random random = new Random();
    final Arena arena = Arena.ofShared();

    @Test
    void oneWarpsTileProductEqualsTheMatrixProduct() {
        for (int round = 0; round < 3; round++) {
            Half16Buffer a = Half16Buffer.allocate(arena, 256), b = Half16Buffer.allocate(arena, 128);
            double[][] av = new double[16][16], bv = new double[16][8];
            for (int r = 0; r < 16; r++) {
                for (int k = 0; k < 16; k++) {
                    short bits = KernelContext.floatToBf16((float) random.nextGaussian());
                    a.set(r * 16 + k, bits);
                    av[r][k] = KernelContext.bf16ToFloat(bits);
                }
            }
            for (int n = 0; n < 8; n++) {
                for (int k = 0; k < 16; k++) {
                    short bits = KernelContext.floatToBf16((float) random.nextGaussian());
                    b.set(n * 16 + k, bits); // column-major
                    bv[k][n] = KernelContext.bf16ToFloat(bits);
                }
            }
            F32Buffer c = F32Buffer.allocate(arena, 128), d = F32Buffer.allocate(arena, 128);
            for (int i = 0; i < 128; i++) c.set(i, (float) random.nextGaussian());
            Emulator.launch(TensorCoreKernels.class, "tile", Grid.of(1, 32), a, b, c, d);
            for (int r = 0; r < 16; r++) {
                for (int n = 0; n < 8; n++) {
                    double expected = c.get(r * 8 + n);
                    for (int k = 0; k < 16; k++) expected += av[r][k] * bv[k][n];
                    assertEquals(expected, d.get(r * 8 + n), 1e-5 * Math.max(1, Math.abs(expected)), "D[" + r + "][" + n + "]");
                }
            }
        }
    }

    /** The layout table (PTX ISA, m16n8k16): each lane's g = lane/4 and t = lane%4 fix its elements. */
    @Test
    void everyElementHasExactlyOnePlaceAsThePtxIsaLaysThemOut() {
        Set<String> a = new HashSet<>(), b = new HashSet<>(), c = new HashSet<>();
        for (int r = 0; r < 16; r++) {
            for (int k = 0; k < 16; k++) {
                int lane = MatrixFragments.aLane(r, k), word = MatrixFragments.aWord(r, k);
                // A: a0,a1 row g; a2,a3 row g+8; a4,a5 row g; a6,a7 row g+8; cols 2t + (i&1), +8 for i >= 4
                int i = 2 * word + k % 2;
                assertEquals(lane / 4 + (i == 2 || i == 3 || i >= 6 ? 8 : 0), r);
                assertEquals(lane % 4 * 2 + (i & 1) + (i >= 4 ? 8 : 0), k);
                a.add(lane + "/" + word + "/" + k % 2);
            }
        }
        for (int k = 0; k < 16; k++) {
            for (int n = 0; n < 8; n++) {
                int lane = MatrixFragments.bLane(k, n), i = 2 * MatrixFragments.bWord(k, n) + k % 2;
                assertEquals(lane % 4 * 2 + (i & 1) + (i >= 2 ? 8 : 0), k); // b0,b1 rows 2t + (i&1); b2,b3 + 8
                assertEquals(lane / 4, n);
                b.add(lane + "/" + i);
                int cl = MatrixFragments.cLane(k, n), ci = MatrixFragments.cIndex(k, n);
                assertEquals(cl / 4 + (ci >= 2 ? 8 : 0), k); // c0,c1 row g; c2,c3 row g+8; cols 2t + (i&1)
                assertEquals(cl % 4 * 2 + (ci & 1), n);
                c.add(cl + "/" + ci);
            }
        }
        assertEquals(256, a.size());
        assertEquals(128, b.size());
        assertEquals(128, c.size());
    }
}
