package dev.moa.tasks.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.graph.CudaBackend;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernels.VectorKernels;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend against the fake driver: kernels reach the driver as our JIT's PTX, buffers become resident
 * device memory passed by address, a graph is captured once and replayed, and downloads copy back.
 */
class CudaBackendTest {
    /**
     * Uploads, a replay and a read-back as one round trip ({@code run(graph, uploads, result)}): the replay sees the
     * uploaded values, the result comes back, and the host waits for the device once (not once per copy and once for
     * the replay).
     */
    @Test
    void uploadsAReplayAndItsResultWaitOnce() {
        CudaDriver driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        int n = 300;
        try (Arena arena = Arena.ofShared(); CudaContext context = CudaContext.open(driver, 0);
             CudaBackend gpu = new CudaBackend(context, new dev.moa.tasks.jit.KernelCache(null))) {
            F32Buffer a = F32Buffer.allocate(arena, n), b = F32Buffer.allocate(arena, n), c = F32Buffer.allocate(arena, n);
            TaskGraph sum = new TaskGraph().task("sum", VectorKernels.class, "add", Grid.covering(n, 256), a, b, c, n);
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < n; i++) {
                    a.set(i, i * round);
                    b.set(i, 1);
                    c.set(i, -7);
                }
                long waits = FakeCuda.waitCount();
                gpu.run(sum, java.util.List.of(a, b), c);
                for (int i = 0; i < n; i++) assertEquals(i * round + 1f, c.get(i), "round " + round + ", float " + i);
                if (round > 0) assertEquals(waits + 1, FakeCuda.waitCount(), "round " + round + ": one wait");
            }
            org.junit.jupiter.api.Assertions.assertNull(FakeCuda.launchFailure());
        }
    }

    /**
     * A replay queued with its read-back ({@code enqueue}): the host goes on at once, a second replay can be queued
     * behind the first before anything is read, and each handle, awaited, leaves its own replay's result in the host
     * copy (the fake delivers a copy into page-locked memory only when the host waits, as a device would: a result read
     * from it early would be what was there before). The page-locked memory is reused, and freed with the backend.
     */
    @Test
    void aQueuedReplayReadsBackItsOwnResultWhenAwaited() {
        CudaDriver driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        int n = 300;
        try (Arena arena = Arena.ofShared(); CudaContext context = CudaContext.open(driver, 0);
             CudaBackend gpu = new CudaBackend(context, new dev.moa.tasks.jit.KernelCache(null))) {
            assertTrue(gpu.runsApart());
            F32Buffer a = F32Buffer.allocate(arena, n), b = F32Buffer.allocate(arena, n), c = F32Buffer.allocate(arena, n);
            TaskGraph sum = new TaskGraph().task("sum", VectorKernels.class, "add", Grid.covering(n, 256), a, b, c, n);
            for (int i = 0; i < n; i++) {
                a.set(i, i);
                b.set(i, 1);
                c.set(i, -7);
            }
            gpu.run(sum, java.util.List.of(a, b), c); // (captured)
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < n; i++) {
                    a.set(i, i * round);
                    c.set(i, -7);
                }
                long waits = FakeCuda.waitCount(), graphs = FakeCuda.graphLaunchCount();
                var first = gpu.enqueue(sum, java.util.List.of(a, b), c);
                for (int i = 0; i < n; i++) a.set(i, 2 * i * round);
                var second = gpu.enqueue(sum, java.util.List.of(a), c);
                assertEquals(waits, FakeCuda.waitCount(), "nothing waited for yet");
                assertEquals(-7f, c.get(5), "the host copy untouched before the handle is awaited");
                first.await();
                assertEquals(graphs + 2, FakeCuda.graphLaunchesAtWait(), "both replays were queued before the host waited");
                for (int i = 0; i < n; i++) assertEquals(i * round + 1f, c.get(i), "round " + round + ", first, float " + i);
                second.await();
                second.await(); // (once only)
                for (int i = 0; i < n; i++) assertEquals(2 * i * round + 1f, c.get(i), "round " + round + ", second, float " + i);
            }
            assertEquals(2, FakeCuda.livePinned(), "two read-backs were in flight at once, then reused");
            org.junit.jupiter.api.Assertions.assertNull(FakeCuda.launchFailure());
        }
        assertEquals(0, FakeCuda.livePinned(), "the page-locked memory freed with the backend");
    }

    /** A ranged download reads back those bytes of the device copy and leaves the rest of the host memory as it was. */
    @Test
    void aRangedDownloadReadsBackItsBytesOnly() {
        CudaDriver driver = FakeCuda.freshDriver();
        int n = 1000;
        try (Arena arena = Arena.ofShared(); CudaContext context = CudaContext.open(driver, 0);
             CudaBackend gpu = new CudaBackend(context, new dev.moa.tasks.jit.KernelCache(null))) {
            F32Buffer x = F32Buffer.allocate(arena, n);
            for (int i = 0; i < n; i++) x.set(i, i);
            gpu.upload(x);
            for (int i = 0; i < n; i++) x.set(i, -1f);
            gpu.download(x, 4L * 100, 4L * 200);
            for (int i = 0; i < n; i++) assertEquals(i >= 100 && i < 300 ? i : -1f, x.get(i), "float " + i);
            org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class, () -> gpu.download(x, 4L * 900, 4L * 101));
        }
    }

    /**
     * A launch with 80 KB of dynamic shared memory: the backend raises the kernel's limit (cuFuncSetAttribute) before
     * it, as the driver demands past 48 KB (the fake refuses otherwise), and the kernel computes.
     */
    @Test
    void dynamicSharedMemoryPast48KbIsAllowedBeforeTheLaunch() {
        CudaDriver driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        int n = 20_000;
        try (Arena arena = Arena.ofShared(); CudaContext context = CudaContext.open(driver, 0);
             CudaBackend gpu = new CudaBackend(context, new dev.moa.tasks.jit.KernelCache(null))) {
            F32Buffer x = F32Buffer.allocate(arena, n), out = F32Buffer.allocate(arena, n);
            for (int i = 0; i < n; i++) x.set(i, i);
            Grid grid = Grid.of(1, 256).withSharedBytes(4 * n);
            gpu.runOnce(new TaskGraph().task("reverse", dev.moa.tasks.jit.SharedMemoryKernels.class, "dynamicShared", grid, x, out, n));
            gpu.download(out);
            assertEquals(null, FakeCuda.launchFailure());
            assertEquals(2f * (n - 1) - 0, out.get(0));
            assertEquals(2f * 0 - (n - 1) % 8, out.get(n - 1));
            assertEquals(4 * n, FakeCuda.lastLaunch().dims()[6], "the launch carried the dynamic size");

            // the same kernel launched raw, without raising the limit, is refused as the real driver would
            CudaModule module = context.loadModule(dev.moa.tasks.jit.PtxCompiler.compile(dev.moa.tasks.jit.SharedMemoryKernels.class, "dynamicShared").ptx());
            CudaFunction f = module.function("dynamicShared");
            CudaException e = org.junit.jupiter.api.Assertions.assertThrows(CudaException.class,
                    () -> f.launch(Dim3.of(1), Dim3.of(256), 4 * n, null, 0L, 0L, n));
            assertTrue(e.getMessage().contains("cuLaunchKernel"), e.getMessage());
        }
    }

    /**
     * The large-tile prompt GEMM keeps 40 KB of static arrays and a 16 KB dynamic staging buffer: past 48 KB in all, so
     * it runs only where the backend opts its launches in; through the fake driver (its PTX in the interpreter) it
     * gives the emulator's bits of the 64 × 64 kernel, bias and residual included.
     */
    @Test
    void theLargeTileGemmRunsPastTheStaticLimit() {
        CudaDriver driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches(FakeCuda.Execution.PTX);
        int tokens = 130, rows = 136, cols = 72, epilogue = dev.moa.tasks.kernels.MatVecKernels.BIAS | dev.moa.tasks.kernels.MatVecKernels.ACCUMULATE;
        java.util.Random random = new java.util.Random(9);
        try (Arena arena = Arena.ofShared(); CudaContext context = CudaContext.open(driver, 0);
             CudaBackend gpu = new CudaBackend(context, new dev.moa.tasks.jit.KernelCache(null))) {
            var w = dev.moa.tasks.kernel.Half16Buffer.allocate(arena, (long) rows * cols);
            for (long i = 0; i < w.length(); i++) w.set(i, dev.moa.tasks.kernel.KernelContext.floatToBf16((float) random.nextGaussian()));
            F32Buffer x = F32Buffer.allocate(arena, (long) tokens * cols), bias = F32Buffer.allocate(arena, rows);
            F32Buffer out = F32Buffer.allocate(arena, (long) tokens * rows), expected = F32Buffer.allocate(arena, (long) tokens * rows);
            for (long i = 0; i < x.length(); i++) x.set(i, (float) random.nextGaussian());
            for (int i = 0; i < rows; i++) bias.set(i, (float) random.nextGaussian());
            for (long i = 0; i < out.length(); i++) {
                out.set(i, i % 5);
                expected.set(i, i % 5);
            }
            Grid large = dev.moa.tasks.kernels.GemmKernels.largeGrid(tokens, rows);
            assertTrue(large.sharedBytes() > 0, "the staging buffer is dynamic");
            gpu.runOnce(new TaskGraph().task("gemm", dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorLarge", large, w, x, bias, out, tokens, rows,
                    cols, epilogue));
            gpu.download(out);
            assertEquals(null, FakeCuda.launchFailure());
            dev.moa.tasks.emulator.Emulator.launch(dev.moa.tasks.kernels.GemmKernels.class, "bf16Tensor", dev.moa.tasks.kernels.GemmKernels.tensorGrid(tokens, rows),
                    w, x, bias, expected, tokens, rows, cols, epilogue);
            for (long i = 0; i < out.length(); i++) {
                assertEquals(Float.floatToRawIntBits(expected.get(i)), Float.floatToRawIntBits(out.get(i)), "element " + i);
            }
        }
    }

    /**
     * Dynamic arrays carved in call order from one launch's memory, after 32 KB of static arrays: less than 48 KB of
     * dynamic memory, but more than 48 KB in all, which the driver allows only after the kernel opts in (the fake counts
     * the static arrays as the real driver does); the backend opts in, the raw launch is refused, and the arrays do not
     * overlap (through the JIT's PTX here, and in the emulator).
     */
    @Test
    void dynamicArraysAreCarvedInOrderAndCountWithTheStaticOnes() {
        CudaDriver driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        int n = 5001, m = 1000, bytes = ((4 * n + 15) & ~15) + 4 * m;
        try (Arena arena = Arena.ofShared(); CudaContext context = CudaContext.open(driver, 0);
             CudaBackend gpu = new CudaBackend(context, new dev.moa.tasks.jit.KernelCache(null))) {
            F32Buffer x = F32Buffer.allocate(arena, n), out = F32Buffer.allocate(arena, n), emulated = F32Buffer.allocate(arena, n);
            for (int i = 0; i < n; i++) x.set(i, i);
            Grid grid = Grid.of(1, 256).withSharedBytes(bytes);
            gpu.runOnce(new TaskGraph().task("carve", dev.moa.tasks.jit.SharedMemoryKernels.class, "carvedShared", grid, x, out, n, m));
            gpu.download(out);
            assertEquals(null, FakeCuda.launchFailure());
            dev.moa.tasks.emulator.Emulator.launch(dev.moa.tasks.jit.SharedMemoryKernels.class, "carvedShared", grid, x, emulated, n, m);
            for (int i = 0; i < n; i++) {
                float expected = 2f * (n - 1 - i) + 3 * (i % m) - (i % 8);
                assertEquals(expected, out.get(i), "element " + i);
                assertEquals(expected, emulated.get(i), "element " + i + " in the emulator");
            }
            IllegalStateException tooSmall = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> dev.moa.tasks.emulator.Emulator.launch(dev.moa.tasks.jit.SharedMemoryKernels.class, "carvedShared",
                            Grid.of(1, 256).withSharedBytes(bytes - 4), x, emulated, n, m));
            assertTrue(tooSmall.getMessage().contains("sharedDynamicI32(1000) needs bytes 20016..24016"), tooSmall.getMessage());

            CudaModule module = context.loadModule(dev.moa.tasks.jit.PtxCompiler.compile(dev.moa.tasks.jit.SharedMemoryKernels.class, "carvedShared").ptx());
            CudaFunction f = module.function("carvedShared");
            CudaException e = org.junit.jupiter.api.Assertions.assertThrows(CudaException.class,
                    () -> f.launch(Dim3.of(1), Dim3.of(256), bytes, null, 0L, 0L, n, m));
            assertTrue(e.getMessage().contains("cuLaunchKernel"), e.getMessage());
        }
    }

    /**
     * Programmatic dependent launch on a Hopper device (compute capability 9.0, so the JIT's PTX waits for the kernels
     * before it): the kernels that wait reach the driver through cuLaunchKernelEx with programmatic stream
     * serialization, captured and replayed as such, a kernel that does not wait is launched plainly, and every kernel's
     * PTX runs in the interpreter, which refuses a global access before the wait. Off, nothing is launched so; where
     * the driver refuses such a launch (in a capture or alone), the backend says so once and launches plainly; on an
     * Ampere device (8.6) no PTX waits and no launch asks for it.
     */
    @Test
    void kernelsThatWaitForThoseBeforeThemOverlapThemOnHopper() {
        int n = 1000;
        for (int major : new int[] {9, 8}) {
            CudaDriver driver = FakeCuda.freshDriver();
            FakeCuda.setDevices(1, major, major == 9 ? 0 : 6);
            FakeCuda.executeLaunches(FakeCuda.Execution.PTX);
            try (Arena arena = Arena.ofShared(); CudaContext context = CudaContext.open(driver, 0);
                 CudaBackend gpu = new CudaBackend(context, new dev.moa.tasks.jit.KernelCache(null))) {
                F32Buffer a = F32Buffer.allocate(arena, n), b = F32Buffer.allocate(arena, n), c = F32Buffer.allocate(arena, n),
                        d = F32Buffer.allocate(arena, n), e = F32Buffer.allocate(arena, n);
                for (int i = 0; i < n; i++) {
                    a.set(i, i);
                    b.set(i, 1000 - 3 * i);
                }
                // c = a + b (waits), d = 2·reverse(c) (does not), e = d + a (waits)
                TaskGraph graph = new TaskGraph()
                        .task("a + b", VectorKernels.class, "add", Grid.covering(n, 256), a, b, c, n)
                        .task("reverse", dev.moa.tasks.jit.SharedMemoryKernels.class, "dynamicShared", Grid.of(1, 256).withSharedBytes(4 * n), c, d, n)
                        .task("+ a", VectorKernels.class, "add", Grid.covering(n, 256), d, a, e, n);
                int overlapping = major == 9 ? 2 : 0;
                java.util.function.IntConsumer check = round -> {
                    gpu.download(e);
                    assertEquals(null, FakeCuda.launchFailure(), "round " + round);
                    for (int i = 0; i < n; i += 37) {
                        int r = n - 1 - i;
                        assertEquals(2f * (r + 1000 - 3 * r) - (i % 8) + i, e.get(i), "round " + round + ", element " + i);
                    }
                };
                gpu.run(graph);
                gpu.run(graph);
                check.accept(1);
                assertEquals(2L * overlapping, FakeCuda.programmaticLaunchCount(), "the waiting kernels of both replays");
                assertEquals(major == 9, gpu.overlapsLaunches());
                assertEquals(6, FakeCuda.launchCount());

                gpu.dependentLaunch(false);
                gpu.forget(graph);
                gpu.run(graph);
                check.accept(2);
                assertEquals(2L * overlapping, FakeCuda.programmaticLaunchCount(), "off: launched plainly");
                assertTrue(!gpu.overlapsLaunches());
                if (major != 9) continue;

                gpu.dependentLaunch(true);
                gpu.forget(graph);
                FakeCuda.failNext("cuLaunchKernelEx", 801); // CUDA_ERROR_NOT_SUPPORTED, in the capture
                gpu.run(graph);
                check.accept(3);
                assertTrue(!gpu.dependentLaunch(), "turned off where the driver refused it");
                assertEquals(4, FakeCuda.programmaticLaunchCount(), "the graph captured again, plainly");

                gpu.dependentLaunch(true);
                FakeCuda.failNext("cuLaunchKernelEx", 801); // launched directly: the refused kernel launched plainly instead
                gpu.runOnce(graph);
                check.accept(4);
                assertTrue(!gpu.dependentLaunch());
                assertEquals(4, FakeCuda.programmaticLaunchCount());
                assertEquals(15, FakeCuda.launchCount(), "every kernel ran once a round");

                // an error a plain launch would meet too (an earlier kernel's illegal address) surfaces, and overlapping stays on
                gpu.dependentLaunch(true);
                gpu.forget(graph);
                FakeCuda.failNext("cuLaunchKernelEx", 700);
                CudaException fault = org.junit.jupiter.api.Assertions.assertThrows(CudaException.class, () -> gpu.run(graph));
                assertEquals("cuLaunchKernelEx", fault.call());
                FakeCuda.failNext("cuLaunchKernelEx", 700);
                org.junit.jupiter.api.Assertions.assertThrows(CudaException.class, () -> gpu.runOnce(graph));
                assertTrue(gpu.dependentLaunch(), "not a refusal of overlapping launches");
                gpu.run(graph);
                check.accept(5);
                assertEquals(6, FakeCuda.programmaticLaunchCount());
            } finally {
                FakeCuda.executeLaunches(FakeCuda.Execution.EMULATOR);
            }
        }
    }

    /**
     * A device-to-device copy of a byte range between two buffers: the target's device copy gets the source's device
     * bytes (not its stale host bytes), the rest of the target is untouched, and the host copies stay as they were
     * until downloaded; a range past either buffer is refused.
     */
    @Test
    void copiesARangeFromOneBuffersDeviceCopyToAnothers() {
        CudaDriver driver = FakeCuda.freshDriver();
        try (Arena arena = Arena.ofShared(); CudaContext context = CudaContext.open(driver, 0);
             CudaBackend gpu = new CudaBackend(context, new dev.moa.tasks.jit.KernelCache(null))) {
            F32Buffer from = F32Buffer.allocate(arena, 10), to = F32Buffer.allocate(arena, 10);
            for (int i = 0; i < 10; i++) {
                from.set(i, i);
                to.set(i, -1);
            }
            gpu.upload(from);
            gpu.upload(to);
            for (int i = 0; i < 10; i++) from.set(i, 100 + i); // host only: the device copy still holds 0..9
            gpu.copy(from, 3 * 4, to, 5 * 4, 4 * 4);
            gpu.synchronize();
            assertEquals(-1f, to.get(5), "the host copy is left as it was");
            gpu.download(to);
            float[] expected = {-1, -1, -1, -1, -1, 3, 4, 5, 6, -1};
            assertArrayEquals(expected, to.toArray());
            org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class, () -> gpu.copy(from, 0, to, 8 * 4, 3 * 4));

            // a ranged upload makes a device copy from part of the host content only
            F32Buffer part = F32Buffer.allocate(arena, 10);
            for (int i = 0; i < 10; i++) part.set(i, 50 + i);
            gpu.upload(part, 2 * 4, 3 * 4);
            gpu.copy(from, 0, part, 6 * 4, 2 * 4); // and the rest from elsewhere on the device
            for (int i = 0; i < 10; i++) part.set(i, -7);
            gpu.download(part);
            assertArrayEquals(new float[] {52, 53, 54}, java.util.Arrays.copyOfRange(part.toArray(), 2, 5));
            assertArrayEquals(new float[] {0, 1}, java.util.Arrays.copyOfRange(part.toArray(), 6, 8));
            org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class, () -> gpu.upload(part, 8 * 4, 3 * 4));

            // zeroing a range of the device copy: a memset there, the host copy as it was; a buffer without a device copy
            // gets one, holding the fake's NaN bits outside the range (device memory is never zeroed by itself)
            gpu.zero(to, 6 * 4, 3 * 4);
            gpu.synchronize();
            assertEquals(5f, to.get(7), "the host copy is left as it was (the last download)");
            gpu.download(to);
            assertArrayEquals(new float[] {-1, -1, -1, -1, -1, 3, 0, 0, 0, -1}, to.toArray());
            F32Buffer fresh = F32Buffer.allocate(arena, 4);
            gpu.zero(fresh, 4, 8);
            gpu.download(fresh);
            assertTrue(Float.isNaN(fresh.get(0)) && fresh.get(1) == 0f && fresh.get(2) == 0f && Float.isNaN(fresh.get(3)), java.util.Arrays.toString(fresh.toArray()));
            org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class, () -> gpu.zero(fresh, 8, 12));
        }
    }

    @Test
    void compilesLaunchesReplaysAndKeepsBuffersResident() {
        CudaDriver driver = FakeCuda.freshDriver();
        try (Arena arena = Arena.ofShared(); CudaContext context = CudaContext.open(driver, 0);
             CudaBackend gpu = new CudaBackend(context, new dev.moa.tasks.jit.KernelCache(null))) {
            int n = 1000;
            F32Buffer a = F32Buffer.allocate(arena, n), b = F32Buffer.allocate(arena, n), c = F32Buffer.allocate(arena, n);
            F32Buffer d = F32Buffer.allocate(arena, n);
            for (int i = 0; i < n; i++) a.set(i, i);
            TaskGraph graph = new TaskGraph()
                    .task("sum", VectorKernels.class, "add", Grid.covering(n, 256), a, b, c, n)
                    .task("gate", VectorKernels.class, "siluTimes", Grid.of(4, 2, 128), c, c, d, n);
            long before = FakeCuda.launchCount();
            gpu.run(graph);
            assertEquals(before + 2, FakeCuda.launchCount(), "both tasks ran (from the captured graph)");
            gpu.run(graph);
            assertEquals(before + 4, FakeCuda.launchCount(), "the replay runs both again");
            assertTrue(FakeCuda.lastPtx().contains(".visible .entry siluTimes("), "the driver got our JIT's PTX");

            FakeCuda.Launch last = FakeCuda.lastLaunch();
            assertArrayEquals(new int[] {4, 2, 1, 128, 1, 1, 0}, last.dims());
            ByteBuffer params = ByteBuffer.wrap(last.params()).order(ByteOrder.LITTLE_ENDIAN);
            long gate = params.getLong(), up = params.getLong(), out = params.getLong();
            assertEquals(gate, up, "the same buffer is the same device memory (both read: a buffer read and written may not be)");
            assertNotEquals(gate, out);
            assertEquals(n, params.getInt());

            a.set(5, -1f);               // host change after upload ...
            gpu.download(a);             // ... is replaced by the resident device copy
            assertEquals(5f, a.get(5));
            assertTrue(gpu.name().startsWith("cuda: "), gpu.name());

            // the in-graph profile: each prefix captured and replayed (1 + 3 rounds of 2), one figure per task,
            // the graph itself still captured once
            long captures = FakeCuda.captureCount(), graphLaunches = FakeCuda.graphLaunchCount();
            double[] micros = gpu.profileInGraph(graph, 2);
            assertEquals(2, micros.length);
            for (double m : micros) assertTrue(Double.isFinite(m), "a finite time per task");
            assertEquals(captures + 2, FakeCuda.captureCount(), "one capture per prefix");
            assertEquals(graphLaunches + 2 * 7, FakeCuda.graphLaunchCount(), "a warm-up and three rounds of two per prefix");
            gpu.run(graph);
            assertEquals(captures + 2, FakeCuda.captureCount(), "the step's own graph is not captured again");

            // a graph run once (a prompt): launched directly, nothing captured or kept
            TaskGraph once = new TaskGraph().task("sum once", VectorKernels.class, "add", Grid.covering(n, 256), a, a, c, n);
            long launchesBefore = FakeCuda.launchCount(), capturesBefore = FakeCuda.captureCount(), graphsBefore = FakeCuda.graphLaunchCount();
            gpu.runOnce(once);
            assertEquals(launchesBefore + 1, FakeCuda.launchCount(), "its one task was launched");
            assertEquals(capturesBefore, FakeCuda.captureCount(), "nothing was captured");
            assertEquals(graphsBefore, FakeCuda.graphLaunchCount(), "no graph was launched");
        }
        assertEquals(0, FakeCuda.liveAllocations(), "closing the backend frees its device memory");
    }
}
