package dev.moa.tasks.cuda;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The binding against the fake driver of {@code src/test/c/fake_cuda.c}: real FFM calls into a real shared
 * library named libcuda.so.1, which keeps memory on the host and records what it was asked to do.
 */
class FakeDriverBindingTest {
    static final String PTX = """
            .version 8.0
            .target sm_86
            .address_size 64

            .visible .entry pack(.param .u64 out, .param .u32 n, .param .s64 big, .param .f32 scale,
                                 .param .s32 negative, .param .f64 precise)
            {
                ret;
            }

            .visible .entry noop()
            {
                ret;
            }
            """;

    private CudaDriver driver;

    @BeforeEach
    void freshFake() {
        driver = FakeCuda.freshDriver();
    }

    private static void assertNothingLeft() {
        assertEquals(0, FakeCuda.liveAllocations(), "device allocations not freed");
        assertEquals(0, FakeCuda.liveObjects(), "modules, streams, events or graphs not destroyed");
        assertEquals(0, FakeCuda.primaryContextRefs(0), "primary context not released");
    }

    @Test
    void availableWithOneDevice() {
        CudaAvailability cuda = CudaAvailability.probe(FakeCuda.library().toString());
        assertEquals(new CudaAvailability(true, "", 1, 12040), cuda);
        assertEquals("12.4", cuda.driverVersionText());
    }

    @Test
    void failedInitIsNamedInTheReason() {
        FakeCuda.setInitResult(100);
        CudaAvailability cuda = CudaAvailability.probe(FakeCuda.library().toString());
        assertFalse(cuda.available());
        assertEquals("CUDA driver found but cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)",
                cuda.reason());
        assertEquals(cuda.reason(), assertThrows(CudaException.class,
                () -> DeviceChoice.choose("cuda", () -> cuda)).getMessage());
    }

    @Test
    void noDevicesIsTheReason() {
        FakeCuda.setDevices(0, 8, 6);
        assertEquals("CUDA driver found but it reports no CUDA devices",
                CudaAvailability.probe(FakeCuda.library().toString()).reason());
    }

    @Test
    void aDeviceOlderThanAmpereIsTheReason() {
        FakeCuda.setDevices(1, 7, 5);
        CudaAvailability cuda = CudaAvailability.probe(FakeCuda.library().toString());
        assertFalse(cuda.available());
        assertEquals("CUDA device 0 (Fake GPU 0 (moa tests)) has compute capability 7.5; moa-java's GPU kernels need 8.0 (Ampere) or newer",
                cuda.reason());
        DeviceChoice auto = DeviceChoice.choose("auto", () -> cuda);
        assertEquals(new DeviceChoice(DeviceChoice.Kind.CPU, cuda.reason()), auto, "auto falls back to the CPU, saying why");
    }

    @Test
    void deviceNameCapabilityAndTarget() {
        try (CudaContext context = CudaContext.open(driver, 0)) {
            CudaDevice device = context.device();
            assertEquals("Fake GPU 0 (moa tests)", device.name());
            assertEquals("8.6", device.computeCapability());
            assertEquals("sm_86", context.ptxTarget());
            assertEquals(84, device.multiprocessors());
            assertEquals(24L << 30, device.totalMemoryBytes());
            assertEquals(2 * 9751e6 * 384 / 8, device.peakBandwidthBytesPerSecond(), 1);
            assertEquals("Fake GPU 0 (moa tests) (compute 8.6, 84 SMs, 24.0 GiB)", device.describe());
            assertEquals(1, FakeCuda.primaryContextRefs(0));
            // cuMemGetInfo: free memory falls with what is allocated and comes back when it is freed
            assertEquals(List.of(24L << 30, 24L << 30), List.of(driver.memoryInfo()[0], driver.memoryInfo()[1]));
            try (DeviceMemory block = context.allocate(64L << 20)) {
                assertEquals((24L << 30) - (64L << 20), driver.memoryInfo()[0]);
            }
            assertEquals(24L << 30, driver.memoryInfo()[0]);
        }
        assertNothingLeft();

        FakeCuda.setDevices(2, 12, 0);
        try (CudaContext context = CudaContext.open(driver, 1)) {
            assertEquals("12.0", context.device().computeCapability());
            assertEquals("sm_90", context.ptxTarget(), "clamped to what PTX ISA 8.0 can name");
        }
        CudaException e = assertThrows(CudaException.class, () -> CudaContext.open(driver, 2));
        assertEquals("no CUDA device 2: the driver reports 2 devices", e.getMessage());
    }

    @Test
    void copiesRoundTripRandomBytes() {
        byte[] bytes = new byte[1001];
        new Random(7).nextBytes(bytes);
        try (CudaContext context = CudaContext.open(driver, 0); Arena arena = Arena.ofConfined();
             DeviceMemory a = context.allocate(bytes.length); DeviceMemory b = context.allocate(bytes.length)) {
            MemorySegment host = arena.allocateFrom(JAVA_BYTE, bytes);
            MemorySegment back = arena.allocate(bytes.length);
            a.copyFrom(host);
            b.copyFrom(a);
            b.copyTo(back);
            assertArrayEquals(bytes, back.toArray(JAVA_BYTE));

            a.fill((byte) 0x5a);
            a.copyTo(back);
            for (byte x : back.toArray(JAVA_BYTE)) assertEquals(0x5a, x);
            assertThrows(IllegalStateException.class, () -> a.fillInts(1), "1001 bytes are not whole words");
        }
        assertNothingLeft();
    }

    @Test
    void asyncCopiesAndFillsOnAStream() {
        float[] values = new float[256];
        for (int i = 0; i < values.length; i++) values[i] = i * 0.25f - 7;
        try (CudaContext context = CudaContext.open(driver, 0); Arena arena = Arena.ofConfined();
             CudaStream stream = context.createStream();
             DeviceMemory a = context.allocate(values.length * 4L); DeviceMemory b = context.allocate(values.length * 4L)) {
            MemorySegment host = arena.allocateFrom(JAVA_FLOAT, values);
            MemorySegment back = arena.allocate(JAVA_FLOAT, values.length);
            a.copyFrom(host, stream);
            b.copyFrom(a, stream);
            b.copyTo(back, stream);
            stream.synchronize();
            assertArrayEquals(values, back.toArray(JAVA_FLOAT));

            b.fillInts(Float.floatToRawIntBits(1.5f), stream);
            b.copyTo(back, stream);
            stream.synchronize();
            for (float x : back.toArray(JAVA_FLOAT)) assertEquals(1.5f, x);
        }
        assertNothingLeft();
    }

    @Test
    @SuppressWarnings("try")                               // closes inside try-with-resources on purpose: twice
    void copiesCheckTheirHostMemory() {
        try (CudaContext context = CudaContext.open(driver, 0); Arena arena = Arena.ofConfined();
             DeviceMemory memory = context.allocate(16)) {
            assertThrows(IndexOutOfBoundsException.class, () -> memory.copyFrom(arena.allocate(17)));
            assertThrows(IllegalArgumentException.class, () -> memory.copyFrom(MemorySegment.ofArray(new byte[16])));
            memory.close();
            memory.close();
            assertThrows(IllegalStateException.class, () -> memory.copyTo(arena.allocate(16)));
        }
        assertNothingLeft();
    }

    @Test
    void launchPacksEachArgumentAsTheKernelsParameterBytes() {
        try (CudaContext context = CudaContext.open(driver, 0); CudaModule module = context.loadModule(PTX);
             CudaStream stream = context.createStream(); DeviceMemory out = context.allocate(64)) {
            assertEquals(PTX, FakeCuda.lastPtx());
            assertEquals("fake ptxas info    : compiled 2 entries", module.jitLog());

            long big = (1L << 40) + 5;
            module.function("pack").launch(Dim3.of(3, 2), Dim3.of(128), 4096, stream, out, 7, big, 0.5f, -3, Math.PI);

            FakeCuda.Launch launch = FakeCuda.lastLaunch();
            assertArrayEquals(new int[] {3, 2, 1, 128, 1, 1, 4096}, launch.dims());
            assertEquals(stream.handle().address(), launch.stream());
            ByteBuffer params = ByteBuffer.wrap(launch.params()).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(8 + 4 + 8 + 4 + 4 + 8, params.remaining());
            assertEquals(out.address(), params.getLong());
            assertEquals(7, params.getInt());
            assertEquals(big, params.getLong());
            assertEquals(0.5f, params.getFloat());
            assertEquals(-3, params.getInt());
            assertEquals(Math.PI, params.getDouble());

            module.function("noop").launch(Dim3.of(1), Dim3.of(32, 4, 2), 0, null);
            launch = FakeCuda.lastLaunch();
            assertArrayEquals(new int[] {1, 1, 1, 32, 4, 2, 0}, launch.dims());
            assertEquals(0, launch.stream(), "null is the default stream");
            assertEquals(0, launch.params().length);
            assertEquals(2, FakeCuda.launchCount());

            IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class,
                    () -> module.function("pack").launch(Dim3.of(1), Dim3.of(1), 0, stream, out, "7", big, 0.5f, -3, Math.PI));
            assertEquals("argument 1 of kernel pack is a String; kernels take DeviceMemory, int, long, float or double",
                    wrong.getMessage());
        }
        assertNothingLeft();
    }

    /**
     * The driver takes a launch's parameters as bytes, so an argument list that drifted from the kernel's (a parameter
     * added on one side) would launch and compute garbage: the binding refuses it against the PTX's declaration,
     * naming the argument, and launches nothing.
     */
    @Test
    void argumentsThatDriftedFromThePtxAreRefusedBeforeTheLaunch() {
        try (CudaContext context = CudaContext.open(driver, 0); CudaModule module = context.loadModule(PTX);
             DeviceMemory out = context.allocate(64)) {
            CudaFunction pack = module.function("pack");
            long big = 5;
            assertEquals("kernel pack declares 6 parameters in its PTX, but 5 arguments were given", assertThrows(IllegalArgumentException.class,
                    () -> pack.launch(Dim3.of(1), Dim3.of(1), 0, null, out, 7, big, 0.5f, -3)).getMessage());
            assertEquals("argument 1 of kernel pack is a device pointer (8 bytes), but the PTX declares parameter 1 as .u32",
                    assertThrows(IllegalArgumentException.class, () -> pack.launch(Dim3.of(1), Dim3.of(1), 0, null, out, out, big, 0.5f, -3, Math.PI))
                            .getMessage());
            assertEquals("argument 2 of kernel pack is an int (4 bytes), but the PTX declares parameter 2 as .s64",
                    assertThrows(IllegalArgumentException.class, () -> pack.launch(Dim3.of(1), Dim3.of(1), 0, null, out, 7, 5, 0.5f, -3, Math.PI))
                            .getMessage());
            assertEquals("argument 3 of kernel pack is an int (4 bytes), but the PTX declares parameter 3 as .f32",
                    assertThrows(IllegalArgumentException.class, () -> pack.launch(Dim3.of(1), Dim3.of(1), 0, null, out, 7, big, 1, -3, Math.PI))
                            .getMessage());
            assertEquals("argument 4 of kernel pack is a float (4 bytes), but the PTX declares parameter 4 as .s32",
                    assertThrows(IllegalArgumentException.class, () -> pack.launch(Dim3.of(1), Dim3.of(1), 0, null, out, 7, big, 0.5f, -3f, Math.PI))
                            .getMessage());
            assertEquals("argument 1 of kernel pack is null", assertThrows(IllegalArgumentException.class,
                    () -> pack.launch(Dim3.of(1), Dim3.of(1), 0, null, out, null, big, 0.5f, -3, Math.PI)).getMessage());
            assertEquals(0, FakeCuda.launchCount(), "nothing reached the driver");
            pack.launch(Dim3.of(1), Dim3.of(1), 0, null, out, 7, big, 0.5f, -3, Math.PI);
            assertEquals(1, FakeCuda.launchCount());
        }
        assertNothingLeft();
    }

    /**
     * A variant compiled with an argument fixed ({@code @Specialize}) computes for that value whatever it is given: its
     * launch with another value is refused, naming both, and with the compiled one goes through.
     */
    @Test
    void aVariantIsLaunchedOnlyWithTheValuesItWasCompiledFor() {
        var fixed = dev.moa.tasks.jit.Specialization.named(dev.moa.tasks.jit.SpecializedKernels.class, "rowSums", java.util.Map.of("cols", 64, "period", 7));
        String ptx = dev.moa.tasks.jit.PtxCompiler.compile(dev.moa.tasks.jit.SpecializedKernels.class, "rowSums", "sm_80", fixed).ptx();
        try (CudaContext context = CudaContext.open(driver, 0); CudaModule module = context.loadModule(ptx); DeviceMemory x = context.allocate(4096);
             DeviceMemory out = context.allocate(64)) {
            CudaFunction rowSums = module.function("rowSums");
            assertEquals("argument 3 of kernel rowSums is 32, but this variant of it was compiled for 64 (@Specialize): launch the variant for 32",
                    assertThrows(IllegalArgumentException.class, () -> rowSums.launch(Dim3.of(1), Dim3.of(16), 0, null, x, out, 16, 32, 7)).getMessage());
            assertEquals(0, FakeCuda.launchCount());
            rowSums.launch(Dim3.of(1), Dim3.of(16), 0, null, x, out, 16, 64, 7);
            assertEquals(1, FakeCuda.launchCount());
        }
        assertNothingLeft();
    }

    /**
     * A buffer the kernel reads through the read-only cache (ld.global.nc: it never writes that argument) passed also
     * as an argument it writes would be read stale on a GPU, where the emulator and the interpreter read it fresh: the
     * launch is refused, naming both arguments; with two buffers it goes through.
     */
    @Test
    void aBufferBothReadThroughTheReadOnlyCacheAndWrittenIsRefused() {
        String ptx = dev.moa.tasks.jit.PtxCompiler.compile(dev.moa.tasks.jit.SpecializedKernels.class, "rowSums", "sm_80").ptx();
        assertTrue(ptx.contains(PtxEntry.BUFFERS + " read-only 0 written 1"), ptx.lines().limit(5).toList().toString());
        try (CudaContext context = CudaContext.open(driver, 0); CudaModule module = context.loadModule(ptx); DeviceMemory x = context.allocate(4096);
             DeviceMemory out = context.allocate(4096)) {
            CudaFunction rowSums = module.function("rowSums");
            String refused = assertThrows(IllegalArgumentException.class, () -> rowSums.launch(Dim3.of(1), Dim3.of(16), 0, null, x, x, 16, 64, 7))
                    .getMessage();
            assertTrue(refused.startsWith("arguments 0 and 1 of kernel rowSums are the same buffer"), refused);
            assertEquals(0, FakeCuda.launchCount());
            rowSums.launch(Dim3.of(1), Dim3.of(16), 0, null, x, out, 16, 64, 7);
            assertEquals(1, FakeCuda.launchCount());
        }
        assertNothingLeft();
    }

    /**
     * The fake driver's default dynamic limit is 48 KB less the entry's static arrays, as the driver's: its own and the
     * module-scope ones it names (nvcc's), scalars and vectors included, not those of another entry or a longer name.
     */
    @Test
    void theDynamicLimitCountsAnEntrysStaticArrays() {
        String ptx = """
                .version 8.0
                .target sm_80
                .address_size 64
                .shared .align 4 .u32 _ZZ1kE4last;
                .shared .align 16 .b8 _ZZ1kE5merge[40000];
                .shared .align 16 .b8 _ZZ1kE5merge2[8000];
                .shared .align 16 .v4 .f32 _ZZ1kE4quad[2][8];
                .visible .entry k()
                {
                	.shared .align 16 .f32 own[100];
                	ld.shared.u32 %r1, [_ZZ1kE4last];
                	st.shared.u32 [_ZZ1kE5merge], %r1;
                	ld.shared.v4.f32 {%f1, %f2, %f3, %f4}, [_ZZ1kE4quad];
                	ret;
                }
                .visible .entry other()
                {
                	st.shared.u32 [_ZZ1kE5merge2], %r1;
                	ret;
                }
                """;
        // k: 16 (a scalar) + 40000 + 256 (2·8 four-float vectors) + 400, each rounded to 16: 40672 bytes
        int room = 48 * 1024 - 40672;
        try (CudaContext context = CudaContext.open(driver, 0); CudaModule module = context.loadModule(ptx)) {
            CudaFunction k = module.function("k"), other = module.function("other");
            k.launch(Dim3.of(1), Dim3.of(32), room, null);
            CudaException refused = assertThrows(CudaException.class, () -> k.launch(Dim3.of(1), Dim3.of(32), room + 16, null));
            assertTrue(refused.getMessage().contains("cuLaunchKernel"), refused.getMessage());
            other.launch(Dim3.of(1), Dim3.of(32), 48 * 1024 - 8000, null); // only the array it names
            k.allowDynamicShared(room + 16);
            k.launch(Dim3.of(1), Dim3.of(32), room + 16, null);
        }
    }

    /** nvcc's way of declaring parameters (state space, alignment, aggregates as byte arrays) reads as ours does. */
    @Test
    void parameterListsAsNvccPrintsThem() {
        var entries = PtxEntry.parse("""
                // .visible .entry commented(.param .u32 x)
                /* .entry alsoCommented() */
                .visible .entry attention(
                	.param .u64 .ptr .global .align 4 attention_param_0,
                	.param .u32 attention_param_1,
                	.param .f32 attention_param_2,
                	.param .align 8 .b8 attention_param_3[16]
                )
                {
                	ret;
                }
                .visible .entry none()
                {
                	ret;
                }
                .visible .entry bare
                {
                	ret;
                }
                """);
        assertEquals(java.util.List.of("u64", "u32", "f32", "b8[16]"), entries.get("attention").types());
        assertEquals(java.util.List.of(), entries.get("none").types());
        assertEquals(16, PtxEntry.bytes("b8[16]"));
        assertEquals(-1, PtxEntry.bytes("pred"), "a type the check does not size is not checked");
        assertEquals(java.util.List.of(), entries.get("bare").types(), "an entry without a parameter list takes none");
        assertEquals(java.util.Set.of("attention", "none", "bare"), entries.keySet(), "commented-out entries are not entries");
    }

    @Test
    void ptxErrorCarriesTheErrorNameAndTheJitLog() {
        String bad = PTX.replace("ret;\n}\n\n.visible .entry noop", "INVALID;\n}\n\n.visible .entry noop");
        try (CudaContext context = CudaContext.open(driver, 0)) {
            CudaException e = assertThrows(CudaException.class, () -> context.loadModule(bad));
            assertEquals("cuModuleLoadDataEx", e.call());
            assertEquals(218, e.result());
            assertEquals("CUDA_ERROR_INVALID_PTX", e.errorName());
            assertEquals("cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed) — JIT log: "
                    + "ptxas application ptx input, line 8; error   : fake ptxas rejects 'INVALID'", e.getMessage());

            try (CudaModule module = context.loadModule(PTX)) {
                CudaException missing = assertThrows(CudaException.class, () -> module.function("absent"));
                assertEquals("cuModuleGetFunction failed: CUDA_ERROR_NOT_FOUND (named symbol not found) — kernel 'absent'",
                        missing.getMessage());
            }
        }
        assertNothingLeft();
    }

    @Test
    void capturedGraphReplaysItsLaunches() {
        try (CudaContext context = CudaContext.open(driver, 0); Arena arena = Arena.ofConfined();
             CudaModule module = context.loadModule(PTX); CudaStream stream = context.createStream();
             DeviceMemory flags = context.allocate(64)) {
            CudaFunction pack = module.function("pack");
            flags.fillInts(0);
            try (CudaGraph graph = CudaGraph.capture(stream, () -> {
                flags.fillInts(42, stream);
                for (int i = 0; i < 3; i++) pack.launch(Dim3.of(i + 1), Dim3.of(64), 0, stream, flags, i, 0L, 1f, 0, 0.0);
            })) {
                assertEquals(0, FakeCuda.launchCount(), "capture records, it does not run");
                MemorySegment host = arena.allocate(64);
                flags.copyTo(host);
                assertEquals(0, host.get(JAVA_INT, 0));

                for (int replay = 0; replay < 4; replay++) graph.launch(stream);
                stream.synchronize();
                assertEquals(12, FakeCuda.launchCount());
                assertEquals(2, ByteBuffer.wrap(FakeCuda.lastLaunch().params()).order(ByteOrder.LITTLE_ENDIAN).getInt(8),
                        "the last replayed node is the third launch, with its captured arguments");
                flags.copyTo(host);
                for (int x : host.toArray(JAVA_INT)) assertEquals(42, x);
            }
        }
        assertNothingLeft();
    }

    @Test
    void failedCaptureEndsTheCaptureAndLeavesNoGraph() {
        try (CudaContext context = CudaContext.open(driver, 0); CudaStream stream = context.createStream()) {
            CudaException e = assertThrows(CudaException.class, () -> CudaGraph.capture(stream, stream::synchronize));
            assertEquals("CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", e.errorName());
            assertEquals("cuStreamSynchronize", e.call());
            CudaGraph.capture(stream, () -> { }).close();          // the stream is no longer capturing
        }
        assertNothingLeft();
    }

    @Test
    void eventsTimeTheWorkBetweenThem() {
        try (CudaContext context = CudaContext.open(driver, 0); CudaStream stream = context.createStream();
             CudaEvent start = context.createEvent(); CudaEvent end = context.createEvent()) {
            CudaException early = assertThrows(CudaException.class, () -> CudaEvent.elapsedMillis(start, end));
            assertEquals("cuEventElapsedTime", early.call(), "linked to the pre-12.8 name the fake exports");
            assertEquals("CUDA_ERROR_INVALID_HANDLE", early.errorName());

            start.record(stream);
            end.record(stream);
            end.synchronize();
            assertEquals(1.25f, CudaEvent.elapsedMillis(start, end));
        }
        assertNothingLeft();
    }

    @Test
    void anyThreadCanUseTheContext() throws Exception {
        try (CudaContext context = CudaContext.open(driver, 0); Arena arena = Arena.ofShared();
             DeviceMemory memory = context.allocate(4)) {
            MemorySegment host = arena.allocate(JAVA_INT);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread other = Thread.ofPlatform().start(() -> {
                try {
                    memory.fillInts(99);                  // the fake's current context is per thread, like CUDA's
                    memory.copyTo(host);
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            other.join();
            assertNull(failure.get());
            assertEquals(99, host.get(JAVA_INT, 0));
        }
        assertNothingLeft();
    }

    @Test
    void closedObjectsRefuseUse() {
        CudaContext context = CudaContext.open(driver, 0);
        CudaModule module = context.loadModule(PTX);
        CudaFunction noop = module.function("noop");
        module.close();
        module.close();
        assertThrows(IllegalStateException.class, () -> noop.launch(Dim3.of(1), Dim3.of(1), 0, null));
        context.close();
        context.close();
        assertThrows(IllegalStateException.class, () -> context.allocate(4));
        assertTrue(FakeCuda.primaryContextRefs(0) == 0);
        assertNothingLeft();
    }
}
