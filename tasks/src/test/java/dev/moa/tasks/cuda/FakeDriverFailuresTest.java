package dev.moa.tasks.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every driver entry point the binding uses, made to fail once by the fake driver: each failure must surface as
 * a {@link CudaException} naming the entry point, the error's name and the driver's description of it.
 */
class FakeDriverFailuresTest {
    /** Everything an operation might need, set up before the failure is armed. */
    private record Fixture(CudaDriver driver, CudaContext context, Arena arena, DeviceMemory memory,
                           MemorySegment host, CudaStream stream, CudaEvent start, CudaEvent end,
                           CudaModule module, CudaFunction noop, CudaGraph graph) {
    }

    private record Case(String call, int result, String errorName, String description, Consumer<Fixture> action) {
    }

    private static final int LAUNCH_FAILED = 719, ILLEGAL_ADDRESS = 700, OUT_OF_MEMORY = 2, UNKNOWN = 999;

    private static Case fails(String call, int result, Consumer<Fixture> action) {
        return switch (result) {
            case LAUNCH_FAILED -> new Case(call, result, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure", action);
            case ILLEGAL_ADDRESS -> new Case(call, result, "CUDA_ERROR_ILLEGAL_ADDRESS",
                    "an illegal memory access was encountered", action);
            case OUT_OF_MEMORY -> new Case(call, result, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory", action);
            default -> new Case(call, result, "CUDA_ERROR_UNKNOWN", "unknown error", action);
        };
    }

    private static final List<Case> CASES = List.of(
            fails("cuInit", UNKNOWN, f -> CudaDriver.open(FakeCuda.library().toString()).init()),
            fails("cuDriverGetVersion", UNKNOWN, f -> f.driver().driverVersion()),
            fails("cuDeviceGetCount", UNKNOWN, f -> CudaDevice.query(f.driver(), 0)),
            fails("cuDeviceGet", UNKNOWN, f -> CudaDevice.query(f.driver(), 0)),
            fails("cuDeviceGetName", UNKNOWN, f -> CudaDevice.query(f.driver(), 0)),
            fails("cuDeviceGetAttribute", UNKNOWN, f -> CudaDevice.query(f.driver(), 0)),
            fails("cuDeviceTotalMem_v2", UNKNOWN, f -> CudaDevice.query(f.driver(), 0)),
            fails("cuDevicePrimaryCtxRetain", OUT_OF_MEMORY, f -> CudaContext.open(f.driver(), 0)),
            fails("cuCtxSetCurrent", UNKNOWN, f -> CudaContext.open(f.driver(), 0)),
            fails("cuDevicePrimaryCtxRelease_v2", UNKNOWN, f -> CudaContext.open(f.driver(), 0).close()),
            fails("cuCtxSynchronize", LAUNCH_FAILED, f -> f.context().synchronize()),
            fails("cuModuleLoadDataEx", OUT_OF_MEMORY, f -> f.context().loadModule(FakeDriverBindingTest.PTX)),
            fails("cuModuleGetFunction", UNKNOWN, f -> f.module().function("noop")),
            fails("cuModuleUnload", UNKNOWN, f -> f.module().close()),
            fails("cuMemAlloc_v2", OUT_OF_MEMORY, f -> f.context().allocate(64)),
            fails("cuMemFree_v2", ILLEGAL_ADDRESS, f -> f.memory().close()),
            fails("cuMemcpyHtoD_v2", ILLEGAL_ADDRESS, f -> f.memory().copyFrom(f.host())),
            fails("cuMemcpyDtoH_v2", ILLEGAL_ADDRESS, f -> f.memory().copyTo(f.host())),
            fails("cuMemcpyDtoD_v2", ILLEGAL_ADDRESS, f -> f.memory().copyFrom(f.memory())),
            fails("cuMemcpyHtoDAsync_v2", ILLEGAL_ADDRESS, f -> f.memory().copyFrom(f.host(), f.stream())),
            fails("cuMemcpyDtoHAsync_v2", ILLEGAL_ADDRESS, f -> f.memory().copyTo(f.host(), f.stream())),
            fails("cuMemcpyDtoDAsync_v2", ILLEGAL_ADDRESS, f -> f.memory().copyFrom(f.memory(), f.stream())),
            fails("cuMemsetD8_v2", ILLEGAL_ADDRESS, f -> f.memory().fill((byte) 1)),
            fails("cuMemsetD32_v2", ILLEGAL_ADDRESS, f -> f.memory().fillInts(1)),
            fails("cuMemsetD32Async", ILLEGAL_ADDRESS, f -> f.memory().fillInts(1, f.stream())),
            fails("cuLaunchKernel", LAUNCH_FAILED, f -> f.noop().launch(Dim3.of(1), Dim3.of(1), 0, f.stream())),
            fails("cuLaunchKernelEx", LAUNCH_FAILED, f -> f.driver().launchKernelOverlapping(f.noop().handle(), 1, 1, 1, 1, 1, 1, 0,
                    f.stream().handle(), java.lang.foreign.MemorySegment.NULL)),
            fails("cuStreamCreate", UNKNOWN, f -> f.context().createStream()),
            fails("cuStreamSynchronize", LAUNCH_FAILED, f -> f.stream().synchronize()),
            fails("cuStreamDestroy_v2", UNKNOWN, f -> f.stream().close()),
            fails("cuEventCreate", UNKNOWN, f -> f.context().createEvent()),
            fails("cuEventRecord", UNKNOWN, f -> f.start().record(f.stream())),
            fails("cuEventSynchronize", LAUNCH_FAILED, f -> f.end().synchronize()),
            fails("cuEventElapsedTime", UNKNOWN, f -> CudaEvent.elapsedMillis(f.start(), f.end())),
            fails("cuEventDestroy_v2", UNKNOWN, f -> f.start().close()),
            fails("cuStreamBeginCapture_v2", UNKNOWN, f -> CudaGraph.capture(f.stream(), () -> { })),
            fails("cuStreamEndCapture", UNKNOWN, f -> CudaGraph.capture(f.stream(), () -> { })),
            fails("cuGraphInstantiateWithFlags", OUT_OF_MEMORY, f -> CudaGraph.capture(f.stream(), () -> { })),
            fails("cuGraphLaunch", LAUNCH_FAILED, f -> f.graph().launch(f.stream())),
            fails("cuGraphExecDestroy", UNKNOWN, f -> f.graph().close()),
            fails("cuGraphDestroy", UNKNOWN, f -> f.graph().close()));

    @TestFactory
    Stream<DynamicTest> everyFailingCallIsReportedByName() {
        return CASES.stream().map(c -> DynamicTest.dynamicTest(c.call(), () -> {
            CudaDriver driver = FakeCuda.freshDriver();
            Fixture fixture = fixture(driver);
            FakeCuda.failNext(c.call(), c.result());
            CudaException e = assertThrows(CudaException.class, () -> c.action().accept(fixture));
            assertEquals(c.call(), e.call());
            assertEquals(c.result(), e.result());
            assertEquals(c.errorName(), e.errorName());
            assertEquals(c.call() + " failed: " + c.errorName() + " (" + c.description() + ")",
                    e.getMessage().replaceFirst(" — .*", ""));
            fixture.arena().close();
        }));
    }

    @Test
    void bindingCoversEveryCase() {
        assertEquals(41, CASES.stream().map(Case::call).distinct().count(), "one case per bound entry point");
    }

    @Test
    void aResultTheDriverCannotNameIsReportedByNumber() {
        CudaDriver driver = FakeCuda.freshDriver();
        try (CudaContext context = CudaContext.open(driver, 0)) {
            FakeCuda.failNext("cuMemAlloc_v2", 4242);
            CudaException e = assertThrows(CudaException.class, () -> context.allocate(64));
            assertEquals("cuMemAlloc_v2 failed: CUresult 4242 — 64 bytes", e.getMessage());
        }
    }

    private static Fixture fixture(CudaDriver driver) {
        CudaContext context = CudaContext.open(driver, 0);
        Arena arena = Arena.ofConfined();
        CudaStream stream = context.createStream();
        CudaEvent start = context.createEvent(), end = context.createEvent();
        start.record(stream);
        end.record(stream);
        CudaModule module = context.loadModule(FakeDriverBindingTest.PTX);
        return new Fixture(driver, context, arena, context.allocate(64), arena.allocate(64), stream, start, end,
                module, module.function("noop"), CudaGraph.capture(stream, () -> { }));
    }
}
