package dev.moa.runtime.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.cuda.CudaContext;
import dev.moa.tasks.cuda.FakeCuda;
import org.junit.jupiter.api.Test;

/**
 * The GPU benchmark's decode-product rows wired as the kernels expect (grids, argument order, the split's two
 * launches), on the fake driver whose launches compute: each row's own check of its output against a plain product
 * passes for the three kinds, on a small odd shape.
 */
class GpuKernelBenchmarkTest {
    @Test
    void decodeProductRowsComputeTheProduct() {
        onTheFakeDriver(benchmark -> {
            for (String kind : new String[] {"halfBatchInto", "bf16Tensor", "bf16TensorSplit"}) {
                GpuKernelBenchmark.Row row = benchmark.decodeProduct(5, 70, 200, kind);
                assertNull(FakeCuda.launchFailure(), kind);
                assertTrue(row.maxError() < 1e-4, kind + ": error " + row.maxError());
                assertEquals(70L * 200 * 2, row.bytes(), kind);
            }
        });
    }

    /** The prefill GEMM rows (FFMA, tensor cores split on small and large tiles, tensor cores rounded) launch their kernels right and check them. */
    @Test
    void gemmRowsComputeTheProduct() {
        onTheFakeDriver(benchmark -> {
            for (String kind : new String[] {"half", "bf16Tensor", "bf16TensorLarge", "bf16TensorRounded"}) {
                GpuKernelBenchmark.Row row = benchmark.gemm(70, 37, 45, kind);
                assertNull(FakeCuda.launchFailure(), kind);
                assertTrue(row.maxError() < 1e-4, kind + ": error " + row.maxError());
                assertEquals(2L * 70 * 37 * 45, row.flops(), kind);
            }
        });
    }

    /** Runs {@code rows} against a benchmark on a fresh fake driver whose launches compute, then frees what it allocated. */
    static void onTheFakeDriver(java.util.function.Consumer<GpuKernelBenchmark> rows) {
        var driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        try (CudaContext context = CudaContext.open(driver, 0)) {
            GpuKernelBenchmark benchmark = new GpuKernelBenchmark(context, null);
            try {
                rows.accept(benchmark);
            } finally {
                benchmark.close();
            }
        }
    }
}
