package dev.moa.runtime.device;

import dev.moa.tasks.cpu.WeightFormat;
import dev.moa.tasks.cpu.WeightMatrix;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.DeviceBuffer;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernels.GemmKernels;
import dev.moa.tasks.kernels.MatVecKernels;
import dev.moa.tasks.kernels.NormedMatVecKernels;
import dev.moa.tasks.kernels.PipelinedGemm;
import dev.moa.tasks.kernels.VectorKernels;
import dev.moa.tasks.emulator.Grid;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A weight matrix as the device holds it: its stored format (BF16, F16 or F32, never converted when the parts
 * agree), {@code rows × cols} row-major. Several matrices with the same columns can be one (q/k/v, gate/up): their
 * rows one after another, so one launch computes all their outputs.
 */
record DeviceMatrix(DeviceBuffer data, WeightFormat format, int rows, int cols) {

    /** The parts' rows stacked: the stored bytes as they are for one part, one copy for several; F32 if formats differ. */
    static DeviceMatrix stack(Arena arena, WeightMatrix... parts) {
        int cols = parts[0].cols();
        long rows = 0;
        boolean sameFormat = true;
        for (WeightMatrix m : parts) {
            if (m.cols() != cols) throw new IllegalArgumentException("stacked matrices need equal columns: " + cols + " and " + m.cols());
            rows += m.rows();
            sameFormat &= m.format() == parts[0].format();
        }
        if (rows > Integer.MAX_VALUE) throw new IllegalArgumentException(rows + " stacked rows are more than a launch covers");
        WeightFormat format = sameFormat ? parts[0].format() : WeightFormat.F32;
        MemorySegment bytes;
        if (parts.length == 1 && sameFormat) {
            bytes = parts[0].data();
        } else {
            bytes = arena.allocate(rows * cols * format.byteSize(), 16);
            long at = 0;
            for (WeightMatrix m : parts) {
                if (sameFormat) {
                    MemorySegment.copy(m.data(), 0, bytes, at, m.byteSize());
                    at += m.byteSize();
                } else {
                    // mixed formats (rare: a checkpoint saved piecemeal) are widened once, exactly
                    for (int r = 0; r < m.rows(); r++) {
                        for (int c = 0; c < cols; c++, at += 4) bytes.set(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at, m.get(r, c));
                    }
                }
            }
        }
        DeviceBuffer data = format == WeightFormat.F32 ? new F32Buffer(bytes) : new Half16Buffer(bytes);
        return new DeviceMatrix(data, format, (int) rows, cols);
    }

    /**
     * Appends {@code out (+)= this · x (+ bias)} for {@code batch} activation rows: the matvec kernel of this format
     * with the given epilogue for one row, the batched one (each weight read once for up to four rows) for more.
     */
    void multiply(TaskGraph graph, String name, F32Buffer x, F32Buffer bias, F32Buffer out, int epilogue, int batch) {
        multiply(graph, name, x, bias, out, epilogue, batch, true);
    }

    /**
     * As {@link #multiply(TaskGraph, String, F32Buffer, F32Buffer, F32Buffer, int, int)}; with {@code shareRows}, a
     * product over 16-bit weights shares each row's columns among warps where it has few rows
     * ({@link MatVecKernels#parts}, {@link MatVecKernels#batchParts}), else a warp a row (and pass of four rows of x),
     * and asks the L2 for the whole matrix before it waits where it is small ({@link #prefetch}).
     */
    void multiply(TaskGraph graph, String name, F32Buffer x, F32Buffer bias, F32Buffer out, int epilogue, int batch, boolean shareRows) {
        if (batch == 1 && format == WeightFormat.F32) {
            graph.task(name, MatVecKernels.class, "f32Into", MatVecKernels.grid(rows), data, x, bias, out, rows, cols, epilogue);
        } else if (batch == 1) {
            int parts = shareRows ? MatVecKernels.parts(rows, cols) : 1;
            graph.task(name, MatVecKernels.class, format == WeightFormat.F16 ? "f16Into" : "bf16Into", MatVecKernels.grid(rows, parts), data, x, bias,
                    out, rows, cols, epilogue | prefetch(shareRows), parts);
        } else if (format == WeightFormat.F32) {
            graph.task(name, MatVecKernels.class, "f32BatchInto", MatVecKernels.batchGrid(rows, batch), data, x, bias, out, rows, cols, batch, epilogue);
        } else {
            int parts = shareRows ? MatVecKernels.batchParts(rows, cols, batch) : 1;
            graph.task(name, MatVecKernels.class, "halfBatchInto", MatVecKernels.batchGrid(rows, batch, parts), data, x, bias, out, rows, cols, batch,
                    epilogue | prefetch(shareRows), format == WeightFormat.F16 ? 1 : 0, parts);
        }
    }

    /**
     * {@link MatVecKernels#PREFETCH_WHOLE} where this matrix is small enough to be asked of the L2 whole before its
     * matvec waits for the kernel before ({@link MatVecKernels#prefetchesWhole}), with the rows shared: the matvecs as
     * they were before both (a warp a row, the first kilobyte of each row) otherwise.
     */
    private int prefetch(boolean shareRows) {
        return shareRows && MatVecKernels.prefetchesWhole(rows, cols) ? MatVecKernels.PREFETCH_WHOLE : 0;
    }

    /** Whether the weights are 16-bit (BF16 or F16): what the normed kernels ({@link NormedMatVecKernels}) read. */
    boolean half() {
        return format != WeightFormat.F32;
    }

    /** The normed kernels' format flag: 1 for IEEE half, 0 for BF16. */
    int ieee() {
        return format == WeightFormat.F16 ? 1 : 0;
    }

    /**
     * Appends {@code out = RMSNorm(x)·norm · this (+ bias)} for one activation row, the norm applied inside the matvec
     * ({@link NormedMatVecKernels#half}); with {@link NormedMatVecKernels#GLU}, this stacks gate and up and {@code out}
     * gets {@code silu(gate)·up}. Needs 16-bit weights ({@link #half()}).
     */
    void multiplyNormed(TaskGraph graph, String name, F32Buffer x, F32Buffer norm, float eps, F32Buffer bias, F32Buffer out, int epilogue) {
        multiplyNormed(graph, name, x, norm, eps, bias, out, epilogue, true);
    }

    /**
     * As {@link #multiplyNormed(TaskGraph, String, F32Buffer, F32Buffer, float, F32Buffer, F32Buffer, int)}; with
     * {@code shareRows}, each row pair's columns are shared among warps where the pairs are few ({@link NormedMatVecKernels#parts}).
     */
    void multiplyNormed(TaskGraph graph, String name, F32Buffer x, F32Buffer norm, float eps, F32Buffer bias, F32Buffer out, int epilogue,
                        boolean shareRows) {
        if (!half()) throw new IllegalStateException("the normed matvec reads 16-bit weights, not " + format);
        int pairs = NormedMatVecKernels.pairs(rows, epilogue), parts = shareRows ? NormedMatVecKernels.parts(pairs, cols) : 1;
        graph.task(name, NormedMatVecKernels.class, "half", NormedMatVecKernels.grid(pairs, parts), data, x, norm, bias, out, rows, cols, eps, epilogue,
                ieee(), parts);
    }

    /**
     * Appends {@code out (+)= x · thisᵀ (+ bias)} for {@code tokens} rows of {@code x} (a prompt, or a batched decode
     * step's sessions): the GEMM with {@link MatVecKernels}' epilogue flags, on the tensor cores for BF16 weights as
     * {@code products} says ({@link GemmKernels#bf16Tensor}, or {@link GemmKernels#bf16TensorLarge} where its tiles fill
     * the GPU: the same bits; their {@code Rounded} forms for {@link TensorProducts#ROUNDED}), FFMA tiles for F16 and for
     * widths the tensor kernels do not take ({@link GemmKernels#half},
     * {@link GemmKernels#tensorTakes}). With a
     * {@code partial} buffer of {@link #partialFloats}{@code (tokens)} floats, a product of too few tiles to fill the
     * GPU is split over its columns ({@link GemmKernels#bf16TensorSplit}, then {@link GemmKernels#sumSplits}). F32
     * weights take the FFMA tiles too ({@link GemmKernels#f32}; {@code none}: any 16-bit buffer, which it never reads).
     */
    void multiplyTokens(TaskGraph graph, String name, F32Buffer x, F32Buffer bias, F32Buffer out, int epilogue, int tokens, TensorProducts products,
                        F32Buffer partial, Half16Buffer none) {
        if (!half()) {
            graph.task(name, GemmKernels.class, "f32", GemmKernels.grid(tokens, rows), data, none, x, bias, out, tokens, rows, cols, epilogue);
            return;
        }
        if (products.tensorCores() && format == WeightFormat.BF16 && GemmKernels.tensorTakes(cols)) { // the tensor cores take BF16 rows, 16-byte aligned
            String rounded = products == TensorProducts.ROUNDED ? "Rounded" : "";
            if (partial != null && !rounded.isEmpty()) throw new IllegalArgumentException("column splits take split activations only");
            int splits = partial == null ? 1 : GemmKernels.splits(tokens, rows, cols);
            if (splits > 1) {
                graph.task(name + " (split)", GemmKernels.class, "bf16TensorSplit", GemmKernels.tensorSplitGrid(tokens, rows, splits), data, x, partial,
                        tokens, rows, cols, GemmKernels.splitCols(cols, splits));
                graph.task(name, GemmKernels.class, "sumSplits", GemmKernels.sumGrid(tokens, rows), partial, bias, out, tokens, rows, splits, epilogue);
                return;
            }
            if (GemmKernels.large(tokens, rows)) { // enough 128 x 128 tiles to fill the GPU: the same bits, half the instructions a product
                graph.task(name, GemmKernels.class, "bf16TensorLarge" + rounded, GemmKernels.largeGrid(tokens, rows), data, x, bias, out, tokens, rows,
                        cols, epilogue);
            } else {
                graph.task(name, GemmKernels.class, "bf16Tensor" + rounded, GemmKernels.tensorGrid(tokens, rows), data, x, bias, out, tokens, rows, cols,
                        epilogue);
            }
            return;
        }
        graph.task(name, GemmKernels.class, "half", GemmKernels.grid(tokens, rows), data, x, bias, out, tokens, rows, cols, epilogue, ieee());
    }

    /** Whether {@link #multiplyParts} takes this matrix: BF16 rows of whole 16-byte pieces ({@link PipelinedGemm#takes}). */
    boolean takesParts() {
        return format == WeightFormat.BF16 && PipelinedGemm.takes(cols);
    }

    /**
     * Appends {@code out (+)= x · thisᵀ (+ bias)} for {@code tokens} rows of activations already in BF16 parts (a
     * prompt's chunk, a batched decode step's sessions): where 128 × 128 tiles fill the GPU ({@link GemmKernels#large})
     * {@link PipelinedGemm#large} for split activations, {@link PipelinedGemm#wide} for rounded ones; else
     * {@link PipelinedGemm#tile}, or with a {@code partial} buffer ({@link #partialFloats}) where its tiles are too
     * few, split over the columns ({@link PipelinedGemm#split}, then {@link GemmKernels#sumSplits}) — the bits
     * {@link #multiplyTokens} gives the same activations as floats, with the staging done by the kernel that wrote
     * them. Needs {@link #takesParts}.
     */
    void multiplyParts(TaskGraph graph, String name, ActivationParts x, F32Buffer bias, F32Buffer out, int epilogue, int tokens, F32Buffer partial) {
        if (!takesParts()) throw new IllegalStateException("the pipelined GEMM takes BF16 rows of whole 16-byte pieces, not " + format + " x " + cols);
        int splits = partial == null ? 1 : GemmKernels.splits(tokens, rows, cols);
        if (splits > 1) { // too few tiles to fill the GPU: split over the columns, the splits then added in order
            graph.task(name + " (split)", PipelinedGemm.class, "split", PipelinedGemm.splitGrid(tokens, rows, splits, x.count()), data, x.high(), x.low(),
                    partial, tokens, rows, cols, GemmKernels.splitCols(cols, splits), x.count());
            graph.task(name, GemmKernels.class, "sumSplits", GemmKernels.sumGrid(tokens, rows), partial, bias, out, tokens, rows, splits, epilogue);
        } else {
            String tiles = tiles(tokens, x.count());
            graph.task(name, PipelinedGemm.class, tiles, grid(tiles, tokens, x.count()), data, x.high(), x.low(), bias, out, tokens, rows, cols,
                    x.count(), epilogue);
        }
    }

    /**
     * The pipelined GEMM's entry for {@code tokens} rows of activations in {@code parts} parts: {@code large} where
     * 128 × 128 tiles fill the GPU ({@link GemmKernels#large}) with split activations, {@code wide} there with rounded
     * ones (a bf16 × bf16 product: 64 × 64 warps read a third less shared memory a product), else {@code tile}.
     */
    private String tiles(int tokens, int parts) {
        return !GemmKernels.large(tokens, rows) ? "tile" : parts == 1 ? "wide" : "large";
    }

    /** The launch of {@link #tiles}' entry over this matrix's rows. */
    private Grid grid(String tiles, int tokens, int parts) {
        return switch (tiles) {
            case "tile" -> PipelinedGemm.grid(tokens, rows, parts);
            case "wide" -> PipelinedGemm.wideGrid(tokens, rows, parts);
            default -> PipelinedGemm.largeGrid(tokens, rows, parts);
        };
    }

    /**
     * Appends SwiGLU of this stacked gate/up matrix's product with {@code tokens} rows of {@code x} (the gate's n rows,
     * then the up's), written as {@code out}'s parts — the down product's input — by the product's own epilogue
     * ({@link PipelinedGemm#tileGlu}, {@code largeGlu}, {@code wideGlu}: {@link #tiles}' choice): no
     * float gate/up output, no SwiGLU launch. Where the product is split over its columns ({@code partial}: a batched
     * step's few tokens), the sums are added into {@code gateUp} and SwiGLU follows ({@link ActivationParts#swiGlu}).
     * The bits of {@link #multiplyParts} then SwiGLU either way. Needs {@link #takesParts}.
     */
    void multiplyGlu(TaskGraph graph, String name, ActivationParts x, ActivationParts out, int tokens, F32Buffer partial, F32Buffer gateUp) {
        if (!takesParts()) throw new IllegalStateException("the pipelined GEMM takes BF16 rows of whole 16-byte pieces, not " + format + " x " + cols);
        int splits = partial == null ? 1 : GemmKernels.splits(tokens, rows, cols), parts = x.count();
        if (splits > 1) {
            // (no bias: its argument is not read; the partial sums, which the sum reads anyway, stand in for it)
            multiplyParts(graph, name, x, partial, gateUp, 0, tokens, partial);
            out.swiGlu(graph, name + " swiglu", gateUp, tokens, rows / 2);
        } else {
            String tiles = tiles(tokens, parts);
            graph.task(name, PipelinedGemm.class, tiles + "Glu", grid(tiles, tokens, parts), data, x.high(), x.low(), out.high(), out.low(), tokens, rows,
                    cols, parts);
        }
    }

    /** Floats of the partial sums {@link #multiplyTokens} needs to split a product of {@code tokens} rows on the tensor cores (0: none). */
    long partialFloats(int tokens) {
        int splits = GemmKernels.splits(tokens, rows, cols);
        return splits > 1 ? (long) splits * tokens * rows : 0;
    }

    /** Appends the lookup of each row's token ({@code step[b·Step.SIZE + Step.TOKEN]}) into {@code out} (this is the embedding table). */
    void gather(TaskGraph graph, I32Buffer step, F32Buffer out, int batch) {
        String kernel = switch (format) {
            case BF16 -> "embedBf16";
            case F16 -> "embedF16";
            case F32 -> "embedF32";
        };
        graph.task("embedding", VectorKernels.class, kernel, Grid.of((cols + 255) / 256, batch, 256), data, step, out, cols);
    }
}
