package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.I32Buffer;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/**
 * The PTX interpreter (which reads PTX as the JIT prints it: a parameter and a register per line), the reference the JIT's output is run on, on hand-written PTX where its integer semantics
 * could go wrong: unsigned comparisons and the high half of products of operands with the top bit set.
 */
class PtxInterpreterTest {
    static final String MODULE = """
            .version 8.0
            .target sm_80
            .address_size 64
            .visible .entry k(
                .param .u64 p0
            )
            {
                .reg .u64 %a;
                .reg .u64 %w;
                .reg .s32 %x;
                .reg .s32 %y;
                .reg .s32 %r;
                .reg .pred %p;
                ld.param.u64 %a, [p0];
                cvta.to.global.u64 %a, %a;
                ld.global.s32 %x, [%a];
                add.s64 %w, %a, 4;
                ld.global.s32 %y, [%w];
                setp.lt.u32 %p, %x, %y;
                selp.s32 %r, 1, 0, %p;
                add.s64 %w, %a, 8;
                st.global.s32 [%w], %r;
                setp.lt.s32 %p, %x, %y;
                selp.s32 %r, 1, 0, %p;
                add.s64 %w, %a, 12;
                st.global.s32 [%w], %r;
                mul.hi.u32 %r, %x, %y;
                add.s64 %w, %a, 16;
                st.global.s32 [%w], %r;
                mul.hi.s32 %r, %x, %y;
                add.s64 %w, %a, 20;
                st.global.s32 [%w], %r;
                ret;
            }
            """;

    @Test
    void unsignedComparisonsAndHighProductsOfLargeOperands() {
        int x = 0x80000001, y = 3; // x is 2^31 + 1 unsigned, -(2^31 - 1) signed
        try (Arena arena = Arena.ofShared()) {
            I32Buffer io = I32Buffer.of(arena, new int[] {x, y, -1, -1, -1, -1});
            new PtxInterpreter(MODULE).launch(Grid.of(1, 1), io.memory());
            assertEquals(0, io.get(2), "unsigned: 2^31 + 1 < 3 is false");
            assertEquals(1, io.get(3), "signed: -(2^31 - 1) < 3");
            assertEquals((int) (((x & 0xFFFFFFFFL) * y) >>> 32), io.get(4), "mul.hi.u32");
            assertEquals((int) (((long) x * y) >> 32), io.get(5), "mul.hi.s32");
        }
    }

    /** Each work-item writes its word of a shared array, then reads its neighbour's: after a barrier or (racing) without. */
    static void neighbours(dev.moa.tasks.kernel.KernelContext ctx, I32Buffer out, int barrier) {
        int[] words = ctx.sharedI32(64);
        int t = ctx.localId();
        words[t] = t;
        if (barrier != 0) ctx.barrier();
        out.set(t, words[t ^ 1]);
    }

    /** Work-items copy a row into a shared buffer asynchronously while (racing) or after (a barrier between) others read it. */
    static void overwritten(dev.moa.tasks.kernel.KernelContext ctx, dev.moa.tasks.kernel.F32Buffer in, I32Buffer out, int barrier) {
        int[] words = ctx.sharedI32(64);
        int t = ctx.localId();
        words[t] = -t;
        ctx.barrier();
        out.set(t, words[63 - t]);
        if (barrier != 0) ctx.barrier();
        if (t < 16) ctx.copyAsync(words, 4 * t, in, 4L * t);
        ctx.commitCopies();
        ctx.waitCopies(0);
    }

    /**
     * The interpreter finds shared-memory races as compute-sanitizer's racecheck does: a word one thread writes and
     * another reads with no bar.sync between them, in either order, an asynchronous copy counting as a write from
     * where it starts (the GPU may land it then) — though here the values come out right (the copy lands at its wait).
     * With the barrier each kernel runs.
     */
    @Test
    void sharedMemoryRacesAreFound() {
        try (Arena arena = Arena.ofShared()) {
            I32Buffer out = I32Buffer.allocate(arena, 64);
            dev.moa.tasks.kernel.F32Buffer in = dev.moa.tasks.kernel.F32Buffer.allocate(arena, 64);
            PtxInterpreter neighbours = new PtxInterpreter(PtxCompiler.compile(PtxInterpreterTest.class, "neighbours").ptx());
            neighbours.launch(Grid.of(1, 64), out.memory(), 1);
            for (int t = 0; t < 64; t++) assertEquals(t ^ 1, out.get(t));
            IllegalStateException race = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> neighbours.launch(Grid.of(1, 64), out.memory(), 0));
            org.junit.jupiter.api.Assertions.assertTrue(race.getMessage().contains("shared-memory race"), race.getMessage());
            PtxInterpreter overwritten = new PtxInterpreter(PtxCompiler.compile(PtxInterpreterTest.class, "overwritten").ptx());
            overwritten.launch(Grid.of(1, 64), in.memory(), out.memory(), 1);
            race = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> overwritten.launch(Grid.of(1, 64), in.memory(), out.memory(), 0));
            org.junit.jupiter.api.Assertions.assertTrue(race.getMessage().contains("shared-memory race") && race.getMessage().contains("cp.async"),
                    race.getMessage());
        }
    }

    /** Lanes from {@code stay} on leave the kernel; the others sum their ids across the warp. */
    static void halfWarpSum(dev.moa.tasks.kernel.KernelContext ctx, I32Buffer out, int stay) {
        int t = ctx.localId();
        if (t >= stay) return;
        out.set(t, (int) ctx.warpSum((float) t));
    }

    /**
     * A warp-wide operation (here shfl.sync with the full mask) after some of the warp's lanes left the kernel is
     * undefined on a GPU (it may hang): the interpreter and the emulator refuse it, where the lanes left would
     * otherwise go on alone.
     */
    @Test
    void warpOperationsNeedEveryLaneOfTheWarp() {
        try (Arena arena = Arena.ofShared()) {
            I32Buffer out = I32Buffer.allocate(arena, 32);
            PtxInterpreter sum = new PtxInterpreter(PtxCompiler.compile(PtxInterpreterTest.class, "halfWarpSum").ptx());
            sum.launch(Grid.of(1, 32), out.memory(), 32);
            assertEquals(31 * 32 / 2, out.get(5));
            IllegalStateException refused = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> sum.launch(Grid.of(1, 32), out.memory(), 16));
            org.junit.jupiter.api.Assertions.assertTrue(refused.getMessage().contains("lanes left the kernel"), refused.getMessage());
            // and the emulator, whose lanes run in lockstep
            dev.moa.tasks.emulator.Emulator.launch(PtxInterpreterTest.class, "halfWarpSum", Grid.of(1, 32), out, 32);
            assertEquals(31 * 32 / 2, out.get(7));
            refused = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> dev.moa.tasks.emulator.Emulator.launch(PtxInterpreterTest.class, "halfWarpSum", Grid.of(1, 32), out, 16));
            org.junit.jupiter.api.Assertions.assertTrue(String.valueOf(refused.getMessage()).contains("lanes left the kernel")
                    || String.valueOf(refused.getCause()).contains("lanes left the kernel"), refused.toString());
        }
    }
}
