package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.LaunchBounds;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@link LaunchBounds}: declared in the PTX, honoured by ptxas, larger groups refused by the emulator and the interpreter. */
class LaunchBoundsTest {
    private final Arena arena = Arena.ofAuto();

    @Test
    void thePtxDeclaresTheBoundsAndPtxasKeepsTheRegistersWithinThem() throws Exception {
        String bounded = PtxCompiler.compile(LaunchBoundsKernels.class, "bounded", "sm_90").ptx();
        String free = PtxCompiler.compile(LaunchBoundsKernels.class, "free", "sm_90").ptx();
        assertTrue(bounded.contains(".maxntid 256, 1, 1\n.minnctapersm 8\n{"), bounded);
        assertFalse(free.contains(".maxntid") || free.contains(".minnctapersm"), free);
        if (!Ptxas.available()) return; // the CUDA toolkit is not here: the declaration is all that can be checked
        Path work = Files.createTempDirectory("moa-bounds");
        int freeRegisters = Ptxas.assemble(free, "sm_90", work).registers(), boundedRegisters = Ptxas.assemble(bounded, "sm_90", work).registers();
        assertTrue(freeRegisters > 32, "the body needs more than 32 registers unbounded: " + freeRegisters);
        assertTrue(boundedRegisters <= 32, "eight groups of 256 per SM leave 32 registers each: " + boundedRegisters);
    }

    @Test
    void largerGroupsAreRefusedAndBoundedOnesRunAsTheUnboundedKernel() {
        int n = 5;
        F32Buffer x = F32Buffer.allocate(arena, 24 + n), a = F32Buffer.allocate(arena, 64), b = F32Buffer.allocate(arena, 64);
        for (int i = 0; i < 24 + n; i++) x.set(i, 0.25f * (i % 7) - 0.5f);
        Emulator.launch(LaunchBoundsKernels.class, "free", Grid.of(1, 64), x, a, n);
        Emulator.launch(LaunchBoundsKernels.class, "bounded", Grid.of(1, 64), x, b, n);
        for (int i = 0; i < 64; i++) assertEquals(a.get(i), b.get(i));
        F32Buffer wide = F32Buffer.allocate(arena, 512);
        var e = assertThrows(IllegalArgumentException.class, () -> Emulator.launch(LaunchBoundsKernels.class, "bounded", Grid.of(1, 512), x, wide, n));
        assertTrue(e.getMessage().contains("at most 256") && e.getMessage().contains("512"), e.getMessage());
        PtxInterpreter ptx = new PtxInterpreter(PtxCompiler.compile(LaunchBoundsKernels.class, "bounded", "sm_90").ptx());
        F32Buffer c = F32Buffer.allocate(arena, 64);
        ptx.launch(Grid.of(1, 64), x.memory(), c.memory(), n);
        for (int i = 0; i < 64; i++) assertEquals(a.get(i), c.get(i), 1e-6f);
        assertThrows(IllegalArgumentException.class, () -> ptx.launch(Grid.of(1, 512), x.memory(), wide.memory(), n));
    }
}
