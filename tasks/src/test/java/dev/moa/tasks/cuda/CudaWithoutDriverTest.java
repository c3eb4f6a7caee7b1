package dev.moa.tasks.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The machine without an NVIDIA driver, which is every CI machine: CUDA is reported unusable in one sentence,
 * {@code --device auto} falls back to the CPU with it and {@code --device cuda} fails with it.
 */
class CudaWithoutDriverTest {
    private static final String MISSING = "libcuda-moa-missing.so.1";
    private static final String MISSING_REASON = "no NVIDIA driver: " + MISSING + " not found on the library path";

    @Test
    void missingDriverLibraryIsOneSentence() {
        CudaAvailability cuda = CudaAvailability.probe(MISSING);
        assertFalse(cuda.available());
        assertEquals(MISSING_REASON, cuda.reason());
        assertEquals(0, cuda.deviceCount());
        assertEquals("no NVIDIA driver: libcuda.so.1 not found on the library path",
                CudaDriver.missingLibraryReason(CudaDriver.DEFAULT_LIBRARY));
        assertEquals("no NVIDIA driver: /nonexistent/moa/libcuda.so.1 not found",
                CudaAvailability.probe("/nonexistent/moa/libcuda.so.1").reason());
    }

    @Test
    void systemProbeNeverThrowsAndExplainsItselfInOneLine() {
        CudaAvailability cuda = CudaAvailability.probe();
        if (cuda.available()) {
            assertTrue(cuda.deviceCount() > 0);
            assertEquals("", cuda.reason());
        } else {
            assertFalse(cuda.reason().isBlank());
            assertFalse(cuda.reason().contains("\n"), cuda.reason());
        }
        assertEquals(cuda, CudaAvailability.probe(), "probed once per process");
    }

    @Test
    void libraryThatIsNoCudaDriver() {
        CudaAvailability cuda = CudaAvailability.probe("libc.so.6");
        assertFalse(cuda.available());
        assertEquals("cuInit is not exported by libc.so.6: not a CUDA driver, or one too old for moa", cuda.reason());
    }

    @Test
    void autoFallsBackToTheCpuWithTheReason() {
        DeviceChoice choice = DeviceChoice.choose("auto", () -> CudaAvailability.probe(MISSING));
        assertEquals(DeviceChoice.Kind.CPU, choice.kind());
        assertFalse(choice.cuda());
        assertEquals(MISSING_REASON, choice.note());
    }

    @Test
    void cudaFailsWithTheReason() {
        CudaException e = assertThrows(CudaException.class,
                () -> DeviceChoice.choose("cuda", () -> CudaAvailability.probe(MISSING)));
        assertEquals(MISSING_REASON, e.getMessage());
        assertNull(e.call());
        CudaException open = assertThrows(CudaException.class, () -> CudaContext.open(CudaDriver.open(MISSING), 0));
        assertEquals(MISSING_REASON, open.getMessage());
    }

    @Test
    void cpuNeverProbes() {
        Supplier<CudaAvailability> never = () -> {
            throw new AssertionError("--device cpu must not probe CUDA");
        };
        assertEquals(new DeviceChoice(DeviceChoice.Kind.CPU, ""), DeviceChoice.choose("cpu", never));
        assertEquals(new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""), DeviceChoice.choose("emulator", never));
    }

    @Test
    void availableCudaIsChosenByAutoAndCuda() {
        Supplier<CudaAvailability> present = () -> new CudaAvailability(true, "", 1, 12040);
        assertEquals(new DeviceChoice(DeviceChoice.Kind.CUDA, ""), DeviceChoice.choose("auto", present));
        assertEquals(new DeviceChoice(DeviceChoice.Kind.CUDA, ""), DeviceChoice.choose("CUDA", present));
        assertEquals(new DeviceChoice(DeviceChoice.Kind.CUDA, ""), DeviceChoice.choose(null, present));
    }

    @Test
    void unknownDeviceOptionIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DeviceChoice.choose("gpu", () -> CudaAvailability.probe(MISSING)));
        assertEquals("--device must be auto, cpu, cuda or emulator, got 'gpu'", e.getMessage());
    }

    @Test
    void ptxTargetFollowsComputeCapabilityUpToSm90() {
        assertEquals("sm_75", CudaDevice.ptxTarget(7, 5));
        assertEquals("sm_80", CudaDevice.ptxTarget(8, 0));
        assertEquals("sm_89", CudaDevice.ptxTarget(8, 9));
        assertEquals("sm_90", CudaDevice.ptxTarget(9, 0));
        assertEquals("sm_90", CudaDevice.ptxTarget(10, 0), "Blackwell runs sm_90 PTX, JIT-compiled by the driver");
        assertEquals("sm_90", CudaDevice.ptxTarget(12, 1));
        assertThrows(IllegalArgumentException.class, () -> CudaDevice.ptxTarget(0, 0));
    }

    @Test
    void launchDimensionsMustBePositive() {
        assertEquals(new Dim3(4, 1, 1), Dim3.of(4));
        assertThrows(IllegalArgumentException.class, () -> Dim3.of(0, 1));
    }
}
