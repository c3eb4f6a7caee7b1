package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Vec16;
import dev.moa.tasks.kernels.KernelCatalog;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * {@code Half16Buffer.load8Once}: the same eight elements as {@code load8}, loaded without allocating in L1
 * ({@code L1::no_allocate}; {@code .nc} too where the kernel never writes the buffer), which ptxas takes on sm_80 and
 * sm_90; and the decode matvecs stream their weights so while their activations' loads stay cached.
 */
class ReadOnceLoadsTest {
    /** out[i] = the sum of w's and v's eight elements at 8i, as their bits; writes {@code w} back where {@code write}. */
    static void stream(KernelContext ctx, Half16Buffer w, Half16Buffer v, F32Buffer out, int n, int write) {
        int i = ctx.globalId();
        if (i >= n) return;
        Vec16 a = w.load8Once(8L * i), b = v.load8(8L * i);
        out.set(i, a.word(0) + a.word(3) + b.word(1) + b.word(2));
        if (write != 0) w.set(8L * i, (short) 1);
    }

    static void streamReadOnly(KernelContext ctx, Half16Buffer w, Half16Buffer v, F32Buffer out, int n) {
        stream(ctx, w, v, out, n, 0);
    }

    static void streamWritten(KernelContext ctx, Half16Buffer w, Half16Buffer v, F32Buffer out, int n) {
        stream(ctx, w, v, out, n, 1);
    }

    @Test
    void aReadOnceLoadIsTheLoadWithoutL1Allocation() throws Exception {
        String readOnly = PtxCompiler.compile(ReadOnceLoadsTest.class, "streamReadOnly", "sm_90").ptx();
        String written = PtxCompiler.compile(ReadOnceLoadsTest.class, "streamWritten", "sm_90").ptx();
        assertEquals(1, count(readOnly, "ld.global.nc.L1::no_allocate.v4.b32"), readOnly);
        assertEquals(1, count(readOnly, "ld.global.nc.v4.b32"), "the other buffer's load stays cached");
        assertEquals(1, count(written, "ld.global.L1::no_allocate.v4.b32"), "a buffer the kernel writes: no .nc");
        int n = 37;
        try (Arena arena = Arena.ofShared()) {
            Half16Buffer w = Half16Buffer.allocate(arena, 8L * n), v = Half16Buffer.allocate(arena, 8L * n);
            for (long i = 0; i < 8L * n; i++) {
                w.set(i, (short) (i * 31 + 7));
                v.set(i, (short) (i * 17 + 3));
            }
            F32Buffer emulated = F32Buffer.allocate(arena, n), interpreted = F32Buffer.allocate(arena, n);
            Grid grid = Grid.of(2, 32);
            Emulator.launch(ReadOnceLoadsTest.class, "streamReadOnly", grid, w, v, emulated, n);
            new PtxInterpreter(readOnly).launch(grid, w.memory(), v.memory(), interpreted.memory(), n);
            for (int i = 0; i < n; i++) assertEquals(emulated.get(i), interpreted.get(i), "output " + i);
        }
        Assumptions.assumeTrue(Ptxas.available(), "ptxas is not on PATH (CUDA toolkit absent): assembly not checked");
        Path work = Files.createTempDirectory("read-once");
        for (String target : List.of("sm_80", "sm_90")) {
            for (String method : List.of("streamReadOnly", "streamWritten")) {
                Ptxas.Report r = Ptxas.assemble(PtxCompiler.compile(ReadOnceLoadsTest.class, method, target).ptx(), target, work);
                assertTrue(r.registers() > 0, method + " on " + target + ": " + r.log());
            }
        }
    }

    /** The 1B variants of the decode matvecs: their weights' 16-byte loads skip L1, the activations' loads do not. */
    @Test
    void decodeMatvecsStreamTheirWeightsPastL1() {
        for (String name : List.of("matvec-bf16-into", "matvec-half-batch", "matvec-normed-half", "matvec-normed-rope")) {
            KernelCatalog.Entry e = KernelCatalog.find(name).orElseThrow();
            String ptx = PtxCompiler.compile(e.owner(), e.method(), "sm_90", Specialization.named(e.owner(), e.method(), e.example())).ptx();
            assertTrue(count(ptx, "ld.global.nc.L1::no_allocate.v4.b32") > 0, name + ": weights loaded without L1 allocation");
            assertTrue(count(ptx, "ld.global.nc.v4.b32") > 0, name + ": activations loaded through L1");
        }
    }

    private static int count(String text, String what) {
        return text.split(java.util.regex.Pattern.quote(what), -1).length - 1;
    }
}
