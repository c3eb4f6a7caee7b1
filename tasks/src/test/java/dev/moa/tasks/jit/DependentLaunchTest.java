package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.cuda.PtxEntry;
import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/**
 * {@link KernelContext#awaitPriorKernels} and {@link KernelContext#prefetchL2}: what the JIT prints for each target,
 * what the PTX interpreter accepts (nothing touching global memory before the wait), and the emulator's checks.
 */
class DependentLaunchTest {
    @Test
    void hopperPtxWaitsThenLetsTheNextKernelLaunchAndEarlierTargetsGetNeither() throws Exception {
        String hopper = PtxCompiler.compile(DependentLaunchKernels.class, "prefetchThenWait", "sm_90").ptx();
        int prefetch = hopper.indexOf("prefetch.global.L2 "), wait = hopper.indexOf("griddepcontrol.wait;"),
                launch = hopper.indexOf("griddepcontrol.launch_dependents;");
        assertTrue(prefetch >= 0 && prefetch < wait && wait < launch, "prefetch, wait, then launch_dependents:\n" + hopper);
        assertTrue(PtxEntry.parse(hopper).get("prefetchThenWait").awaitsPriorKernels());
        String ampere = PtxCompiler.compile(DependentLaunchKernels.class, "prefetchThenWait", "sm_80").ptx();
        assertFalse(ampere.contains("griddepcontrol") || ampere.contains("prefetch.global"), ampere);
        assertFalse(PtxEntry.parse(ampere).get("prefetchThenWait").awaitsPriorKernels());
        if (Ptxas.available()) {
            assertEquals(0, Ptxas.assemble(hopper, "sm_90", tempDir()).spillStores(), "ptxas takes the Hopper PTX");
        }
    }

    /**
     * A decode matvec launched with {@code PREFETCH_WHOLE} (a small matrix, as a 1B model's output projection) asks
     * the L2 for every line of its weights before it waits, each warp its run of its rows, with rows shared by warps
     * and not; and for no line outside them. Without the flag, as before it: the lines of elements 0, 64, …, 448 of
     * each row (its first kilobyte).
     */
    @Test
    void aSmallMatVecAsksTheL2ForItsWholeMatrixBeforeWaiting() {
        int rows = 19, cols = 8 * 200;
        try (Arena arena = Arena.ofShared()) {
            Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
            F32Buffer x = F32Buffer.allocate(arena, cols), out = F32Buffer.allocate(arena, rows);
            long first = w.memory().address() >>> 7, last = (w.memory().address() + w.memory().byteSize() - 1) >>> 7;
            java.util.Set<Long> lines = new java.util.HashSet<>();
            for (long line = first; line <= last; line++) lines.add(line);
            for (int parts : new int[] {1, 4}) {
                PtxInterpreter matvec = new PtxInterpreter(PtxCompiler.compile(dev.moa.tasks.kernels.MatVecKernels.class, "bf16Into", "sm_90").ptx());
                matvec.launch(dev.moa.tasks.kernels.MatVecKernels.grid(rows, parts), w.memory(), x.memory(), out.memory(), out.memory(), rows, cols,
                        dev.moa.tasks.kernels.MatVecKernels.PREFETCH_WHOLE, parts);
                java.util.Set<Long> asked = matvec.prefetchedLines(), missed = new java.util.TreeSet<>(lines), outside = new java.util.TreeSet<>(asked);
                missed.removeAll(asked);
                outside.removeAll(lines);
                assertEquals(java.util.Set.of(), missed, parts + " warps a row: lines of the weights not asked for");
                assertEquals(java.util.Set.of(), outside, parts + " warps a row: lines asked for outside the weights");
            }
            PtxInterpreter bounded = new PtxInterpreter(PtxCompiler.compile(dev.moa.tasks.kernels.MatVecKernels.class, "bf16Into", "sm_90").ptx());
            bounded.launch(dev.moa.tasks.kernels.MatVecKernels.grid(rows, 1), w.memory(), x.memory(), out.memory(), out.memory(), rows, cols, 0, 1);
            java.util.Set<Long> firstKilobytes = new java.util.HashSet<>();
            for (int r = 0; r < rows; r++) {
                long start = w.memory().address() + (long) r * cols * 2;
                for (int k = 0; k < 8; k++) firstKilobytes.add((start + 128L * k) >>> 7); // the lines of elements 0, 64, ..., 448
            }
            assertEquals(firstKilobytes, bounded.prefetchedLines(), "without the flag: the first kilobyte of each row, as before the flag");
        }
    }

    /**
     * The q/k/v product of a one-session step, with {@code PREFETCH_KV}, asks the L2 for every line of the keys and the
     * values of each KV group's live slots (this step's included), in both cache formats, and for no other line of the
     * caches; not past {@code KV_PREFETCH_SLOTS} live slots, nor without the flag.
     */
    @Test
    void theQkvProductAsksTheL2ForTheAttentionsKeysAndValues() {
        // group 0: a ring of 40; group 1: of 600, past KV_PREFETCH_SLOTS once it fills
        int heads = 4, kvHeads = 2, headDim = 64, cols = 64, sink = 4;
        int[] ringOf = {40, 600}, firstOf = {0, sink + 40};
        int allSlots = 2 * sink + 40 + 600;
        int qkvRows = (heads + 2 * kvHeads) * headDim;
        try (Arena arena = Arena.ofShared()) {
            Half16Buffer w = Half16Buffer.allocate(arena, (long) qkvRows * cols), placeholder = Half16Buffer.allocate(arena, 8);
            F32Buffer x = F32Buffer.allocate(arena, cols), g = F32Buffer.allocate(arena, cols), bias = F32Buffer.allocate(arena, qkvRows);
            F32Buffer qkv = F32Buffer.allocate(arena, qkvRows), cos = F32Buffer.allocate(arena, 2048L * headDim / 2), sin = F32Buffer.allocate(arena, 2048L * headDim / 2);
            for (int i = 0; i < cols; i++) g.set(i, 1f);
            I32Buffer offsets = I32Buffer.of(arena, firstOf), rings = I32Buffer.of(arena, ringOf), sinkSlots = I32Buffer.of(arena, sink);
            I32Buffer positions = I32Buffer.allocate(arena, allSlots), step = I32Buffer.allocate(arena, dev.moa.tasks.kernels.Step.SIZE);
            for (int kvFormat : new int[] {dev.moa.tasks.kernels.KvStore.F32, dev.moa.tasks.kernels.KvStore.BF16}) {
                boolean bf16 = kvFormat == dev.moa.tasks.kernels.KvStore.BF16;
                F32Buffer keys = F32Buffer.allocate(arena, bf16 ? 8 : (long) allSlots * headDim), values = F32Buffer.allocate(arena, bf16 ? 8 : (long) allSlots * headDim);
                Half16Buffer keys16 = bf16 ? Half16Buffer.allocate(arena, (long) allSlots * headDim) : placeholder;
                Half16Buffer values16 = bf16 ? Half16Buffer.allocate(arena, (long) allSlots * headDim) : placeholder;
                java.lang.foreign.MemorySegment keyMemory = bf16 ? keys16.memory() : keys.memory(), valueMemory = bf16 ? values16.memory() : values.memory();
                int elementBytes = bf16 ? 2 : 4;
                for (int position : new int[] {20, 2000}) { // 21 live slots in each group; then 44 and 604
                    step.set(dev.moa.tasks.kernels.Step.POSITION, position);
                    for (int flag : new int[] {dev.moa.tasks.kernels.NormedMatVecKernels.PREFETCH_KV, 0}) {
                        PtxInterpreter qkvKernel = new PtxInterpreter(PtxCompiler.compile(dev.moa.tasks.kernels.NormedMatVecKernels.class, "halfRope", "sm_90").ptx());
                        qkvKernel.launch(dev.moa.tasks.kernels.NormedMatVecKernels.grid(qkvRows / 2, 1), w.memory(), x.memory(), g.memory(), bias.memory(),
                                qkv.memory(), cos.memory(), sin.memory(), keys.memory(), values.memory(), keys16.memory(), values16.memory(), positions.memory(),
                                offsets.memory(), rings.memory(), step.memory(), sinkSlots.memory(), heads, kvHeads, headDim, cols, 1e-5f, flag, 0, kvFormat, 1);
                        java.util.Set<Long> expected = new java.util.TreeSet<>(), cacheLines = new java.util.TreeSet<>();
                        for (var memory : new java.lang.foreign.MemorySegment[] {keyMemory, valueMemory}) {
                            for (long line = memory.address() >>> 7; line <= (memory.address() + memory.byteSize() - 1) >>> 7; line++) cacheLines.add(line);
                            for (int group = 0; group < kvHeads; group++) {
                                int live = Math.min(sink + ringOf[group], position + 1);
                                long from = memory.address() + (long) firstOf[group] * headDim * elementBytes;
                                long to = from + (long) live * headDim * elementBytes;
                                boolean asked = flag != 0 && live <= dev.moa.tasks.kernels.NormedMatVecKernels.KV_PREFETCH_SLOTS;
                                for (long line = from >>> 7; asked && line <= (to - 1) >>> 7; line++) expected.add(line);
                            }
                        }
                        java.util.Set<Long> askedOfCaches = new java.util.TreeSet<>(qkvKernel.prefetchedLines());
                        askedOfCaches.retainAll(cacheLines);
                        assertEquals(expected, askedOfCaches, (bf16 ? "BF16" : "F32") + " caches, position " + position + (flag != 0 ? "" : ", no flag")
                                + ": the lines of the live slots' keys and values, and no others of the caches");
                    }
                }
            }
        }
    }

    /** Each entry of a module of several says for itself whether it waits. */
    @Test
    void theWaitIsReadPerEntry() {
        String module = ".version 8.0\n.target sm_90\n.address_size 64\n"
                + ".visible .entry a(\n.param .u64 p\n)\n{\nret;\n}\n"
                + ".visible .entry b(\n.param .u64 p\n)\n{\ngriddepcontrol.wait;\nret;\n}\n";
        var entries = PtxEntry.parse(module);
        assertFalse(entries.get("a").awaitsPriorKernels());
        assertTrue(entries.get("b").awaitsPriorKernels());
    }

    @Test
    void theInterpreterRunsAKernelThatWaitsAndRefusesOneThatReadsFirst() {
        int n = 300;
        try (Arena arena = Arena.ofShared()) {
            Half16Buffer w = Half16Buffer.allocate(arena, 512);
            F32Buffer x = F32Buffer.allocate(arena, n), out = F32Buffer.allocate(arena, n), emulated = F32Buffer.allocate(arena, n);
            for (int i = 0; i < 512; i++) w.set(i, KernelContext.floatToBf16(i % 7));
            for (int i = 0; i < n; i++) x.set(i, 0.5f * i);
            Grid grid = Grid.of(2, 256);
            new PtxInterpreter(PtxCompiler.compile(DependentLaunchKernels.class, "prefetchThenWait", "sm_90").ptx())
                    .launch(grid, w.memory(), x.memory(), out.memory(), n);
            Emulator.launch(DependentLaunchKernels.class, "prefetchThenWait", grid, w, x, emulated, n);
            for (int i = 0; i < n; i++) {
                assertEquals(0.5f * i + i % 7, out.get(i), "element " + i);
                assertEquals(out.get(i), emulated.get(i), "element " + i + " in the emulator");
            }
            IllegalStateException early = assertThrows(IllegalStateException.class,
                    () -> new PtxInterpreter(PtxCompiler.compile(DependentLaunchKernels.class, "readsBeforeWaiting", "sm_90").ptx())
                            .launch(grid, w.memory(), x.memory(), out.memory(), n));
            assertTrue(early.getMessage().contains("before griddepcontrol.wait"), early.getMessage());
            // where no wait is compiled (sm_80) the kernel is launched plainly, and reading first is fine
            new PtxInterpreter(PtxCompiler.compile(DependentLaunchKernels.class, "readsBeforeWaiting", "sm_80").ptx())
                    .launch(grid, w.memory(), x.memory(), out.memory(), n);
            assertEquals(0.5f * 299 + 299 % 7, out.get(299));

            // hand-written: letting the next kernel launch before waiting would chain it to this one's predecessor
            String hopper = PtxCompiler.compile(DependentLaunchKernels.class, "prefetchThenWait", "sm_90").ptx();
            String swapped = hopper.replace("griddepcontrol.wait;", "WAIT").replace("griddepcontrol.launch_dependents;", "griddepcontrol.wait;")
                    .replace("WAIT", "griddepcontrol.launch_dependents;");
            IllegalStateException order = assertThrows(IllegalStateException.class,
                    () -> new PtxInterpreter(swapped).launch(grid, w.memory(), x.memory(), out.memory(), n));
            assertTrue(order.getMessage().contains("launch_dependents before griddepcontrol.wait"), order.getMessage());
        }
    }

    /**
     * A grid none of whose threads waits would complete at once, and the kernel after it (waiting for it alone) would
     * run beside the kernel before it: the interpreter refuses such a launch; one thread waiting is enough.
     */
    @Test
    void aLaunchWhereNoThreadWaitsIsRefused() {
        try (Arena arena = Arena.ofShared()) {
            F32Buffer out = F32Buffer.allocate(arena, 300);
            PtxInterpreter kernel = new PtxInterpreter(PtxCompiler.compile(DependentLaunchKernels.class, "returnsBeforeWaiting", "sm_90").ptx());
            kernel.launch(Grid.of(2, 256), out.memory(), 1);
            assertEquals(1f, out.get(0));
            IllegalStateException none = assertThrows(IllegalStateException.class, () -> kernel.launch(Grid.of(2, 256), out.memory(), 0));
            assertTrue(none.getMessage().contains("no thread of the launch reached griddepcontrol.wait"), none.getMessage());
        }
    }

    @Test
    void theEmulatorChecksAPrefetchIsInsideItsBuffer() {
        try (Arena arena = Arena.ofShared()) {
            Half16Buffer w = Half16Buffer.allocate(arena, 256);
            F32Buffer x = F32Buffer.allocate(arena, 300), out = F32Buffer.allocate(arena, 300);
            // work-item 256 prefetches element 256 of a 256-element buffer
            IllegalStateException past = assertThrows(IllegalStateException.class,
                    () -> Emulator.launch(DependentLaunchKernels.class, "prefetchThenWait", Grid.of(2, 256), w, x, out, 300));
            assertTrue(String.valueOf(past.getCause()).contains("prefetchL2: element 256 is outside the 256-element buffer"), String.valueOf(past.getCause()));
        }
    }

    private static java.nio.file.Path tempDir() {
        try {
            return java.nio.file.Files.createTempDirectory("dependent-launch");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
