package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernels.GemmKernels;
import dev.moa.tasks.kernels.PipelinedGemm;
import dev.moa.tasks.kernels.PrefillKernels;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The tensor-core kernels' shared-memory accesses against the banks ({@link SharedBanks}): where {@code ldmatrix}
 * feeds every {@code mma}, a conflict costs the SM a cycle of the 128 bytes it can serve, so these layouts are
 * checked here, offline, as a GPU profiler would show them (Nsight Compute's shared wavefronts).
 */
class SharedBankConflictTest {
    final Arena arena = Arena.ofShared();
    final Random random = new Random(3);

    PtxInterpreter ptx(Class<?> owner, String method) {
        return new PtxInterpreter(PtxCompiler.compile(owner, method, TranslationFidelityTest.TARGET).ptx());
    }

    /** One warp: each lane stores and loads word {@code t·stride} of a shared array. */
    static void strided(KernelContext ctx, F32Buffer out, int stride) {
        float[] s = ctx.sharedF32(1024);
        int t = ctx.localId();
        s[t * stride % 1024] = t;
        ctx.barrier();
        out.set(t, s[t * stride % 1024]);
    }

    /** One warp: each lane loads 16 bytes ({@code ld.shared.v4}) at word {@code t·rowWords}. */
    static void rows16(KernelContext ctx, F32Buffer out, int rowWords) {
        float[] s = ctx.sharedF32(32 * 36);
        int t = ctx.localId();
        out.set(t, KernelContext.load4(s, t * rowWords).f32(0));
    }

    /**
     * The counter against the textbook cases: consecutive words and an odd stride take one wavefront a request; a
     * stride of 2 words two; of 32 words (one bank) 32; one word for every lane (a broadcast) one. 16-byte loads take
     * four phases of eight lanes: 128-byte rows put a phase's eight lanes in the same four banks (eight wavefronts a
     * phase), 32-byte rows in the same four banks twice (two), 80-byte rows (the tensor kernels' padding) none.
     */
    @Test
    void theCounterKnowsTheTextbookCases() {
        F32Buffer out = F32Buffer.allocate(arena, 32);
        int[][] scalar = {{1, 1}, {33, 1}, {2, 2}, {32, 32}, {0, 1}}; // stride, wavefronts per request
        for (int[] c : scalar) {
            PtxInterpreter k = ptx(SharedBankConflictTest.class, "strided");
            k.launch(Grid.of(1, 32), out.memory(), c[0]);
            assertEquals(2L * c[1], k.sharedWavefronts(), "stride " + c[0] + ": a store and a load");
            assertEquals(2L, k.sharedIdealWavefronts(), "stride " + c[0]);
        }
        int[][] wide = {{4, 4}, {20, 4}, {8, 8}, {32, 32}}; // words between lanes' 16 bytes, wavefronts of the warp's load
        for (int[] c : wide) {
            PtxInterpreter k = ptx(SharedBankConflictTest.class, "rows16");
            k.launch(Grid.of(1, 32), out.memory(), c[0]);
            assertEquals(c[1], k.sharedWavefronts(), c[0] + "-word rows");
            assertEquals(4L, k.sharedIdealWavefronts(), c[0] + "-word rows");
        }
    }

    /**
     * The pipelined GEMMs' copies into their ring and their {@code ldmatrix} reads take no extra wavefront (the
     * staging kernel's split activations conflict, which the pipelined ones no longer stage).
     */
    @Test
    void gemms() {
        int tokens = 128, rows = 128, cols = 128;
        Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols), xh = Half16Buffer.allocate(arena, (long) tokens * cols);
        F32Buffer x = F32Buffer.allocate(arena, (long) tokens * cols), bias = F32Buffer.allocate(arena, rows), out = F32Buffer.allocate(arena, tokens * rows);
        report("gemm-bf16-tensor-large", ptx(GemmKernels.class, "bf16TensorLarge"), GemmKernels.largeGrid(tokens, rows), w.memory(), x.memory(),
                bias.memory(), out.memory(), tokens, rows, cols, 0);
        for (int parts = 1; parts <= 2; parts++) {
            assertNoConflicts(report("gemm-pipelined-large, parts " + parts, ptx(PipelinedGemm.class, "large"), PipelinedGemm.largeGrid(tokens, rows, parts),
                    w.memory(), xh.memory(), xh.memory(), bias.memory(), out.memory(), tokens, rows, cols, parts, 0));
            assertNoConflicts(report("gemm-pipelined, parts " + parts, ptx(PipelinedGemm.class, "tile"), PipelinedGemm.grid(tokens, rows, parts),
                    w.memory(), xh.memory(), xh.memory(), bias.memory(), out.memory(), tokens, rows, cols, parts, 0));
        }
        for (int parts = 1; parts <= 2; parts++) {
            assertNoConflicts(report("gemm-pipelined-wide, parts " + parts, ptx(PipelinedGemm.class, "wide"), PipelinedGemm.wideGrid(tokens, rows, parts),
                    w.memory(), xh.memory(), xh.memory(), bias.memory(), out.memory(), tokens, rows, cols, parts, 0));
        }
    }

    /**
     * The prompt attention's key and value copies and its {@code ldmatrix} reads (plain and transposed) take no extra
     * wavefront; its queries' staging, once a group, conflicts two ways (4 % of the wavefronts at 128 tokens).
     */
    @Test
    void prefillAttention() {
        int tokens = 128, heads = 1, kvHeads = 1, headDim = 64, stride = heads * headDim;
        F32Buffer q = F32Buffer.allocate(arena, tokens * stride), kv = F32Buffer.allocate(arena, tokens * 2 * kvHeads * headDim);
        F32Buffer out = F32Buffer.allocate(arena, tokens * stride);
        I32Buffer bands = I32Buffer.of(arena, 100);
        long part = PrefillKernels.splitPart(tokens, 2 * kvHeads * headDim);
        Half16Buffer kv16 = Half16Buffer.allocate(arena, 2 * part);
        Emulator.launch(PrefillKernels.class, "splitKeysValues", Grid.covering(kv.length(), PrefillKernels.GROUP), kv, kv16, part, 0L, (int) kv.length());
        for (String kernel : new String[] {"blockSparseTensor", "blockSparseTensorRounded"}) {
            PtxInterpreter k = report(kernel, ptx(PrefillKernels.class, kernel), PrefillKernels.tensorGrid(tokens, heads, headDim), q.memory(),
                    kv16.memory(), part, out.memory(), bands.memory(),
                    I32Buffer.of(arena, PrefillKernels.longestFirst(0, tokens, tokens, heads, new int[] {100})).memory(), 0, 0, tokens, tokens, heads, kvHeads,
                    headDim, stride, 0.125f);
            assertFalse(k.bankConflicts().contains("ldmatrix") || k.bankConflicts().contains("cp.async"), k.bankConflicts());
            assertTrue(k.sharedWavefronts() < 1.06 * k.sharedIdealWavefronts(), k.bankConflicts());
        }
    }

    static PtxInterpreter report(String name, PtxInterpreter kernel, Grid grid, Object... args) {
        kernel.launch(grid, args);
        System.out.printf("%s: %d shared wavefronts, %d without conflicts (%.3f)%n%s", name, kernel.sharedWavefronts(), kernel.sharedIdealWavefronts(),
                (double) kernel.sharedWavefronts() / kernel.sharedIdealWavefronts(), kernel.bankConflicts());
        return kernel;
    }

    static void assertNoConflicts(PtxInterpreter kernel) {
        assertEquals(kernel.sharedIdealWavefronts(), kernel.sharedWavefronts(), kernel.bankConflicts());
    }
}
