package dev.moa.runtime.bench;

import dev.moa.tasks.cuda.CudaContext;
import dev.moa.tasks.cuda.CudaEvent;
import dev.moa.tasks.cuda.CudaFunction;
import dev.moa.tasks.cuda.CudaModule;
import dev.moa.tasks.cuda.CudaStream;
import dev.moa.tasks.cuda.DeviceMemory;
import dev.moa.tasks.cuda.Dim3;
import dev.moa.tasks.jit.PtxCompiler;
import dev.moa.tasks.jit.Specialization;
import dev.moa.tasks.kernel.DeviceBuffer;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernels.AttentionKernels;
import dev.moa.tasks.kernels.KvStore;
import dev.moa.tasks.kernels.MatVecKernels;
import dev.moa.tasks.kernels.SamplingKernels;
import dev.moa.tasks.kernels.VectorKernels;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The decode kernels on a CUDA device, timed with events: BF16 matvec at Llama-3-8B's shapes, the choice of the next
 * token over 1 and 32 rows of a 128k vocabulary (the argmax; the argmax then the draw, checked against the host sampler's
 * tokens) and MoA decode attention
 * (split + combine, 32 query heads over 8 KV heads, dense spans) at 4k and 16k tokens; the prefill GEMM (FFMA, tensor
 * cores over 64 × 64 and 128 × 128 tiles, and tensor cores with the activations rounded to BF16 once: what the split
 * costs) on 512 and 4096 tokens at
 * Llama-3.2-1B's q/o and gate/up shapes (scripts/reference/bench_matmul_cuda.py times torch.matmul on the same), and
 * its prefill attention (FFMA and tensor
 * cores, dense causal over a 4096-token chunk), in TFLOP/s. Each is reported as GB/s read
 * and as a share of the device's memory-bandwidth roofline (decode kernels are bandwidth-bound); given the PTX
 * that nvcc writes for {@code scripts/kernel-gap/reference.cu} (the same algorithms in CUDA C), also as the ratio
 * of nvcc's time to ours: the JIT's gap. Both builds' results are checked against a plain Java computation (the
 * max error columns), and nvcc's time is shown only where its result is right: a reference that computes something
 * else (arguments drifted from its parameters, say) times other work.
 */
public final class GpuKernelBenchmark {
    static final int WARMUP = 20, LAUNCHES = 50;
    /** The largest error nvcc's result may have and still count (ours and nvcc's are both F32 sums in their own orders). */
    static final double REFERENCE_TOLERANCE = 1e-3;
    /** Every byte 0xFF: each float a NaN. Outputs start as this, so one a kernel never writes fails its check. */
    private static final byte NAN_BYTE = (byte) 0xFF;

    /**
     * One timed kernel: what it is, how long one launch takes (ours and nvcc's, NaN without reference), bytes read, the
     * largest error of our result and of nvcc's (NaN without reference) against plain Java.
     */
    public record Row(String kernel, String shape, double micros, double referenceMicros, long bytes, double maxError, long flops,
                      double referenceError) {
        Row(String kernel, String shape, double micros, double referenceMicros, long bytes, double maxError, long flops) {
            this(kernel, shape, micros, referenceMicros, bytes, maxError, flops, Double.NaN);
        }

        /** Whether nvcc's build ran and gave the right result (its time means something). */
        boolean referenceRight() {
            return !Double.isNaN(referenceMicros) && referenceError <= REFERENCE_TOLERANCE;
        }

        double gigabytesPerSecond() {
            return bytes / micros / 1e3;
        }
    }

    private final CudaContext context;
    private final CudaModule reference;
    private final int warmup, launches;
    private final Arena arena = Arena.ofConfined();
    private final List<DeviceMemory> allocated = new ArrayList<>();
    private final List<CudaModule> modules = new ArrayList<>();
    private final java.util.Map<String, CudaFunction> functions = new java.util.HashMap<>();
    private final Random random = new Random(20261129);

    /** {@code referencePtx}: nvcc's PTX of reference.cu, or null to time our kernels only. */
    public GpuKernelBenchmark(CudaContext context, String referencePtx) {
        this(context, referencePtx, WARMUP, LAUNCHES);
    }

    /** With {@code warmup} and {@code launches} rounds per timing (tests, whose fake device interprets the kernels: 1). */
    GpuKernelBenchmark(CudaContext context, String referencePtx, int warmup, int launches) {
        this.context = context;
        this.reference = referencePtx == null ? null : context.loadModule(referencePtx);
        this.warmup = warmup;
        this.launches = launches;
    }

    public List<Row> run(PrintStream progress) {
        List<Row> rows = new ArrayList<>();
        try {
            progress.println("warming the GPU up (clocks ramp from idle) ...");
            warmUp();
            for (int[] shape : new int[][] {{4096, 4096}, {14336, 4096}}) {
                progress.printf("matvec-bf16 %d x %d ...%n", shape[0], shape[1]);
                rows.add(matVec(shape[0], shape[1]));
            }
            for (int[] shape : new int[][] {{2048, 2048}, {2048, 8192}}) { // a 1B model's output and down projections: few rows
                int parts = MatVecKernels.parts(shape[0], shape[1]);
                progress.printf("matvec-bf16-into %d x %d, a warp a row and %d warps a row (cycling through copies past the L2) ...%n", shape[0],
                        shape[1], parts);
                int copies = copiesPastTheL2((long) shape[0] * shape[1] * 2);
                rows.add(matVecInto(shape[0], shape[1], 1, copies));
                rows.add(matVecInto(shape[0], shape[1], parts, copies));
            }
            for (int batch : new int[] {1, 32}) {
                progress.printf("choosing tokens from %d rows of 128256 logits: the argmax, then the draw (greedy, and the sampled settings of bench sampling) ...%n", batch);
                for (var params : SamplingBenchmark.SETTINGS.subList(0, 4)) rows.add(draw(batch, 128256, params));
            }
            for (int[] shape : new int[][] {{512, 2048, 2048}, {512, 16384, 2048}, {4096, 2048, 2048}, {4096, 16384, 2048}}) {
                progress.printf("gemm %d tokens x %d x %d (FFMA, tensor cores on 64- and 128-tiles, the same with x rounded to BF16) ...%n", shape[0],
                        shape[1], shape[2]);
                for (String kind : new String[] {"half", "bf16Tensor", "bf16TensorLarge", "bf16TensorRounded", "bf16TensorLargeRounded"}) {
                    rows.add(gemm(shape[0], shape[1], shape[2], kind));
                }
                for (int parts = 2; parts >= 1; parts--) {
                    rows.add(pipelinedGemm(shape[0], shape[1], shape[2], parts, false));
                    rows.add(pipelinedGemm(shape[0], shape[1], shape[2], parts, true));
                }
                if (shape[0] == 4096 && shape[1] == 16384) { // weights past the L2: the tiles in plain order, not walking token tiles
                    rows.add(pipelinedGemm(shape[0], shape[1], shape[2], 2, false, 1));
                    rows.add(pipelinedGemm(shape[0], shape[1], shape[2], 1, true, 1));
                }
                if (shape[1] == 16384) { // gate/up: SwiGLU as the product's epilogue against the product, then SwiGLU's kernel
                    rows.add(gluGemm(shape[0], shape[1], shape[2], true));
                    rows.add(gluGemm(shape[0], shape[1], shape[2], false));
                }
            }
            for (int[] shape : new int[][] {{32, 3072, 2048}, {32, 2048, 8192}, {32, 16384, 2048}}) {
                progress.printf("a batched decode step's product, %d sessions x %d x %d (batched matvec, tensor cores whole, split) ...%n",
                        shape[0], shape[1], shape[2]);
                for (String kind : new String[] {"halfBatchInto", "bf16Tensor", "bf16TensorSplit", "pipelinedSplit"}) {
                    rows.add(decodeProduct(shape[0], shape[1], shape[2], kind));
                }
            }
            progress.println("prefill attention, 4096 tokens, 32 heads over 8, head_dim 64 (FFMA, tensor cores split and rounded) ...");
            for (String kernel : new String[] {"blockSparse", "blockSparseTensor", "blockSparseTensorRounded"}) {
                rows.add(prefillAttention(4096, 32, 8, 64, kernel, true));
            }
            // the tensor-core attention's groups in block order (head by head), not the longest first: what the schedule buys
            rows.add(prefillAttention(4096, 32, 8, 64, "blockSparseTensor", false));
            for (int span : new int[] {4096, 16384}) {
                progress.printf("attention (split + combine) span %d ...%n", span);
                rows.add(attention(32, 8, 128, span, false, false));
                rows.add(attention(32, 8, 128, span, true, false));
                rows.add(attention(32, 8, 128, span, true, false, "attention_grouped_d128")); // nvcc with head_dim fixed too
                rows.add(attention(32, 8, 128, span, true, true));
                rows.add(stagedAttention(32, 8, 128, span, false));
                rows.add(stagedAttention(32, 8, 128, span, false, "attention_staged_d128"));
                rows.add(stagedAttention(32, 8, 128, span, true));
            }
            for (int span : new int[] {256, 16384}) { // Llama-3.2-1B's heads, BF16 caches: a short and a long context
                progress.printf("attention, Llama-3.2-1B heads, BF16, span %d (grouped, staged) ...%n", span);
                rows.add(attention(32, 8, 64, span, true, true));
                rows.add(stagedAttention(32, 8, 64, span, true));
                // F32 caches against nvcc's builds with the same shape fixed (what CubinTest compares loop by loop)
                rows.add(attention(32, 8, 64, span, true, false, "attention_grouped_1b"));
                rows.add(stagedAttention(32, 8, 64, span, false, "attention_staged_1b"));
            }
        } finally {
            close();
        }
        return rows;
    }

    /** Frees what the rows allocated and loaded ({@link #run} does at its end). */
    void close() {
        allocated.forEach(DeviceMemory::close);
        modules.forEach(CudaModule::close);
        if (reference != null) reference.close();
        arena.close();
    }

    /** Our largest error a row may have: every product and attention is an F32 sum checked against a double one. */
    static final double TOLERANCE = 1e-3;
    /**
     * The rounded prefill attention's ({@code prefill-attn-rounded}): its reference rounds Q, K and V to BF16 as the
     * kernel does, but not the probabilities, each of which the kernel rounds to BF16 too (up to 2^-9 of itself).
     */
    static final double ROUNDED_ATTENTION_TOLERANCE = 2e-2;

    static double tolerance(Row r) {
        return r.kernel().equals("prefill-attn-rounded") ? ROUNDED_ATTENTION_TOLERANCE : TOLERANCE;
    }

    /**
     * The rows whose result is wrong, ours (beyond {@link #tolerance}, NaN included: an output never written) or nvcc's
     * (ran and beyond {@link #REFERENCE_TOLERANCE}), as "kernel shape (whose)".
     */
    public static List<String> wrongRows(List<Row> rows) {
        List<String> wrong = new ArrayList<>();
        for (Row r : rows) {
            if (!(r.maxError() <= tolerance(r))) wrong.add(r.kernel() + " " + r.shape() + " (ours)");
            if (!Double.isNaN(r.referenceMicros()) && !r.referenceRight()) wrong.add(r.kernel() + " " + r.shape() + " (nvcc)");
        }
        return wrong;
    }

    /** The table: ours, roofline share, nvcc's time and the gap. */
    public String table(List<Row> rows) {
        double peak = context.device().peakBandwidthBytesPerSecond() / 1e9;
        StringBuilder out = new StringBuilder(String.format("%s, roofline %.0f GB/s%n", context.device().describe(), peak));
        out.append(String.format("%-22s %-16s %10s %9s %9s %11s %11s %10s %11s%n", "kernel", "shape", "ours us", "GB/s", "roofline",
                "nvcc us", "nvcc/ours", "max error", "nvcc error"));
        for (Row r : rows) {
            if (r.flops() > 0) { // compute-bound: TFLOP/s, not bandwidth
                out.append(String.format("%-22s %-16s %10.1f %9s %9s %11s %11s %10.1e   %.1f TFLOP/s%n", r.kernel(), r.shape(), r.micros(), "-", "-",
                        "-", "-", r.maxError(), r.flops() / r.micros() / 1e6));
                continue;
            }
            boolean ran = !Double.isNaN(r.referenceMicros());
            out.append(String.format("%-22s %-16s %10.1f %9.0f %8.0f%% %11s %11s %10.1e %11s%n", r.kernel(), r.shape(), r.micros(),
                    r.gigabytesPerSecond(), 100 * r.gigabytesPerSecond() / peak,
                    !ran ? "-" : r.referenceRight() ? String.format("%.1f", r.referenceMicros()) : "wrong",
                    !ran ? "-" : r.referenceRight() ? String.format("%.2f", r.referenceMicros() / r.micros()) : "wrong",
                    r.maxError(), ran ? String.format("%.1e", r.referenceError()) : "-"));
        }
        return out.toString();
    }

    Row matVec(int rows, int cols) {
        Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
        for (long i = 0; i < w.length(); i++) w.set(i, KernelContext.floatToBf16((float) random.nextGaussian()));
        F32Buffer x = gaussian(cols), out = F32Buffer.allocate(arena, rows);
        Dim3 grid = Dim3.of((rows + MatVecKernels.ROWS_PER_GROUP - 1) / MatVecKernels.ROWS_PER_GROUP), block = Dim3.of(MatVecKernels.GROUP);
        DeviceMemory dw = device(w), dx = device(x), dout = device(out);
        dout.fill(NAN_BYTE);
        Launch ours = ours(MatVecKernels.class, "bf16", grid, block, dw, dx, dout, rows, cols);
        double[] expected = new double[rows];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) expected[r] += KernelContext.bf16ToFloat(w.get((long) r * cols + c)) * (double) x.get(c);
        }
        java.util.function.DoubleSupplier error = () -> {
            dout.copyTo(out.memory());
            double largest = 0;
            for (int r = 0; r < rows; r++) largest = Math.max(largest, Math.abs(expected[r] - out.get(r)) / Math.max(1, Math.abs(expected[r])));
            return largest;
        };
        double micros = time(ours), ourError = error.getAsDouble();
        double referenceMicros = Double.NaN, referenceError = Double.NaN;
        if (reference != null) {
            dout.fill(NAN_BYTE);
            referenceMicros = time(new Launch(reference.function("matvec_bf16"), grid, block, dw, dx, dout, rows, cols));
            referenceError = error.getAsDouble();
        }
        long bytes = (long) rows * cols * 2 + (long) cols * 4 + (long) rows * 4;
        return new Row("matvec-bf16", rows + "x" + cols, micros, referenceMicros, bytes, ourError, 0, referenceError);
    }

    /**
     * Copies of a {@code bytes}-byte matrix whose launches in turn read from memory, not from the L2 (50 MB on an H100
     * or H200): 160 MB of them, at most 16. Launched back to back on one matrix, a 1B model's 8 MB output projection or
     * 32 MB down projection would be read from the L2, which a decode step's other 2.4 GB of weights leave cold.
     */
    static int copiesPastTheL2(long bytes) {
        return (int) Math.clamp((160L << 20) / bytes + 1, 1, 16);
    }

    /**
     * The one-row product of a decode step ({@code bf16Into}) over {@code rows × cols} BF16 weights with each row's
     * columns shared by {@code parts} warps, its launches cycling through {@code copies} copies of the weights; in GB/s of
     * the weights' bytes, per launch.
     */
    Row matVecInto(int rows, int cols, int parts, int copies) {
        Half16Buffer w = bf16Weights(rows, cols); // (made once a shape: both ways of a shape read the same weights)
        F32Buffer x = activations(cols), out = F32Buffer.allocate(arena, rows);
        DeviceMemory dx = device(x), dout = device(out);
        dout.fill(NAN_BYTE);
        Launch[] launches = new Launch[copies];
        for (int k = 0; k < copies; k++) {
            // as a step launches them: with rows shared, a small matrix asked of the L2 whole before the wait
            int flags = parts > 1 && MatVecKernels.prefetchesWhole(rows, cols) ? MatVecKernels.PREFETCH_WHOLE : 0;
            launches[k] = ours(MatVecKernels.class, "bf16Into", MatVecKernels.grid(rows, parts), device(w), dx, dx, dout, rows, cols, flags, parts);
        }
        double micros = time(launches) / copies;
        dout.copyTo(out.memory());
        double largest = 0;
        for (int r = 0; r < rows; r++) {
            double expected = 0;
            for (int c = 0; c < cols; c++) expected += KernelContext.bf16ToFloat(w.get((long) r * cols + c)) * (double) x.get(c);
            largest = Math.max(largest, Math.abs(expected - out.get(r)) / Math.max(1, Math.abs(expected)));
        }
        long bytes = (long) rows * cols * 2 + (long) cols * 4 + (long) rows * 4;
        return new Row("matvec-bf16-into", rows + "x" + cols + " /" + parts, micros, Double.NaN, bytes, largest, 0);
    }

    /**
     * The prefill GEMM, {@code tokens × cols} F32 activations times {@code rows × cols} BF16 weights: {@code half}
     * (FFMA tiles), {@code bf16Tensor} (tensor cores, activations split in two BF16 parts), {@code bf16TensorLarge} (the
     * same over 128 × 128 tiles) or {@code bf16TensorRounded}
     * (activations rounded to BF16 once, checked against the product of the rounded activations); in TFLOP/s.
     */
    Row gemm(int tokens, int rows, int cols, String kind) {
        Half16Buffer w = bf16Weights(rows, cols);
        F32Buffer x = activations((long) tokens * cols), out = F32Buffer.allocate(arena, (long) tokens * rows), bias = F32Buffer.allocate(arena, 1);
        boolean tensor = !kind.equals("half"), rounded = kind.endsWith("Rounded");
        var grid = switch (kind) {
            case "half" -> dev.moa.tasks.kernels.GemmKernels.grid(tokens, rows);
            case "bf16TensorLarge", "bf16TensorLargeRounded" -> dev.moa.tasks.kernels.GemmKernels.largeGrid(tokens, rows);
            default -> dev.moa.tasks.kernels.GemmKernels.tensorGrid(tokens, rows);
        };
        DeviceMemory dout = device(out);
        dout.fill(NAN_BYTE); // an output a kernel never writes stays NaN and fails the check
        Object[] args = tensor ? new Object[] {device(w), device(x), device(bias), dout, tokens, rows, cols, 0}
                : new Object[] {device(w), device(x), device(bias), dout, tokens, rows, cols, 0, 0};
        double micros = time(ours(dev.moa.tasks.kernels.GemmKernels.class, kind, grid, args));
        dout.copyTo(out.memory());
        double error = 0;
        for (int t : java.util.stream.IntStream.of(0, 1, tokens / 2, tokens - 1).distinct().toArray()) { // the first, a middle and the last tile of tokens
            for (int r = 0; r < rows; r++) {
                double expected = 0;
                for (int c = 0; c < cols; c++) {
                    float xv = x.get((long) t * cols + c);
                    if (rounded) xv = KernelContext.bf16ToFloat(KernelContext.floatToBf16(xv));
                    expected += KernelContext.bf16ToFloat(w.get((long) r * cols + c)) * (double) xv;
                }
                error = Math.max(error, Math.abs(expected - out.get((long) t * rows + r)) / Math.max(1, Math.abs(expected)));
            }
        }
        String name = switch (kind) {
            case "half" -> "gemm-half";
            case "bf16Tensor" -> "gemm-bf16-tensor";
            case "bf16TensorLarge" -> "gemm-bf16-large";
            case "bf16TensorLargeRounded" -> "gemm-bf16-large-rounded";
            default -> "gemm-bf16-rounded";
        };
        return new Row(name, tokens + "x" + rows + "x" + cols, micros, Double.NaN, (long) rows * cols * 2, error, 2L * tokens * rows * cols);
    }

    /**
     * The prompt's pipelined GEMM ({@link dev.moa.tasks.kernels.PipelinedGemm}) on the tiles the model takes for
     * this shape, its activations already in {@code parts} BF16 parts (as the kernel before writes them; split here
     * once, not timed): 2 gives {@code gemm-bf16-tensor}'s products, 1 a bf16 × bf16 matmul's (checked against the
     * product of the rounded activations), the row to set against cuBLAS; {@code wide}: {@link
     * dev.moa.tasks.kernels.PipelinedGemm#wide} (64 × 64 warps) whatever the shape; in TFLOP/s.
     */
    Row pipelinedGemm(int tokens, int rows, int cols, int parts, boolean wide) {
        return pipelinedGemm(tokens, rows, cols, parts, wide, dev.moa.tasks.kernels.PipelinedGemm.TOKEN_WALK);
    }

    /**
     * {@link #pipelinedGemm} with its tiles launched walking {@code walk} token tiles per weight row tile (the model's
     * {@code PipelinedGemm.TOKEN_WALK}; 1: plain order, row {@code …-plain-order}: what the walk buys where the weights
     * outgrow the L2).
     */
    Row pipelinedGemm(int tokens, int rows, int cols, int parts, boolean wide, int walk) {
        String kernel = wide ? "wide" : dev.moa.tasks.kernels.GemmKernels.large(tokens, rows) ? "large" : "tile";
        return pipelinedGemm(tokens, rows, cols, parts, kernel, walk);
    }

    /** {@link #pipelinedGemm} on the named kernel ({@code tile}, {@code large} or {@code wide}) whatever the shape. */
    Row pipelinedGemm(int tokens, int rows, int cols, int parts, String kernel, int walk) {
        boolean wide = kernel.equals("wide"), large = kernel.equals("large");
        Half16Buffer w = bf16Weights(rows, cols);
        F32Buffer x = activations((long) tokens * cols), out = F32Buffer.allocate(arena, (long) tokens * rows), bias = F32Buffer.allocate(arena, 1);
        Half16Buffer high = Half16Buffer.allocate(arena, x.length()), low = Half16Buffer.allocate(arena, x.length());
        for (long i = 0; i < x.length(); i++) dev.moa.tasks.kernels.PipelinedGemm.writeParts(high, low, i, x.get(i), parts);
        DeviceMemory dout = device(out), dhigh = device(high);
        dout.fill(NAN_BYTE);
        var grid = switch (kernel) {
            case "wide" -> dev.moa.tasks.kernels.PipelinedGemm.wideGrid(tokens, rows, parts, walk);
            case "large" -> dev.moa.tasks.kernels.PipelinedGemm.largeGrid(tokens, rows, parts, walk);
            default -> dev.moa.tasks.kernels.PipelinedGemm.grid(tokens, rows, parts, walk);
        };
        DeviceMemory dw = device(w), dlow = parts == 2 ? device(low) : dhigh, dbias = device(bias);
        double micros = time(ours(dev.moa.tasks.kernels.PipelinedGemm.class, kernel, grid, dw, dhigh, dlow, dbias, dout, tokens, rows, cols, parts, 0));
        int[] checked = java.util.stream.IntStream.of(0, 1, tokens / 2, tokens - 1).distinct().toArray();
        double[][] expected = new double[checked.length][rows];
        for (int i = 0; i < checked.length; i++) {
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    float xv = x.get((long) checked[i] * cols + c);
                    if (parts == 1) xv = KernelContext.bf16ToFloat(KernelContext.floatToBf16(xv));
                    expected[i][r] += KernelContext.bf16ToFloat(w.get((long) r * cols + c)) * (double) xv;
                }
            }
        }
        java.util.function.DoubleSupplier check = () -> {
            dout.copyTo(out.memory());
            double error = 0;
            for (int i = 0; i < checked.length; i++) {
                for (int r = 0; r < rows; r++) {
                    double e = expected[i][r];
                    error = Math.max(error, Math.abs(e - out.get((long) checked[i] * rows + r)) / Math.max(1, Math.abs(e)));
                }
            }
            return error;
        };
        double error = check.getAsDouble();
        // nvcc's build of the same kernel (scripts/kernel-gap/reference.cu; the tile and large ones, in the model's walk)
        double referenceMicros = Double.NaN, referenceError = Double.NaN;
        if (reference != null && !wide && walk == dev.moa.tasks.kernels.PipelinedGemm.TOKEN_WALK) {
            dout.fill(NAN_BYTE);
            var function = reference.function(large ? "gemm_pipelined_large" : "gemm_pipelined");
            Object[] args = {dw, dhigh, dlow, dbias, dout, tokens, rows, cols, parts, 0};
            referenceMicros = time(new Launch(function, Dim3.of(grid.groupsX(), grid.groupsY(), grid.groupsZ()), Dim3.of(grid.groupSize()),
                    grid.sharedBytes(), args));
            referenceError = check.getAsDouble();
        }
        String name = "gemm-pipelined" + (wide ? "-wide" : large ? "-large" : "") + (parts == 1 ? "-rounded" : "")
                + (walk == 1 ? "-plain-order" : "");
        return new Row(name, tokens + "x" + rows + "x" + cols, micros, referenceMicros, (long) rows * cols * 2, error, 2L * tokens * rows * cols,
                referenceError);
    }

    /**
     * A prompt's gate/up product with SwiGLU ({@code rows} = the stacked gate and up rows; activations in two BF16
     * parts, as the norm writes them), out as the down product's two parts: {@code fused}, SwiGLU as the product's
     * epilogue ({@code largeGlu}/{@code tileGlu}, one launch, row {@code gemm-glu-fused}); else the product into floats
     * then {@code swiGluParts} (two launches timed together, {@code gemm-glu-unfused}: what the prompt ran before).
     * Checked on its first, a middle and its last tokens against the loop; TFLOP/s of the product.
     */
    Row gluGemm(int tokens, int rows, int cols, boolean fused) {
        Half16Buffer w = bf16Weights(rows, cols);
        F32Buffer x = activations((long) tokens * cols), bias = F32Buffer.allocate(arena, 1);
        Half16Buffer high = Half16Buffer.allocate(arena, x.length()), low = Half16Buffer.allocate(arena, x.length());
        for (long i = 0; i < x.length(); i++) dev.moa.tasks.kernels.PipelinedGemm.writeParts(high, low, i, x.get(i), 2);
        int n = rows / 2;
        Half16Buffer oh = Half16Buffer.allocate(arena, (long) tokens * n), ol = Half16Buffer.allocate(arena, (long) tokens * n);
        DeviceMemory doh = device(oh), dol = device(ol), dhigh = device(high), dlow = device(low);
        doh.fill(NAN_BYTE);
        dol.fill(NAN_BYTE);
        Class<?> k = dev.moa.tasks.kernels.PipelinedGemm.class;
        boolean large = dev.moa.tasks.kernels.GemmKernels.large(tokens, rows);
        var grid = large ? dev.moa.tasks.kernels.PipelinedGemm.largeGrid(tokens, rows, 2) : dev.moa.tasks.kernels.PipelinedGemm.grid(tokens, rows, 2);
        Launch[] launches;
        if (fused) {
            launches = new Launch[] {ours(k, large ? "largeGlu" : "tileGlu", grid, device(w), dhigh, dlow, doh, dol, tokens, rows, cols, 2)};
        } else {
            DeviceMemory gateUp = device(F32Buffer.allocate(arena, (long) tokens * rows));
            launches = new Launch[] {ours(k, large ? "large" : "tile", grid, device(w), dhigh, dlow, device(bias), gateUp, tokens, rows, cols, 2, 0),
                    ours(dev.moa.tasks.kernels.VectorKernels.class, "swiGluParts", dev.moa.tasks.emulator.Grid.of((n + 255) / 256, tokens, 256), gateUp,
                            doh, dol, n, 2)};
        }
        double micros = time(launches);
        doh.copyTo(oh.memory());
        dol.copyTo(ol.memory());
        double error = 0;
        for (int t : java.util.stream.IntStream.of(0, tokens / 2, tokens - 1).distinct().toArray()) {
            for (int f = 0; f < n; f++) {
                double gate = 0, up = 0;
                for (int c = 0; c < cols; c++) {
                    double xv = x.get((long) t * cols + c);
                    gate += KernelContext.bf16ToFloat(w.get((long) f * cols + c)) * xv;
                    up += KernelContext.bf16ToFloat(w.get((long) (n + f) * cols + c)) * xv;
                }
                double expected = gate / (1 + Math.exp(-gate)) * up;
                long at = (long) t * n + f;
                double got = KernelContext.bf16ToFloat(oh.get(at)) + (double) KernelContext.bf16ToFloat(ol.get(at));
                error = Math.max(error, Math.abs(expected - got) / ((1 + Math.abs(gate)) * (1 + Math.abs(up))));
            }
        }
        return new Row(fused ? "gemm-glu-fused" : "gemm-glu-unfused", tokens + "x" + rows + "x" + cols, micros, Double.NaN, (long) rows * cols * 2, error,
                2L * tokens * rows * cols);
    }

    /**
     * A batched decode step's product ({@code batch} sessions' activations × BF16 weights, F32 out) as the batched
     * matvec ({@code halfBatchInto}), the tensor-core GEMM over all columns ({@code bf16Tensor}) or split over them
     * and summed ({@code bf16TensorSplit}: two launches, timed together); checked on its first and last sessions.
     */
    Row decodeProduct(int batch, int rows, int cols, String kind) {
        Half16Buffer w = bf16Weights(rows, cols);
        F32Buffer x = activations((long) batch * cols), out = F32Buffer.allocate(arena, (long) batch * rows), bias = F32Buffer.allocate(arena, 1);
        DeviceMemory dw = device(w), dx = device(x), dbias = device(bias), dout = device(out);
        dout.fill(NAN_BYTE);
        Class<?> gemm = dev.moa.tasks.kernels.GemmKernels.class;
        Launch[] launches = switch (kind) {
            case "halfBatchInto" -> { // as a step launches it: rows shared by warps where they are few
                int parts = MatVecKernels.batchParts(rows, cols, batch);
                var g = MatVecKernels.batchGrid(rows, batch, parts);
                yield new Launch[] {ours(MatVecKernels.class, kind, g, dw, dx, dbias, dout, rows, cols, batch, 0, 0, parts)};
            }
            case "bf16Tensor" -> {
                var g = dev.moa.tasks.kernels.GemmKernels.tensorGrid(batch, rows);
                yield new Launch[] {ours(gemm, kind, g, dw, dx, dbias, dout, batch, rows, cols, 0)};
            }
            case "pipelinedSplit" -> { // the model's: activations in BF16 parts (written by the kernel before: untimed here)
                Half16Buffer high = Half16Buffer.allocate(arena, x.length()), low = Half16Buffer.allocate(arena, x.length());
                for (long i = 0; i < x.length(); i++) dev.moa.tasks.kernels.PipelinedGemm.writeParts(high, low, i, x.get(i), 2);
                int splits = dev.moa.tasks.kernels.GemmKernels.splits(batch, rows, cols);
                DeviceMemory partial = device(F32Buffer.allocate(arena, (long) splits * batch * rows));
                partial.fill(NAN_BYTE);
                yield new Launch[] {
                        ours(dev.moa.tasks.kernels.PipelinedGemm.class, "split", dev.moa.tasks.kernels.PipelinedGemm.splitGrid(batch, rows, splits, 2), dw,
                                device(high), device(low), partial, batch, rows, cols, dev.moa.tasks.kernels.GemmKernels.splitCols(cols, splits), 2),
                        ours(gemm, "sumSplits", dev.moa.tasks.kernels.GemmKernels.sumGrid(batch, rows), partial, dbias, dout, batch, rows, splits, 0)};
            }
            default -> {
                int splits = dev.moa.tasks.kernels.GemmKernels.splits(batch, rows, cols);
                DeviceMemory partial = device(F32Buffer.allocate(arena, (long) splits * batch * rows));
                partial.fill(NAN_BYTE);
                var g = dev.moa.tasks.kernels.GemmKernels.tensorSplitGrid(batch, rows, splits);
                var sum = dev.moa.tasks.kernels.GemmKernels.sumGrid(batch, rows);
                yield new Launch[] {
                        ours(gemm, kind, g, dw, dx, partial, batch, rows, cols, dev.moa.tasks.kernels.GemmKernels.splitCols(cols, splits)),
                        ours(gemm, "sumSplits", sum, partial, dbias, dout, batch, rows, splits, 0)};
            }
        };
        double micros = time(launches);
        dout.copyTo(out.memory());
        double error = 0;
        for (int t : new int[] {0, batch - 1}) {
            for (int r = 0; r < rows; r++) {
                double expected = 0;
                for (int c = 0; c < cols; c++) expected += KernelContext.bf16ToFloat(w.get((long) r * cols + c)) * (double) x.get((long) t * cols + c);
                error = Math.max(error, Math.abs(expected - out.get((long) t * rows + r)) / Math.max(1, Math.abs(expected)));
            }
        }
        String name = switch (kind) {
            case "halfBatchInto" -> "matvec-half-batch";
            case "bf16Tensor" -> "gemm-bf16-tensor";
            case "pipelinedSplit" -> "gemm-pipelined-split";
            default -> "gemm-bf16-tensor-split";
        };
        // bound by the weights' bytes (read once per step by every kind but the matvec's later passes): GB/s, not FLOP/s
        return new Row(name, batch + "x" + rows + "x" + cols, micros, Double.NaN, (long) rows * cols * 2, error, 0);
    }

    /**
     * {@code kv} on the device split as the device prefill splits it for the tensor-core attention (its
     * {@code PrefillKernels.splitKeysValues} launched once, untimed: a chunk's one pass is not what the row times).
     */
    private DeviceMemory split(DeviceMemory kv, long elements, int tokens, int kvRow) {
        long part = dev.moa.tasks.kernels.PrefillKernels.splitPart(tokens, kvRow);
        DeviceMemory kv16 = device(Half16Buffer.allocate(arena, 2 * part));
        Launch l = ours(dev.moa.tasks.kernels.PrefillKernels.class, "splitKeysValues",
                dev.moa.tasks.emulator.Grid.covering(elements, dev.moa.tasks.kernels.PrefillKernels.GROUP), kv, kv16, part, 0L, (int) elements);
        try (CudaStream stream = context.createStream()) {
            l.function().launch(l.grid(), l.block(), l.sharedBytes(), stream, l.args());
            stream.synchronize();
        }
        return kv16;
    }

    /**
     * Dense causal prefill attention over a {@code tokens}-token prompt in one chunk (keys and values staged as the
     * device prefill stages them) by {@code kernel}: {@code blockSparse} (FFMA), {@code blockSparseTensor} (tensor
     * cores, split operands) or {@code blockSparseTensorRounded} (operands rounded to BF16); checked on queries of the
     * first, a middle and the last block of the first and last heads against a double computation. The tensor-core
     * kernels take their groups' items {@code longestFirst} ({@code PrefillKernels.longestFirst}, as the model runs
     * them) or in block order, head by head (row {@code prefill-attn-tensor-in-order}).
     */
    Row prefillAttention(int tokens, int heads, int kvHeads, int headDim, String kernel, boolean longestFirst) {
        boolean tensor = !kernel.equals("blockSparse"), rounded = kernel.equals("blockSparseTensorRounded");
        int stride = heads * headDim, kvRow = 2 * kvHeads * headDim;
        F32Buffer q = gaussian((long) tokens * stride), kv = gaussian((long) tokens * kvRow), out = F32Buffer.allocate(arena, (long) tokens * stride);
        I32Buffer bands = I32Buffer.allocate(arena, heads);
        for (int h = 0; h < heads; h++) bands.set(h, tokens); // every block: dense
        float scale = (float) (1 / Math.sqrt(headDim));
        int queries = tensor ? 64 : dev.moa.tasks.kernels.PrefillKernels.QUERIES, groups = (tokens + queries - 1) / queries;
        int[] order = new int[groups * heads];
        for (int k = 0; k < order.length; k++) order[k] = k % groups * heads + k / groups; // head by head, its query groups in order
        if (longestFirst) {
            int[] dense = new int[heads];
            java.util.Arrays.fill(dense, tokens);
            order = dev.moa.tasks.kernels.PrefillKernels.longestFirst(0, tokens, tokens, heads, dense, queries);
        }
        I32Buffer schedule = I32Buffer.of(arena, order);
        var grid = tensor ? dev.moa.tasks.kernels.PrefillKernels.tensorGrid(tokens, heads, headDim) : dev.moa.tasks.kernels.PrefillKernels.grid(tokens, heads);
        DeviceMemory dout = device(out);
        dout.fill(NAN_BYTE);
        DeviceMemory dkv = device(kv);
        Object[] args = tensor
                ? new Object[] {device(q), split(dkv, kv.length(), tokens, kvRow), dev.moa.tasks.kernels.PrefillKernels.splitPart(tokens, kvRow), dout,
                        device(bands), device(schedule), 0, 0, tokens, tokens, heads, kvHeads, headDim, stride, scale}
                : new Object[] {device(q), dkv, dout, device(bands), device(schedule), 0, 0, tokens, tokens, heads, kvHeads, headDim, stride, scale};
        CudaFunction f = ourKernel(dev.moa.tasks.kernels.PrefillKernels.class, kernel, args);
        Dim3 launchGrid = Dim3.of(grid.groupsX(), grid.groupsY()), block = Dim3.of(grid.groupSize());
        double micros = time(new Launch(f, launchGrid, block, grid.sharedBytes(), args));
        // each checked query row and head against a plain double-precision computation
        int[] rowsChecked = java.util.stream.IntStream.of(0, Math.min(tokens - 1, tokens / 2 + 3), tokens - 1).distinct().toArray(); // first, middle, last blocks
        int[] headsChecked = {0, heads - 1};
        double[][][] expected = new double[rowsChecked.length][headsChecked.length][headDim];
        for (int ri = 0; ri < rowsChecked.length; ri++) {
            int i = rowsChecked[ri];
            for (int hi = 0; hi < headsChecked.length; hi++) {
                int h = headsChecked[hi], g = h / (heads / kvHeads);
                double[] p = new double[tokens];
                double max = Double.NEGATIVE_INFINITY, total = 0;
                for (int j = 0; j <= i; j++) {
                    double dot = 0;
                    for (int d = 0; d < headDim; d++) {
                        dot += bf16(q.get((long) i * stride + h * headDim + d), rounded) * bf16(kv.get((long) j * kvRow + g * headDim + d), rounded);
                    }
                    p[j] = dot * scale;
                    max = Math.max(max, p[j]);
                }
                for (int j = 0; j <= i; j++) total += p[j] = Math.exp(p[j] - max);
                for (int d = 0; d < headDim; d++) {
                    double o = 0;
                    for (int j = 0; j <= i; j++) o += p[j] * bf16(kv.get((long) j * kvRow + (kvHeads + g) * headDim + d), rounded);
                    expected[ri][hi][d] = o / total;
                }
            }
        }
        java.util.function.DoubleSupplier check = () -> {
            dout.copyTo(out.memory());
            double worst = 0;
            for (int ri = 0; ri < rowsChecked.length; ri++) {
                for (int hi = 0; hi < headsChecked.length; hi++) {
                    for (int d = 0; d < headDim; d++) {
                        long at = (long) rowsChecked[ri] * stride + headsChecked[hi] * headDim + d;
                        worst = Math.max(worst, Math.abs(expected[ri][hi][d] - out.get(at)));
                    }
                }
            }
            return worst;
        };
        double error = check.getAsDouble();
        // nvcc's build of the split tensor-core kernel (scripts/kernel-gap/reference.cu), on the same arguments
        double referenceMicros = Double.NaN, referenceError = Double.NaN;
        if (reference != null && kernel.equals("blockSparseTensor") && longestFirst) {
            dout.fill(NAN_BYTE);
            referenceMicros = time(new Launch(reference.function("prefill_attention_tensor"), launchGrid, block, grid.sharedBytes(), args));
            referenceError = check.getAsDouble();
        }
        long flops = 4L * headDim * heads * ((long) tokens * (tokens + 1) / 2); // scores and weighted values over the causal half
        String name = switch (kernel) {
            case "blockSparse" -> "prefill-attention";
            case "blockSparseTensor" -> longestFirst ? "prefill-attn-tensor" : "prefill-attn-tensor-in-order";
            default -> "prefill-attn-rounded";
        };
        return new Row(name, tokens + " tokens", micros, referenceMicros, 0, error, flops, referenceError);
    }

    /** {@code x} as a double, rounded to BF16 first where {@code rounded}. */
    private static double bf16(float x, boolean rounded) {
        return rounded ? KernelContext.bf16ToFloat(KernelContext.floatToBf16(x)) : x;
    }

    /** About half a second of matvecs, so that the clocks have left idle before anything is timed. */
    private void warmUp() {
        int rows = 16384, cols = 4096;
        DeviceMemory w = context.allocate((long) rows * cols * 2), x = context.allocate(cols * 4L), out = context.allocate(rows * 4L);
        allocated.addAll(List.of(w, x, out));
        w.fill((byte) 0);
        x.fill((byte) 0);
        CudaFunction f = ourKernel(MatVecKernels.class, "bf16", w, x, out, rows, cols);
        Dim3 grid = Dim3.of((rows + MatVecKernels.ROWS_PER_GROUP - 1) / MatVecKernels.ROWS_PER_GROUP), block = Dim3.of(MatVecKernels.GROUP);
        try (CudaStream stream = context.createStream()) {
            long until = System.nanoTime() + 500_000_000L;
            while (System.nanoTime() < until) {
                for (int i = 0; i < 100; i++) f.launch(grid, block, 0, stream, w, x, out, rows, cols);
                stream.synchronize();
            }
        }
    }

    /**
     * Dense spans over a per-head cache of {@code span} slots per KV head, the query at the last position; the cache
     * in BF16 when {@code bf16} (the reference then reads the rounded keys and values).
     */
    Row attention(int heads, int kvHeads, int headDim, int span, boolean grouped, boolean bf16) {
        return attention(heads, kvHeads, headDim, span, grouped, bf16, null);
    }

    /**
     * As above, the grouped kernel timed against nvcc's entry {@code referenceEntry} instead of its generic build
     * ({@code attention_grouped_d128} / {@code _1b}: head_dim 128 / 64 and four heads per group fixed at compile time,
     * as our variant fixes them; only for those shapes).
     */
    Row attention(int heads, int kvHeads, int headDim, int span, boolean grouped, boolean bf16, String referenceEntry) {
        if (referenceEntry != null && !(grouped && fitsFixedShape(referenceEntry, heads, kvHeads, headDim))) {
            throw new IllegalArgumentException(referenceEntry + " is built for head_dim " + fixedHeadDim(referenceEntry) + " and four heads per group");
        }
        return attention(heads, kvHeads, headDim, span, grouped ? "decodeGrouped" : "decodeSplit", bf16, referenceEntry);
    }

    /** The head_dim an nvcc attention entry fixes at compile time ({@code _d128}: 128, {@code _1b}: Llama-3.2-1B's 64), or -1. */
    static int fixedHeadDim(String entry) {
        return entry.endsWith("_d128") ? 128 : entry.endsWith("_1b") ? 64 : -1;
    }

    private static boolean fitsFixedShape(String entry, int heads, int kvHeads, int headDim) {
        return headDim == fixedHeadDim(entry) && heads / kvHeads == 4;
    }

    /**
     * The grouped kernel with its keys and values staged in shared memory ({@link AttentionKernels#decodeStaged}), on the
     * same inputs and checked the same way, against nvcc's build of the same algorithm ({@code attention_staged}, F32
     * caches).
     */
    Row stagedAttention(int heads, int kvHeads, int headDim, int span, boolean bf16) {
        return stagedAttention(heads, kvHeads, headDim, span, bf16, null);
    }

    /**
     * As above, against nvcc's entry {@code referenceEntry} ({@code attention_staged_d128} / {@code _1b}: head_dim 128 /
     * 64, four heads per group).
     */
    Row stagedAttention(int heads, int kvHeads, int headDim, int span, boolean bf16, String referenceEntry) {
        if (!AttentionKernels.staged(headDim, bf16 ? KvStore.BF16 : KvStore.F32)) {
            throw new IllegalArgumentException("decodeStaged does not take head_dim " + headDim + (bf16 ? " in BF16" : ""));
        }
        if (referenceEntry != null && !fitsFixedShape(referenceEntry, heads, kvHeads, headDim)) {
            throw new IllegalArgumentException(referenceEntry + " is built for head_dim " + fixedHeadDim(referenceEntry) + " and four heads per group");
        }
        return attention(heads, kvHeads, headDim, span, "decodeStaged", bf16, referenceEntry);
    }

    private Row attention(int heads, int kvHeads, int headDim, int span, String kernel, boolean bf16, String referenceEntry) {
        boolean grouped = !kernel.equals("decodeSplit");
        int slots = kvHeads * span, position = span - 1, splits = AttentionKernels.splits(span, grouped);
        F32Buffer q = gaussian(heads * headDim), keys = gaussian((long) slots * headDim), values = gaussian((long) slots * headDim);
        Half16Buffer keys16 = Half16Buffer.allocate(arena, bf16 ? (long) slots * headDim : 8), values16 = Half16Buffer.allocate(arena, keys16.length());
        if (bf16) {
            for (long i = 0; i < (long) slots * headDim; i++) {
                keys16.set(i, KernelContext.floatToBf16(keys.get(i)));
                values16.set(i, KernelContext.floatToBf16(values.get(i)));
                keys.set(i, KvStore.round(keys.get(i)));
                values.set(i, KvStore.round(values.get(i)));
            }
        }
        I32Buffer positions = I32Buffer.allocate(arena, slots), offsets = I32Buffer.allocate(arena, kvHeads),
                rings = I32Buffer.allocate(arena, kvHeads), sink = I32Buffer.allocate(arena, heads), local = I32Buffer.allocate(arena, heads);
        for (int s = 0; s < slots; s++) positions.set(s, s % span);
        for (int g = 0; g < kvHeads; g++) {
            offsets.set(g, g * span);
            rings.set(g, span); // no sink slots: the whole span is ring
        }
        for (int h = 0; h < heads; h++) {
            sink.set(h, 0);
            local.set(h, span + 1); // every stored position is visible: dense attention
        }
        F32Buffer partialOut = F32Buffer.allocate(arena, (long) heads * splits * headDim), partialMax = F32Buffer.allocate(arena, (long) heads * splits),
                partialSum = F32Buffer.allocate(arena, (long) heads * splits), out = F32Buffer.allocate(arena, (long) heads * headDim);
        float scale = (float) (1 / Math.sqrt(headDim));
        // the kernels' arguments: nvcc's build takes the same lists (it reads F32 caches only, so it runs where !bf16)
        DeviceMemory dq = device(q), dkeys = device(bf16 ? F32Buffer.allocate(arena, 4) : keys), dvalues = device(bf16 ? F32Buffer.allocate(arena, 4) : values);
        DeviceMemory dPositions = device(positions), dOffsets = device(offsets), dRings = device(rings), dSink = device(sink), dLocal = device(local);
        DeviceMemory dPartialOut = device(partialOut), dPartialMax = device(partialMax), dPartialSum = device(partialSum);
        DeviceMemory dStep = device(I32Buffer.of(arena, 0, position)), dSinkSlots = device(I32Buffer.of(arena, 0));
        DeviceMemory k16 = device(keys16), v16 = device(values16), dout = device(out), dArrivals = device(I32Buffer.allocate(arena, kvHeads));
        int format = bf16 ? KvStore.BF16 : KvStore.F32;
        Object[] splitArgs = {dq, dkeys, dvalues, k16, v16, dPositions, dOffsets, dRings, dSink, dLocal, dPartialOut, dPartialMax, dPartialSum,
                dStep, dSinkSlots, heads, kvHeads, headDim, scale, format};
        Object[] combineArgs = {dPartialOut, dPartialMax, dPartialSum, dout, splits, headDim};
        Dim3 splitGrid = Dim3.of(heads, splits), block = Dim3.of(AttentionKernels.GROUP), combineGrid = Dim3.of(heads);
        Object[] groupedArgs = {dq, dkeys, dvalues, k16, v16, dPositions, dOffsets, dRings, dSink, dLocal, dPartialOut, dPartialMax, dPartialSum,
                dArrivals, dout, dStep, dSinkSlots, heads, kvHeads, headDim, scale, format};
        Dim3 groupedGrid = Dim3.of(kvHeads, splits), groupedBlock = Dim3.of(AttentionKernels.GROUPED);
        Runnable poison = () -> { // before each build runs: nothing left by the other may stand in for what this one did not write
            for (DeviceMemory m : List.of(dPartialOut, dPartialMax, dPartialSum, dout)) m.fill(NAN_BYTE);
            dArrivals.fillInts(0);
        };
        poison.run();
        boolean staged = kernel.equals("decodeStaged");
        int groupedShared = staged ? AttentionKernels.stagedSharedBytes(heads / kvHeads, headDim, format) : 0;
        double micros = grouped // the grouped kernels merge their splits themselves
                ? time(new Launch(ourKernel(AttentionKernels.class, kernel, groupedArgs), groupedGrid, groupedBlock, groupedShared, groupedArgs))
                : time(ours(AttentionKernels.class, "decodeSplit", splitGrid, block, splitArgs),
                        ours(AttentionKernels.class, "combine", combineGrid, block, combineArgs));
        double[] expected = new double[heads * headDim];
        for (int h = 0; h < heads; h++) {
            int g = h / (heads / kvHeads);
            double[] scores = new double[span];
            double max = Double.NEGATIVE_INFINITY, total = 0;
            for (int s = 0; s < span; s++) {
                double dot = 0;
                for (int d = 0; d < headDim; d++) dot += q.get((long) h * headDim + d) * (double) keys.get(((long) g * span + s) * headDim + d);
                scores[s] = dot * scale;
                max = Math.max(max, scores[s]);
            }
            for (int s = 0; s < span; s++) total += scores[s] = Math.exp(scores[s] - max);
            for (int d = 0; d < headDim; d++) {
                double acc = 0;
                for (int s = 0; s < span; s++) acc += scores[s] * values.get(((long) g * span + s) * headDim + d);
                expected[h * headDim + d] = acc / total;
            }
        }
        java.util.function.DoubleSupplier error = () -> {
            dout.copyTo(out.memory());
            double largest = 0;
            for (int i = 0; i < expected.length; i++) largest = Math.max(largest, Math.abs(expected[i] - out.get(i)));
            return largest;
        };
        double ourError = error.getAsDouble(), referenceMicros = Double.NaN, referenceError = Double.NaN;
        if (reference != null && !bf16) {
            poison.run();
            String entry = referenceEntry != null ? referenceEntry : staged ? "attention_staged" : "attention_grouped";
            referenceMicros = grouped
                    ? time(new Launch(reference.function(entry), groupedGrid, groupedBlock, groupedShared, groupedArgs))
                    : time(new Launch(reference.function("attention_split"), splitGrid, block, splitArgs),
                            new Launch(reference.function("attention_combine"), combineGrid, block, combineArgs));
            referenceError = error.getAsDouble();
        }
        long bytes = 2L * slots * headDim * (bf16 ? 2 : 4) + (long) slots * 4; // keys, values and slot positions
        String name = switch (kernel) {
            case "decodeStaged" -> "attention-staged";
            case "decodeGrouped" -> "attention-grouped";
            default -> "attention";
        } + (bf16 ? " bf16" : "") + (referenceEntry == null ? "" : " vs " + referenceEntry.substring(referenceEntry.lastIndexOf('_') + 1));
        String shape = (headDim == 128 && heads == 32 && kvHeads == 8 ? "" : heads + "/" + kvHeads + " heads, d " + headDim + ", ") + "span " + span;
        return new Row(name, shape, micros, referenceMicros, bytes, ourError, 0, referenceError);
    }

    private record Launch(CudaFunction function, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        Launch(CudaFunction function, Dim3 grid, Dim3 block, Object... args) {
            this(function, grid, block, 0, args);
        }
    }

    /**
     * A decode step's choice of the next token over {@code rows} rows of {@code vocab} logits (bench sampling's): the
     * argmax, then for a sampled setting the draw ({@code SamplingKernels.sample} and {@code sampleWide}), as a step's graph runs them; the
     * error is the share of rows whose token is not the host sampler's for the same logits and uniform.
     */
    Row draw(int rows, int vocab, dev.moa.runtime.generate.SamplingParams params) {
        float[] row = SamplingBenchmark.logits(vocab, new Random(3));
        F32Buffer logits = F32Buffer.allocate(arena, (long) rows * vocab);
        for (int b = 0; b < rows; b++) java.lang.foreign.MemorySegment.copy(row, 0, logits.memory(), java.lang.foreign.ValueLayout.JAVA_FLOAT, (long) b * vocab * 4, vocab);
        int chunks = VectorKernels.ARGMAX_CHUNKS;
        I32Buffer chosen = I32Buffer.allocate(arena, 2L * rows), draws = I32Buffer.allocate(arena, (long) rows * SamplingKernels.DRAW_SIZE);
        var sampler = new dev.moa.runtime.generate.Sampler(params);
        int[] uniforms = new int[rows];
        for (int b = 0; b < rows && !params.isGreedy(); b++) {
            uniforms[b] = sampler.uniform();
            SamplingKernels.setDraw(draws, b, (float) params.temperature(), params.topK(), (float) params.topP(), uniforms[b]);
        }
        DeviceMemory dl = device(logits), dc = device(chosen), dd = device(draws);
        DeviceMemory values = device(F32Buffer.allocate(arena, (long) rows * chunks)), ints = device(I32Buffer.allocate(arena, 2L * rows * chunks));
        DeviceMemory arrivals = device(I32Buffer.allocate(arena, rows)); // (zero, as the argmax leaves it)
        Launch argmax = ours(VectorKernels.class, "argmax", dev.moa.tasks.emulator.Grid.of(chunks, rows, VectorKernels.ROW_GROUP), dl, values, ints,
                arrivals, dc, vocab);
        Launch sample = ours(SamplingKernels.class, "sample", dev.moa.tasks.emulator.Grid.of(rows, SamplingKernels.GROUP), dl, dd, dc, vocab);
        Launch wide = ours(SamplingKernels.class, "sampleWide", dev.moa.tasks.emulator.Grid.of(rows, SamplingKernels.WIDE), dl, dd, dc, vocab);
        double micros = params.isGreedy() ? time(argmax) : time(argmax, sample, wide);
        dc.copyTo(chosen.memory());
        int wrong = 0;
        for (int b = 0; b < rows; b++) {
            int expected = params.isGreedy() ? dev.moa.runtime.generate.Sampler.argmax(row) : sampler.sample(row, uniforms[b]);
            if (chosen.get(2L * b) != expected) wrong++;
        }
        return new Row(params.isGreedy() ? "argmax" : "argmax+sample", rows + "x" + vocab + " " + SamplingBenchmark.name(params), micros, Double.NaN,
                (long) rows * vocab * Float.BYTES, (double) wrong / rows, 0);
    }

    /**
     * Microseconds per round of {@code launches}, averaged over {@value #LAUNCHES} rounds after {@value #WARMUP} (by default);
     * each kernel allowed its launch's dynamic shared memory first, as the CUDA backend does.
     */
    private double time(Launch... launches) {
        for (Launch l : launches) l.function().allowDynamicShared(l.sharedBytes());
        try (CudaStream stream = context.createStream(); CudaEvent start = context.createEvent(); CudaEvent end = context.createEvent()) {
            for (int i = 0; i < warmup; i++) for (Launch l : launches) l.function().launch(l.grid(), l.block(), l.sharedBytes(), stream, l.args());
            start.record(stream);
            for (int i = 0; i < this.launches; i++) for (Launch l : launches) l.function().launch(l.grid(), l.block(), l.sharedBytes(), stream, l.args());
            end.record(stream);
            end.synchronize();
            return CudaEvent.elapsedMillis(start, end) * 1e3 / this.launches;
        }
    }

    /** Our kernel launched with {@code args}: the variant the model's task graph would run for them ({@code @Specialize}). */
    private Launch ours(Class<?> owner, String method, Dim3 grid, Dim3 block, Object... args) {
        return new Launch(ourKernel(owner, method, args), grid, block, args);
    }

    /** Our kernel launched over {@code grid} as the task graph launches it: its groups, their size, its dynamic shared memory. */
    private Launch ours(Class<?> owner, String method, dev.moa.tasks.emulator.Grid grid, Object... args) {
        return new Launch(ourKernel(owner, method, args), Dim3.of(grid.groupsX(), grid.groupsY(), grid.groupsZ()), Dim3.of(grid.groupSize()),
                grid.sharedBytes(), args);
    }

    /** Our kernel's variant for {@code args}, compiled and loaded once per variant (the rows launch the same ones again). */
    private CudaFunction ourKernel(Class<?> owner, String method, Object... args) {
        Specialization fixed = Specialization.of(owner, method, List.of(args));
        return functions.computeIfAbsent(owner.getName() + "#" + method + fixed.key(), k -> {
            PtxCompiler.Kernel kernel = PtxCompiler.compile(owner, method, context.ptxTarget(), fixed);
            CudaModule module = context.loadModule(kernel.ptx());
            modules.add(module);
            return module.function(kernel.entry());
        });
    }

    private DeviceMemory device(DeviceBuffer buffer) {
        DeviceMemory memory = context.allocate(buffer.memory().byteSize());
        memory.copyFrom(buffer.memory());
        allocated.add(memory);
        return memory;
    }

    /** Host copies the product rows share by shape: made once (a 16384 × 2048 matrix is 33 M Gaussians), not per row. */
    private final java.util.Map<String, Object> shared = new java.util.HashMap<>();

    /** Gaussian BF16 weights of {@code rows × cols}, the same for every row timing a product of that shape. */
    private Half16Buffer bf16Weights(int rows, int cols) {
        return (Half16Buffer) shared.computeIfAbsent("w" + rows + "x" + cols, k -> {
            Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
            for (long i = 0; i < w.length(); i++) w.set(i, KernelContext.floatToBf16((float) random.nextGaussian()));
            return w;
        });
    }

    /** {@code n} Gaussian activations, the same for every row of that many. */
    private F32Buffer activations(long n) {
        return (F32Buffer) shared.computeIfAbsent("x" + n, k -> gaussian(n));
    }

    private F32Buffer gaussian(long n) {
        F32Buffer b = F32Buffer.allocate(arena, n);
        for (long i = 0; i < n; i++) b.set(i, (float) random.nextGaussian());
        return b;
    }
}
