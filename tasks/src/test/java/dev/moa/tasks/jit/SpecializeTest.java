package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code @Specialize}: a variant per launch value, the value a constant inside it — computing what the kernel as
 * written computes (PTX interpreter against plain Java and the emulator), with its loop limits, divisions and tests
 * folded, and refusing what would not be a constant throughout.
 */
class SpecializeTest {
    final Arena arena = Arena.ofShared();
    final Random random = new Random(11);

    @Test
    void eachVariantComputesWhatTheKernelAsWrittenDoes() {
        int rows = 37;
        for (int[] shape : new int[][] {{64, 7}, {37, 8}, {1, 3}, {12, 5}}) {
            int cols = shape[0], period = shape[1];
            F32Buffer x = F32Buffer.allocate(arena, (long) rows * cols), emulated = F32Buffer.allocate(arena, rows),
                    general = F32Buffer.allocate(arena, rows), special = F32Buffer.allocate(arena, rows);
            for (long i = 0; i < x.length(); i++) x.set(i, (float) random.nextGaussian());
            Grid grid = Grid.covering(rows, 32);
            Emulator.launch(SpecializedKernels.class, "rowSums", grid, x, emulated, rows, cols, period);
            new PtxInterpreter(PtxCompiler.compile(SpecializedKernels.class, "rowSums").ptx()).launch(grid, x.memory(), general.memory(), rows, cols,
                    period);
            Specialization fixed = Specialization.of(SpecializedKernels.class, "rowSums", List.of(x, special, rows, cols, period));
            assertEquals("{3=" + cols + ", 4=" + period + "}", fixed.values().toString(), "arguments 3 and 4 (cols, period); rows left variable");
            String ptx = PtxCompiler.compile(SpecializedKernels.class, "rowSums", PtxCompiler.DEFAULT_TARGET, fixed).ptx();
            assertTrue(ptx.contains("// specialized: cols = " + cols + ", period = " + period), "the header names the values:\n" + ptx);
            new PtxInterpreter(ptx).launch(grid, x.memory(), special.memory(), rows, cols, period);
            for (int r = 0; r < rows; r++) {
                double expected = 0;
                for (int c = 0; c < cols; c++) expected += x.get((long) r * cols + c) * (double) (c % period + 1);
                String what = cols + " columns, period " + period + ", row " + r;
                assertEquals(expected, emulated.get(r), 1e-4, "emulator, " + what);
                assertEquals(emulated.get(r), general.get(r), 1e-5, "PTX as written, " + what);
                assertEquals(emulated.get(r), special.get(r), 1e-5, "PTX specialized, " + what);
            }
            // folded: the remainder by a constant is no division, the limit no run-time test against a parameter
            assertFalse(ptx.contains("rem.s32") || ptx.contains("div.s32"), "the remainder by " + period + " is folded:\n" + ptx);
            assertFalse(ptx.contains("2147483"), "no narrow copy for limits near Integer.MAX_VALUE:\n" + ptx);
        }
    }

    /** A variant is its own cache entry; the kernel as written another. */
    @Test
    void variantsAreCachedApart() {
        KernelCache cache = new KernelCache(null);
        Specialization a = Specialization.named(SpecializedKernels.class, "rowSums", java.util.Map.of("cols", 64, "period", 7));
        Specialization b = Specialization.named(SpecializedKernels.class, "rowSums", java.util.Map.of("cols", 64, "period", 8));
        String pa = cache.compile(SpecializedKernels.class, "rowSums", "sm_90", a).ptx(), pb = cache.compile(SpecializedKernels.class, "rowSums", "sm_90", b).ptx();
        String plain = cache.compile(SpecializedKernels.class, "rowSums", "sm_90").ptx();
        assertTrue(pa.contains("period = 7") && pb.contains("period = 8") && !plain.contains("specialized"));
        assertEquals(pa, cache.compile(SpecializedKernels.class, "rowSums", "sm_90", a).ptx());
        assertEquals(3, cache.compilations());
    }

    @Test
    void whatWouldNotBeAConstantIsRefused() {
        Specialization n = Specialization.named(SpecializedKernels.class, "assigns", java.util.Map.of("n", 3));
        KernelCompilationException assigned = assertThrows(KernelCompilationException.class,
                () -> PtxCompiler.compile(SpecializedKernels.class, "assigns", PtxCompiler.DEFAULT_TARGET, n));
        assertTrue(assigned.getMessage().contains("assigning a @Specialize parameter"), assigned.getMessage());
        IllegalArgumentException onFloat = assertThrows(IllegalArgumentException.class,
                () -> Specialization.of(SpecializedKernels.class, "onAFloat", List.of(1, 2f)));
        assertEquals("SpecializedKernels.onAFloat: @Specialize on scale, a float; only int parameters are specialized", onFloat.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> Specialization.named(SpecializedKernels.class, "rowSums", java.util.Map.of("rows", 3)));
        assertEquals("SpecializedKernels.rowSums has no @Specialize parameter rows", unknown.getMessage());
    }
}
