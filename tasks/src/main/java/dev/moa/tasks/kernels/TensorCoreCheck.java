package dev.moa.tasks.kernels;

import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.foreign.Arena;
import java.util.Random;

/**
 * Whether a device's tensor cores compute what the emulator and the PTX interpreter assume
 * ({@link dev.moa.tasks.kernel.MatrixFragments}): one warp's tile product ({@link TensorCoreKernels#tile}) on
 * seeded random BF16 tiles, then the prefill GEMM itself ({@link GemmKernels#bf16Tensor}: ldmatrix, cp.async with
 * its zero fill, packBf16 and mma together, partial tiles, three double-buffered steps), then the prefill attention
 * ({@link PrefillKernels#splitKeysValues} and {@link PrefillKernels#blockSparseTensor}: ldmatrix's transposed form,
 * copies past the prompt and the padded dims zero-filled), each against a plain computation. Run once per device
 * before a kernel relies on them; on a mismatch the callers fall back to FFMA kernels.
 */
public final class TensorCoreCheck {
    private TensorCoreCheck() {
    }

    /** Elements that differ from the plain computation: of the tile's 128, the GEMM's and the attention's (0: the device agrees). */
    public static int wrongElements(Backend backend) {
        return wrongTileElements(backend) + wrongGemmElements(backend) + wrongAttentionElements(backend);
    }

    /** The number of the 128 elements of D that differ from the plain product (0: the layout holds). */
    static int wrongTileElements(Backend backend) {
        Random random = new Random(7);
        try (Arena arena = Arena.ofShared()) {
            Half16Buffer a = Half16Buffer.allocate(arena, 256), b = Half16Buffer.allocate(arena, 128);
            for (int i = 0; i < 256; i++) a.set(i, KernelContext.floatToBf16((float) random.nextGaussian()));
            for (int i = 0; i < 128; i++) b.set(i, KernelContext.floatToBf16((float) random.nextGaussian()));
            F32Buffer c = F32Buffer.allocate(arena, 128), d = F32Buffer.allocate(arena, 128);
            for (int i = 0; i < 128; i++) c.set(i, (float) random.nextGaussian());
            TaskGraph graph = new TaskGraph().task("tensor-core tile", TensorCoreKernels.class, "tile", Grid.of(1, 32), a, b, c, d);
            try {
                backend.runOnce(graph);
                backend.download(d);
            } finally {
                for (var buffer : new dev.moa.tasks.kernel.DeviceBuffer[] {a, b, c, d}) backend.free(buffer);
            }
            int wrong = 0;
            for (int r = 0; r < 16; r++) {
                for (int n = 0; n < 8; n++) {
                    double expected = c.get(r * 8 + n);
                    for (int k = 0; k < 16; k++) expected += (double) KernelContext.bf16ToFloat(a.get(r * 16 + k)) * KernelContext.bf16ToFloat(b.get(n * 16 + k));
                    if (Math.abs(expected - d.get(r * 8 + n)) > 1e-4 * Math.max(1, Math.abs(expected))) wrong++;
                }
            }
            return wrong;
        }
    }

    /**
     * A 70-token × 72-row × 88-column product on the tensor cores (two tiles each way, the second ragged; three steps,
     * the last of 24 columns) against the plain loop.
     */
    static int wrongGemmElements(Backend backend) {
        int tokens = 70, rows = 72, cols = 88;
        Random random = new Random(11);
        try (Arena arena = Arena.ofShared()) {
            Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
            F32Buffer x = F32Buffer.allocate(arena, (long) tokens * cols), bias = F32Buffer.allocate(arena, rows), out = F32Buffer.allocate(arena, (long) tokens * rows);
            for (long i = 0; i < w.length(); i++) w.set(i, KernelContext.floatToBf16((float) random.nextGaussian()));
            for (long i = 0; i < x.length(); i++) x.set(i, (float) random.nextGaussian());
            TaskGraph graph = new TaskGraph().task("tensor-core GEMM", GemmKernels.class, "bf16Tensor", GemmKernels.tensorGrid(tokens, rows), w, x, bias,
                    out, tokens, rows, cols, 0);
            try {
                backend.runOnce(graph);
                backend.download(out);
            } finally {
                for (var buffer : new dev.moa.tasks.kernel.DeviceBuffer[] {w, x, bias, out}) backend.free(buffer);
            }
            int wrong = 0;
            for (int t = 0; t < tokens; t++) {
                for (int r = 0; r < rows; r++) {
                    double expected = 0, magnitude = 0;
                    for (int c = 0; c < cols; c++) {
                        double p = x.get((long) t * cols + c) * (double) KernelContext.bf16ToFloat(w.get((long) r * cols + c));
                        expected += p;
                        magnitude += Math.abs(p);
                    }
                    if (Math.abs(expected - out.get((long) t * rows + r)) > 1e-4 * Math.max(1, magnitude)) wrong++;
                }
            }
            return wrong;
        }
    }

    /**
     * A 100-token prompt's causal attention (two query blocks, the second partial; two heads over one KV head of 24
     * dims, padded to 32) on the tensor cores, keys and values split on the device first, against a double-precision
     * softmax over every earlier key: the outputs that differ by more than 1e-4.
     */
    static int wrongAttentionElements(Backend backend) {
        int tokens = 100, heads = 2, kvHeads = 1, headDim = 24, stride = heads * headDim, kvRow = 2 * kvHeads * headDim;
        float scale = (float) (1 / Math.sqrt(headDim));
        Random random = new Random(13);
        try (Arena arena = Arena.ofShared()) {
            F32Buffer q = F32Buffer.allocate(arena, (long) tokens * stride), kv = F32Buffer.allocate(arena, (long) tokens * kvRow);
            F32Buffer out = F32Buffer.allocate(arena, (long) tokens * stride);
            for (long i = 0; i < q.length(); i++) q.set(i, (float) random.nextGaussian());
            for (long i = 0; i < kv.length(); i++) kv.set(i, (float) random.nextGaussian());
            long part = PrefillKernels.splitPart(tokens, kvRow);
            Half16Buffer kv16 = Half16Buffer.allocate(arena, 2 * part);
            I32Buffer bands = I32Buffer.of(arena, tokens, tokens); // every block: dense
            I32Buffer schedule = I32Buffer.of(arena, PrefillKernels.longestFirst(0, tokens, tokens, heads, new int[] {tokens, tokens}));
            TaskGraph graph = new TaskGraph()
                    .task("split keys/values", PrefillKernels.class, "splitKeysValues", Grid.covering((long) tokens * kvRow, PrefillKernels.GROUP), kv, kv16,
                            part, 0L, tokens * kvRow)
                    .task("tensor-core attention", PrefillKernels.class, "blockSparseTensor", PrefillKernels.tensorGrid(tokens, heads, headDim), q, kv16, part,
                            out, bands, schedule, 0, 0, tokens, tokens, heads, kvHeads, headDim, stride, scale);
            try {
                backend.runOnce(graph);
                backend.download(out);
            } finally {
                for (var buffer : new dev.moa.tasks.kernel.DeviceBuffer[] {q, kv, kv16, bands, schedule, out}) backend.free(buffer);
            }
            int wrong = 0;
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < tokens; i++) {
                    double[] p = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY, total = 0;
                    for (int j = 0; j <= i; j++) {
                        double dot = 0;
                        for (int d = 0; d < headDim; d++) dot += q.get((long) i * stride + h * headDim + d) * (double) kv.get((long) j * kvRow + d);
                        p[j] = dot * scale;
                        max = Math.max(max, p[j]);
                    }
                    for (int j = 0; j <= i; j++) total += p[j] = Math.exp(p[j] - max);
                    for (int d = 0; d < headDim; d++) {
                        double expected = 0;
                        for (int j = 0; j <= i; j++) expected += p[j] * kv.get((long) j * kvRow + kvHeads * headDim + d);
                        expected /= total;
                        if (Math.abs(expected - out.get((long) i * stride + h * headDim + d)) > 1e-4 * Math.max(1, Math.abs(expected))) wrong++;
                    }
                }
            }
            return wrong;
        }
    }
}
