package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moa.tasks.cpu.WeightFormat;
import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.graph.EmulatorBackend;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernels.GemmKernels;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The prompt GEMM's choice of kernel per weight format and size, wired as the kernels expect. */
class DeviceMatrixTest {
    /**
     * A product with enough 128 × 128 tiles to fill the GPU runs on the large-tile kernel, with its own grid and the
     * same arguments, and gives the 64 × 64 kernel's bits (bias and residual epilogue).
     */
    @Test
    void aLargeProductRunsOnLargeTilesWithTheSameBits() {
        int tokens = 4096, rows = 1152, cols = 8;
        Random random = new Random(5);
        try (Arena arena = Arena.ofShared(); EmulatorBackend backend = new EmulatorBackend()) {
            Half16Buffer w = bf16Gaussian(arena, (long) rows * cols, random);
            F32Buffer x = gaussian(arena, (long) tokens * cols, random), bias = gaussian(arena, rows, random);
            F32Buffer out = F32Buffer.allocate(arena, (long) tokens * rows), expected = F32Buffer.allocate(arena, (long) tokens * rows);
            for (long i = 0; i < out.length(); i++) {
                out.set(i, i % 7);
                expected.set(i, i % 7);
            }
            int epilogue = dev.moa.tasks.kernels.MatVecKernels.BIAS | dev.moa.tasks.kernels.MatVecKernels.ACCUMULATE;
            TaskGraph graph = new TaskGraph();
            new DeviceMatrix(w, WeightFormat.BF16, rows, cols).multiplyTokens(graph, "product", x, bias, out, epilogue, tokens, TensorProducts.SPLIT, null, w);
            assertEquals("bf16TensorLarge", graph.tasks().getFirst().method());
            backend.run(graph);
            backend.download(out);
            Emulator.launch(GemmKernels.class, "bf16Tensor", GemmKernels.tensorGrid(tokens, rows), w, x, bias, expected, tokens, rows, cols, epilogue);
            for (long i = 0; i < out.length(); i++) {
                assertEquals(Float.floatToRawIntBits(expected.get(i)), Float.floatToRawIntBits(out.get(i)), "element " + i);
            }
        }
    }

    /** F32 weights (a float32 checkpoint) take the FFMA tiles: the plain product, bias and residual. */
    @Test
    void f32WeightsTakeTheFfmaTiles() {
        int tokens = 70, rows = 45, cols = 40;
        Random random = new Random(6);
        try (Arena arena = Arena.ofShared(); EmulatorBackend backend = new EmulatorBackend()) {
            F32Buffer w = gaussian(arena, (long) rows * cols, random), x = gaussian(arena, (long) tokens * cols, random);
            F32Buffer bias = gaussian(arena, rows, random), out = F32Buffer.allocate(arena, (long) tokens * rows);
            for (long i = 0; i < out.length(); i++) out.set(i, i % 5);
            int epilogue = dev.moa.tasks.kernels.MatVecKernels.BIAS | dev.moa.tasks.kernels.MatVecKernels.ACCUMULATE;
            TaskGraph graph = new TaskGraph();
            new DeviceMatrix(w, WeightFormat.F32, rows, cols).multiplyTokens(graph, "product", x, bias, out, epilogue, tokens, TensorProducts.SPLIT, null,
                    Half16Buffer.allocate(arena, 8));
            assertEquals("f32", graph.tasks().getFirst().method());
            backend.run(graph);
            backend.download(out);
            for (int t = 0; t < tokens; t++) {
                for (int r = 0; r < rows; r++) {
                    double expected = bias.get(r) + (t * rows + r) % 5;
                    for (int c = 0; c < cols; c++) expected += (double) w.get((long) r * cols + c) * x.get((long) t * cols + c);
                    assertEquals(expected, out.get((long) t * rows + r), 1e-4, "token " + t + " row " + r);
                }
            }
        }
    }

    /**
     * BF16 weights whose rows are not whole 16-byte pieces (45 columns) take the FFMA tiles, whose loads need no
     * alignment, in a prompt and in a batched step alike; 40 columns take the tensor cores.
     */
    @Test
    void widthsTheTensorCoresDoNotTakeGoToTheFfmaTiles() {
        int tokens = 9, rows = 33;
        Random random = new Random(7);
        try (Arena arena = Arena.ofShared(); EmulatorBackend backend = new EmulatorBackend()) {
            for (int cols : new int[] {45, 40}) {
                Half16Buffer w = bf16Gaussian(arena, (long) rows * cols, random);
                F32Buffer x = gaussian(arena, (long) tokens * cols, random), bias = F32Buffer.allocate(arena, rows);
                F32Buffer out = F32Buffer.allocate(arena, (long) tokens * rows);
                DeviceMatrix matrix = new DeviceMatrix(w, WeightFormat.BF16, rows, cols);
                F32Buffer partial = F32Buffer.allocate(arena, Math.max(1, matrix.partialFloats(tokens)));
                for (F32Buffer split : new F32Buffer[] {null, partial}) {
                    TaskGraph graph = new TaskGraph();
                    matrix.multiplyTokens(graph, "product", x, bias, out, 0, tokens, TensorProducts.SPLIT, split, w);
                    String method = graph.tasks().getFirst().method();
                    if (cols == 45) assertEquals("half", method);
                    else org.junit.jupiter.api.Assertions.assertTrue(method.startsWith("bf16Tensor"), method);
                    backend.run(graph);
                    backend.download(out);
                    for (int t = 0; t < tokens; t++) {
                        for (int r = 0; r < rows; r++) {
                            double expected = 0;
                            for (int c = 0; c < cols; c++) {
                                expected += (double) KernelContext.bf16ToFloat(w.get((long) r * cols + c)) * x.get((long) t * cols + c);
                            }
                            assertEquals(expected, out.get((long) t * rows + r), 1e-4 * Math.max(1, Math.abs(expected)), cols + " columns, token " + t + " row " + r);
                        }
                    }
                }
            }
        }
    }

    /**
     * {@link TensorProducts#ROUNDED} (--prompt-precision bf16) takes the rounded GEMMs, small and large tiles: the
     * product of the activations rounded to BF16 once with the weights (each term exact in F32), bias and residual;
     * different from the split products' (which keep about 16 bits of each activation).
     */
    @Test
    void roundedProductsMultiplyActivationsRoundedToBf16() {
        int tokens = 70, rows = 90, cols = 40;
        Random random = new Random(8);
        try (Arena arena = Arena.ofShared(); EmulatorBackend backend = new EmulatorBackend()) {
            Half16Buffer w = bf16Gaussian(arena, (long) rows * cols, random);
            F32Buffer x = gaussian(arena, (long) tokens * cols, random), bias = gaussian(arena, rows, random);
            F32Buffer out = F32Buffer.allocate(arena, (long) tokens * rows);
            for (long i = 0; i < out.length(); i++) out.set(i, i % 3);
            int epilogue = dev.moa.tasks.kernels.MatVecKernels.BIAS | dev.moa.tasks.kernels.MatVecKernels.ACCUMULATE;
            DeviceMatrix matrix = new DeviceMatrix(w, WeightFormat.BF16, rows, cols);
            TaskGraph graph = new TaskGraph();
            matrix.multiplyTokens(graph, "product", x, bias, out, epilogue, tokens, TensorProducts.ROUNDED, null, w);
            assertEquals("bf16TensorRounded", graph.tasks().getFirst().method());
            backend.run(graph);
            backend.download(out);
            double differsFromExact = 0;
            for (int t = 0; t < tokens; t++) {
                for (int r = 0; r < rows; r++) {
                    double rounded = bias.get(r) + (t * rows + r) % 3, exact = rounded;
                    for (int c = 0; c < cols; c++) {
                        double weight = KernelContext.bf16ToFloat(w.get((long) r * cols + c));
                        float activation = x.get((long) t * cols + c);
                        rounded += weight * KernelContext.bf16ToFloat(KernelContext.floatToBf16(activation));
                        exact += weight * activation;
                    }
                    assertEquals(rounded, out.get((long) t * rows + r), 1e-5 * Math.max(1, Math.abs(rounded)), "token " + t + " row " + r);
                    differsFromExact = Math.max(differsFromExact, Math.abs(exact - out.get((long) t * rows + r)));
                }
            }
            org.junit.jupiter.api.Assertions.assertTrue(differsFromExact > 1e-3, "rounded products as exact as split ones: " + differsFromExact);
            TaskGraph large = new TaskGraph();
            matrix.multiplyTokens(large, "product", x, bias, out, epilogue, 4096, TensorProducts.ROUNDED, null, w);
            assertEquals("bf16TensorRounded", large.tasks().getFirst().method()); // 90 rows: too few large tiles
            new DeviceMatrix(Half16Buffer.allocate(arena, 1152L * cols), WeightFormat.BF16, 1152, cols).multiplyTokens(large, "product", x, bias, out,
                    epilogue, 4096, TensorProducts.ROUNDED, null, w); // (graphs only: not run)
            assertEquals("bf16TensorLargeRounded", large.tasks().getLast().method());
        }
    }

    /**
     * Activations in BF16 parts take the pipelined GEMM, large tiles where they fill the GPU: the bits {@link
     * DeviceMatrix#multiplyTokens} gives the same activations as floats, split and rounded; other formats and widths
     * are refused in one sentence (the prompt keeps them on floats).
     */
    @Test
    void partsTakeThePipelinedGemmWithTheFloatProductsBits() {
        Random random = new Random(9);
        try (Arena arena = Arena.ofShared(); EmulatorBackend backend = new EmulatorBackend()) {
            for (int[] shape : new int[][] {{70, 90, 40}, {4096, 1152, 8}}) { // 64 x 64 tiles; enough 128 x 128 tiles to fill the GPU
                int tokens = shape[0], rows = shape[1], cols = shape[2];
                Half16Buffer w = bf16Gaussian(arena, (long) rows * cols, random);
                F32Buffer x = gaussian(arena, (long) tokens * cols, random), bias = gaussian(arena, rows, random);
                DeviceMatrix matrix = new DeviceMatrix(w, WeightFormat.BF16, rows, cols);
                for (TensorProducts products : new TensorProducts[] {TensorProducts.SPLIT, TensorProducts.ROUNDED}) {
                    int epilogue = dev.moa.tasks.kernels.MatVecKernels.BIAS | dev.moa.tasks.kernels.MatVecKernels.ACCUMULATE;
                    F32Buffer out = F32Buffer.allocate(arena, (long) tokens * rows), expected = F32Buffer.allocate(arena, (long) tokens * rows);
                    for (long i = 0; i < out.length(); i++) {
                        out.set(i, i % 3);
                        expected.set(i, i % 3);
                    }
                    try (OwnedBuffers buffers = new OwnedBuffers(backend)) {
                        ActivationParts parts = ActivationParts.allocate(buffers, (long) tokens * cols, products);
                        TaskGraph graph = new TaskGraph().task("parts", dev.moa.tasks.kernels.PipelinedGemm.class, "splitRows",
                                dev.moa.tasks.emulator.Grid.of(1, tokens, 256), x, parts.high(), parts.low(), cols, parts.count());
                        matrix.multiplyParts(graph, "product", parts, bias, out, epilogue, tokens, null);
                        String kernel = !GemmKernels.large(tokens, rows) ? "tile" : products == TensorProducts.ROUNDED ? "wide" : "large";
                        assertEquals(kernel, graph.tasks().getLast().method());
                        matrix.multiplyTokens(graph, "floats", x, bias, expected, epilogue, tokens, products, null, w);
                        backend.run(graph);
                        backend.download(out);
                        backend.download(expected);
                    }
                    for (long i = 0; i < out.length(); i++) {
                        assertEquals(Float.floatToRawIntBits(expected.get(i)), Float.floatToRawIntBits(out.get(i)), products + " " + tokens + " x " + rows
                                + ", element " + i);
                    }
                }
            }
            // a batched decode step's few tokens: split over the columns, the staging split's bits
            int tokens = 8, rows = 64, cols = 256;
            Half16Buffer w = bf16Gaussian(arena, (long) rows * cols, random);
            F32Buffer x = gaussian(arena, (long) tokens * cols, random), bias = gaussian(arena, rows, random);
            DeviceMatrix matrix = new DeviceMatrix(w, WeightFormat.BF16, rows, cols);
            F32Buffer out = F32Buffer.allocate(arena, (long) tokens * rows), expected = F32Buffer.allocate(arena, (long) tokens * rows);
            F32Buffer partial = F32Buffer.allocate(arena, matrix.partialFloats(tokens)), partial2 = F32Buffer.allocate(arena, matrix.partialFloats(tokens));
            try (OwnedBuffers buffers = new OwnedBuffers(backend)) {
                ActivationParts parts = ActivationParts.allocate(buffers, (long) tokens * cols, TensorProducts.SPLIT);
                TaskGraph graph = new TaskGraph().task("parts", dev.moa.tasks.kernels.PipelinedGemm.class, "splitRows",
                        dev.moa.tasks.emulator.Grid.of(1, tokens, 256), x, parts.high(), parts.low(), cols, 2);
                matrix.multiplyParts(graph, "product", parts, bias, out, dev.moa.tasks.kernels.MatVecKernels.BIAS, tokens, partial);
                assertEquals(java.util.List.of("splitRows", "split", "sumSplits"), graph.tasks().stream().map(TaskGraph.Task::method).toList());
                matrix.multiplyTokens(graph, "floats", x, bias, expected, dev.moa.tasks.kernels.MatVecKernels.BIAS, tokens, TensorProducts.SPLIT, partial2, w);
                backend.run(graph);
                backend.download(out);
                backend.download(expected);
            }
            for (long i = 0; i < out.length(); i++) {
                assertEquals(Float.floatToRawIntBits(expected.get(i)), Float.floatToRawIntBits(out.get(i)), "split over the columns, element " + i);
            }
            org.junit.jupiter.api.Assertions.assertFalse(new DeviceMatrix(Half16Buffer.allocate(arena, 8), WeightFormat.F16, 1, 8).takesParts(), "F16");
            org.junit.jupiter.api.Assertions.assertFalse(new DeviceMatrix(Half16Buffer.allocate(arena, 45), WeightFormat.BF16, 1, 45).takesParts(), "45 columns");
            var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> new DeviceMatrix(Half16Buffer.allocate(arena, 45),
                    WeightFormat.BF16, 1, 45).multiplyParts(new TaskGraph(), "product", null, null, null, 0, 1, null));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("45"), e.getMessage());
        }
    }

    /**
     * A stacked gate/up matrix's product with SwiGLU as its epilogue ({@link DeviceMatrix#multiplyGlu}) gives the
     * down product's parts bit for bit as the product then SwiGLU's kernel: 64 × 64 tiles, 128 × 128 ones (split
     * activations on {@code large}, rounded on {@code wide}), and a batched step's few tokens split over the columns
     * (the sum, then SwiGLU's kernel).
     */
    @Test
    void gateUpWithSwiGluIsTheProductThenSwiGlu() {
        Random random = new Random(11);
        try (Arena arena = Arena.ofShared(); EmulatorBackend backend = new EmulatorBackend()) {
            for (int[] shape : new int[][] {{70, 90, 40, 0}, {4096, 1152, 8, 0}, {8, 64, 256, 1}}) {
                int tokens = shape[0], rows = shape[1], cols = shape[2], n = rows / 2;
                boolean split = shape[3] == 1;
                Half16Buffer w = bf16Gaussian(arena, (long) rows * cols, random);
                F32Buffer x = gaussian(arena, (long) tokens * cols, random);
                DeviceMatrix matrix = new DeviceMatrix(w, WeightFormat.BF16, rows, cols);
                for (TensorProducts products : new TensorProducts[] {TensorProducts.SPLIT, TensorProducts.ROUNDED}) {
                    F32Buffer partial = split ? F32Buffer.allocate(arena, matrix.partialFloats(tokens)) : null;
                    F32Buffer gateUp = F32Buffer.allocate(arena, (long) tokens * rows), expectedGateUp = F32Buffer.allocate(arena, (long) tokens * rows);
                    try (OwnedBuffers buffers = new OwnedBuffers(backend)) {
                        ActivationParts parts = ActivationParts.allocate(buffers, (long) tokens * cols, products);
                        ActivationParts out = ActivationParts.allocate(buffers, (long) tokens * n, products);
                        ActivationParts expected = ActivationParts.allocate(buffers, (long) tokens * n, products);
                        TaskGraph graph = new TaskGraph().task("parts", dev.moa.tasks.kernels.PipelinedGemm.class, "splitRows",
                                dev.moa.tasks.emulator.Grid.of(1, tokens, 256), x, parts.high(), parts.low(), cols, parts.count());
                        matrix.multiplyGlu(graph, "gate/up + swiglu", parts, out, tokens, partial, gateUp);
                        String kernel = split ? "swiGluParts" : !GemmKernels.large(tokens, rows) ? "tileGlu"
                                : products == TensorProducts.ROUNDED ? "wideGlu" : "largeGlu";
                        assertEquals(kernel, graph.tasks().getLast().method(), products + " " + tokens + " x " + rows);
                        F32Buffer partial2 = split ? F32Buffer.allocate(arena, matrix.partialFloats(tokens)) : null;
                        matrix.multiplyParts(graph, "gate/up", parts, F32Buffer.allocate(arena, 1), expectedGateUp, 0, tokens, partial2);
                        expected.swiGlu(graph, "swiglu", expectedGateUp, tokens, n);
                        backend.run(graph);
                        for (Half16Buffer b : new Half16Buffer[] {out.high(), out.low(), expected.high(), expected.low()}) backend.download(b);
                        for (long i = 0; i < (long) tokens * n; i++) {
                            String what = products + " " + tokens + " tokens x " + n + " features, output " + i;
                            assertEquals(expected.high().get(i), out.high().get(i), what);
                            assertEquals(expected.low().get(i), out.low().get(i), what);
                        }
                    }
                }
            }
        }
    }

    /** {@code n} Gaussian floats. */
    static F32Buffer gaussian(Arena arena, long n, Random random) {
        F32Buffer b = F32Buffer.allocate(arena, n);
        for (long i = 0; i < n; i++) b.set(i, (float) random.nextGaussian());
        return b;
    }

    /** {@code n} Gaussian values rounded to BF16. */
    static Half16Buffer bf16Gaussian(Arena arena, long n, Random random) {
        Half16Buffer b = Half16Buffer.allocate(arena, n);
        for (long i = 0; i < n; i++) b.set(i, KernelContext.floatToBf16((float) random.nextGaussian()));
        return b;
    }
}
