package dev.moa.tasks.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moa.tasks.cuda.CudaContext;
import dev.moa.tasks.cuda.CudaDriver;
import dev.moa.tasks.cuda.FakeCuda;
import dev.moa.tasks.graph.CudaBackend;
import dev.moa.tasks.graph.EmulatorBackend;
import org.junit.jupiter.api.Test;

/**
 * The device check the runtime runs before prompts rely on the tensor cores passes where the fragment layouts are the
 * ones the kernels assume: in the emulator, and as the JIT's PTX through the fake driver (the interpreter's ldmatrix,
 * its transposed form, cp.async's zero fill, mma.sync). Each part alone: the tile, the GEMM, the attention.
 */
class TensorCoreCheckTest {
    @Test
    void theEmulatorAgreesWithThePlainComputations() {
        try (EmulatorBackend backend = new EmulatorBackend()) {
            assertEquals(0, TensorCoreCheck.wrongTileElements(backend), "tile");
            assertEquals(0, TensorCoreCheck.wrongGemmElements(backend), "GEMM");
            assertEquals(0, TensorCoreCheck.wrongAttentionElements(backend), "attention");
        }
    }

    @Test
    void theJitsPtxAgreesThroughTheDriver() {
        CudaDriver driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches(FakeCuda.Execution.PTX);
        try (CudaContext context = CudaContext.open(driver, 0); CudaBackend gpu = new CudaBackend(context, new dev.moa.tasks.jit.KernelCache(null))) {
            assertEquals(0, TensorCoreCheck.wrongElements(gpu));
            assertEquals(null, FakeCuda.launchFailure());
            org.junit.jupiter.api.Assertions.assertTrue(FakeCuda.interpretedLaunchCount() >= 4, "run as PTX");
        }
    }
}
