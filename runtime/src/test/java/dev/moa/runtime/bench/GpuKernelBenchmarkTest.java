package dev.moa.runtime.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.moa.tasks.cuda.CudaContext;
import dev.moa.tasks.cuda.FakeCuda;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The GPU benchmark's decode-product rows wired as the kernels expect (grids, argument order, the split's two
 * launches), on the fake driver whose launches compute: each row's own check of its output against a plain product
 * passes for the four kinds, on a small odd shape.
 */
class GpuKernelBenchmarkTest {
    @Test
    void decodeProductRowsComputeTheProduct() {
        onTheFakeDriver(benchmark -> {
            for (String kind : new String[] {"halfBatchInto", "bf16Tensor", "bf16TensorSplit", "pipelinedSplit"}) {
                GpuKernelBenchmark.Row row = benchmark.decodeProduct(5, 70, 200, kind);
                assertNull(FakeCuda.launchFailure(), kind);
                assertTrue(row.maxError() < 1e-4, kind + ": error " + row.maxError());
                assertEquals(70L * 200 * 2, row.bytes(), kind);
            }
        });
    }

    /** The few-row matvec rows compute the product a warp a row and with rows shared, and cycle through enough copies. */
    @Test
    void sharedRowMatVecRowsComputeTheProduct() {
        onTheFakeDriver(benchmark -> {
            for (int parts : new int[] {1, 4}) { // a warp a row, and four sharing each row, launches over two copies of the weights
                var row = benchmark.matVecInto(11, 4096, parts, 2);
                assertTrue(row.maxError() < 1e-5, row.toString());
                assertEquals("11x4096 /" + parts, row.shape());
            }
        });
        assertEquals(16, GpuKernelBenchmark.copiesPastTheL2(2048L * 2048 * 2), "8 MB: 16 copies, 128 MB");
        assertEquals(6, GpuKernelBenchmark.copiesPastTheL2(2048L * 8192 * 2), "32 MB: 6 copies, 192 MB");
    }

    /** The token-choice rows launch the argmax and the draw as a step does, and find the host's tokens (one launch each on the fake). */
    @Test
    void drawRowsChooseTheHostsTokens() {
        onTheFakeDriver(benchmark -> {
            for (var params : SamplingBenchmark.SETTINGS) { // (the last, top-p 0.99 at T 1.3, too wide for sample: sampleWide's)
                GpuKernelBenchmark.Row row = benchmark.draw(3, 2500, params);
                assertNull(FakeCuda.launchFailure(), row.shape());
                assertEquals(0, row.maxError(), row.shape() + ": rows whose token is not the host's");
                assertEquals(params.isGreedy() ? "argmax" : "argmax+sample", row.kernel());
            }
        });
    }

    /** The prefill GEMM rows (FFMA, tensor cores split and rounded, on small and large tiles) launch their kernels right and check them. */
    @Test
    void gemmRowsComputeTheProduct() {
        onTheFakeDriver(benchmark -> {
            for (String kind : new String[] {"half", "bf16Tensor", "bf16TensorLarge", "bf16TensorRounded", "bf16TensorLargeRounded"}) {
                GpuKernelBenchmark.Row row = benchmark.gemm(70, 37, 40, kind);
                assertNull(FakeCuda.launchFailure(), kind);
                assertTrue(row.maxError() < 1e-4, kind + ": error " + row.maxError());
                assertEquals(2L * 70 * 37 * 40, row.flops(), kind);
            }
            for (int parts = 1; parts <= 2; parts++) { // the pipelined GEMM over BF16 parts, rounded and split
                GpuKernelBenchmark.Row row = benchmark.pipelinedGemm(70, 37, 40, parts, false);
                assertNull(FakeCuda.launchFailure(), "parts " + parts);
                assertEquals(parts == 1 ? "gemm-pipelined-rounded" : "gemm-pipelined", row.kernel());
                assertTrue(row.maxError() < 1e-4, parts + " parts: error " + row.maxError());
            }
            for (int parts = 1; parts <= 2; parts++) {
                GpuKernelBenchmark.Row wide = benchmark.pipelinedGemm(70, 37, 40, parts, true);
                assertNull(FakeCuda.launchFailure(), "wide");
                assertEquals(parts == 1 ? "gemm-pipelined-wide-rounded" : "gemm-pipelined-wide", wide.kernel());
                assertTrue(wide.maxError() < 1e-4, "wide: error " + wide.maxError());
            }
            GpuKernelBenchmark.Row plain = benchmark.pipelinedGemm(300, 70, 40, 2, false, 1); // the tiles in plain order
            assertNull(FakeCuda.launchFailure(), "plain order");
            assertEquals("gemm-pipelined-large-plain-order".replace("-large", dev.moa.tasks.kernels.GemmKernels.large(300, 70) ? "-large" : ""),
                    plain.kernel());
            assertTrue(plain.maxError() < 1e-4, "plain order: error " + plain.maxError());
            for (boolean fused : new boolean[] {true, false}) { // gate/up with SwiGLU, as the epilogue and after the product
                GpuKernelBenchmark.Row glu = benchmark.gluGemm(70, 74, 40, fused);
                assertNull(FakeCuda.launchFailure(), "glu");
                assertEquals(fused ? "gemm-glu-fused" : "gemm-glu-unfused", glu.kernel());
                assertTrue(glu.maxError() < 1e-4, glu.kernel() + ": error " + glu.maxError());
            }
        });
    }

    /**
     * The prefill attention rows (FFMA, and the tensor cores over keys and values the benchmark splits on the device
     * first, split and rounded) launch their kernels right and meet the row's own check, on a prompt of two query
     * blocks, the second partial (the rounded kernel against Q, K and V rounded as it rounds them).
     */
    @Test
    void prefillAttentionRowsComputeTheAttention() {
        onTheFakeDriver(benchmark -> {
            for (String kernel : new String[] {"blockSparse", "blockSparseTensor", "blockSparseTensorRounded", "in order"}) {
                boolean inOrder = kernel.equals("in order"); // the tensor-core groups head by head, not the longest first
                GpuKernelBenchmark.Row row = benchmark.prefillAttention(100, 4, 2, 64, inOrder ? "blockSparseTensor" : kernel, !inOrder);
                assertNull(FakeCuda.launchFailure(), kernel);
                assertTrue(row.maxError() < (kernel.endsWith("Rounded") ? GpuKernelBenchmark.ROUNDED_ATTENTION_TOLERANCE : 1e-4), kernel + ": error " + row.maxError());
                assertTrue(GpuKernelBenchmark.wrongRows(java.util.List.of(row)).isEmpty(), kernel);
                if (inOrder) assertEquals("prefill-attn-tensor-in-order", row.kernel());
            }
        });
    }

    /**
     * nvcc's build of the same algorithms ({@code scripts/kernel-gap/reference.cu}), which the benchmark times ours
     * against, computes what ours does: its PTX, as nvcc writes it, runs in the PTX interpreter on the fake driver with
     * the very argument lists the benchmark launches, and its outputs meet the benchmark's own plain-Java check — the
     * per-head split + combine, the grouped kernel (head dims 16: value rows four lanes wide; 12: a warp per slot; 10:
     * one value per key load; and nvcc's builds with head_dim 128 or 64 and four heads per group fixed), the BF16 matvec
     * (both its paths), the prompt's pipelined tensor-core GEMM (both tiles, one and two parts) and its block-sparse
     * attention on the tensor cores. The reference's parameters had drifted from ours
     * once (two buffers added to our kernels only), and its times then measured a kernel reading pointers as ints.
     */
    @Test
    void nvccsBuildOfTheSameAlgorithmsComputesWhatOursDoes() throws Exception {
        Path source = Path.of("..", "scripts", "kernel-gap", "reference.cu");
        assumeTrue(Files.isRegularFile(source) && onPath("nvcc"), "needs nvcc (the CUDA toolkit) and the source tree");
        Path ptx = Files.createTempFile("reference", ".ptx");
        try {
            Process nvcc = new ProcessBuilder("nvcc", "-ptx", "-O3", "-arch=sm_80", source.toString(), "-o", ptx.toString())
                    .redirectErrorStream(true).start();
            String log = new String(nvcc.getInputStream().readAllBytes());
            assertEquals(0, nvcc.waitFor(), log);
            String reference = Files.readString(ptx);
            // the fake driver tells nvcc's pointers from its 64-bit numbers by what the entry makes global addresses of
            assertEquals(java.util.Set.of(0, 1, 3, 4, 5), FakeCuda.pointerParameters(reference, "prefill_attention_tensor"), "qkv, kv, out, bands, schedule; not low");
            onTheFakeDriver(reference, benchmark -> {
                java.util.List<GpuKernelBenchmark.Row> rows = new java.util.ArrayList<>();
                rows.add(benchmark.matVec(20, 64));
                rows.add(benchmark.matVec(13, 37));
                for (int headDim : new int[] {16, 12, 10}) {
                    rows.add(benchmark.attention(8, 2, headDim, 300, false, false));
                    rows.add(benchmark.attention(8, 2, headDim, 300, true, false));
                }
                rows.add(benchmark.attention(8, 2, 128, 200, true, false, "attention_grouped_d128")); // nvcc's build with the shape fixed
                rows.add(benchmark.stagedAttention(8, 2, 16, 300, false)); // tiles of 128 rows, 64 and 32
                rows.add(benchmark.stagedAttention(8, 2, 64, 300, false));
                rows.add(benchmark.stagedAttention(8, 2, 128, 200, false, "attention_staged_d128"));
                rows.add(benchmark.attention(32, 8, 64, 200, true, false, "attention_grouped_1b")); // Llama-3.2-1B's shape fixed
                rows.add(benchmark.stagedAttention(32, 8, 64, 200, false, "attention_staged_1b"));
                rows.add(benchmark.prefillAttention(100, 4, 2, 64, "blockSparseTensor", true)); // the prompt attention, two blocks, the second partial
                for (int parts = 1; parts <= 2; parts++) { // the prompt GEMM, 64 x 64 and 128 x 128 tiles, odd shapes
                    rows.add(benchmark.pipelinedGemm(70, 37, 40, parts, "tile", dev.moa.tasks.kernels.PipelinedGemm.TOKEN_WALK));
                    rows.add(benchmark.pipelinedGemm(130, 37, 40, parts, "large", dev.moa.tasks.kernels.PipelinedGemm.TOKEN_WALK));
                }
                assertNull(FakeCuda.launchFailure());
                for (GpuKernelBenchmark.Row row : rows) {
                    String what = row.kernel() + " " + row.shape();
                    assertTrue(row.maxError() < 1e-4, what + ": our error " + row.maxError());
                    assertTrue(row.referenceError() < 1e-4, what + ": nvcc's error " + row.referenceError());
                    assertTrue(row.referenceRight(), what);
                }
            });
        } finally {
            Files.deleteIfExists(ptx);
        }
    }

    /**
     * A reference whose result is wrong gets no time in the table ("wrong" where its time and the ratio were), and a
     * wrong row, nvcc's or ours (NaN: an output left unwritten), fails the run.
     */
    @Test
    void aReferenceThatComputesSomethingElseIsShownAsWrong() {
        var right = new GpuKernelBenchmark.Row("attention", "span 4096", 10, 20, 1000, 1e-7, 0, 1e-7);
        var wrong = new GpuKernelBenchmark.Row("attention", "span 4096", 10, 2, 1000, 1e-7, 0, 0.4);
        assertTrue(right.referenceRight());
        assertTrue(!wrong.referenceRight());
        var unwritten = new GpuKernelBenchmark.Row("gemm-bf16-tensor", "512x2048x2048", 10, Double.NaN, 1000, Double.NaN, 1);
        assertEquals(java.util.List.of("attention span 4096 (nvcc)", "gemm-bf16-tensor 512x2048x2048 (ours)"),
                GpuKernelBenchmark.wrongRows(java.util.List.of(right, wrong, unwritten)), "kernels --bench exits 1 naming these");
        onTheFakeDriver(benchmark -> {
            String[] lines = benchmark.table(java.util.List.of(right, wrong)).split("\n");
            assertTrue(lines[2].contains(" 20.0 ") && lines[2].contains(" 2.00 "), lines[2]);
            assertTrue(lines[3].contains(" wrong ") && !lines[3].contains(" 2.0 ") && lines[3].contains("4.0e-01"), lines[3]);
        });
    }

    private static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, program))) return true;
        }
        return false;
    }

    /** Runs {@code rows} against a benchmark on a fresh fake driver whose launches compute, then frees what it allocated. */
    static void onTheFakeDriver(java.util.function.Consumer<GpuKernelBenchmark> rows) {
        onTheFakeDriver(null, rows);
    }

    /** As above, with nvcc's PTX of the reference kernels loaded (null: none), and one launch per timing. */
    static void onTheFakeDriver(String referencePtx, java.util.function.Consumer<GpuKernelBenchmark> rows) {
        var driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        try (CudaContext context = CudaContext.open(driver, 0)) {
            GpuKernelBenchmark benchmark = new GpuKernelBenchmark(context, referencePtx, 0, 1);
            try {
                rows.accept(benchmark);
            } finally {
                benchmark.close();
            }
        }
    }
}
