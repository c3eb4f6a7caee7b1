package dev.moa.runtime.device;

import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernels.PipelinedGemm;
import dev.moa.tasks.kernels.VectorKernels;

/**
 * Rows of activations as the BF16 parts the pipelined GEMM reads ({@link PipelinedGemm}; a prompt's chunk, a batched
 * decode step's sessions): {@code high} each value's rounding and, when {@code count} is 2
 * ({@link TensorProducts#SPLIT}), {@code low} the rounding of what that left; with one part
 * ({@link TensorProducts#ROUNDED}) {@code low} is {@code high}, never read. Written by the kernel before the product:
 * {@link #rmsNorm}, {@link #swiGlu}, or {@link #split} after one that writes floats.
 */
record ActivationParts(Half16Buffer high, Half16Buffer low, int count) {

    /** Appends RMSNorm of {@code rows} rows of {@code x} ({@code dim} floats each) times {@code weight}, written as these parts. */
    void rmsNorm(TaskGraph graph, String name, F32Buffer x, F32Buffer weight, int rows, int dim, float eps) {
        graph.task(name, VectorKernels.class, "rmsNormParts", Grid.of(rows, VectorKernels.ROW_GROUP), x, weight, high, low, dim, eps, count);
    }

    /** Appends SwiGLU over {@code rows} rows of a fused gate/up output ({@code 2n} floats each), written as these parts. */
    void swiGlu(TaskGraph graph, String name, F32Buffer gateUp, int rows, int n) {
        graph.task(name, VectorKernels.class, "swiGluParts", Grid.of((n + 255) / 256, rows, 256), gateUp, high, low, n, count);
    }

    /** Appends the split of {@code rows} rows of {@code x} ({@code n} floats each) into these parts. */
    void split(TaskGraph graph, String name, F32Buffer x, int rows, int n) {
        graph.task(name, PipelinedGemm.class, "splitRows", Grid.of((n + 255) / 256, rows, 256), x, high, low, n, count);
    }

    /** Parts for {@code elements} activations on the device, as many as {@code products} multiplies. */
    static ActivationParts allocate(OwnedBuffers buffers, long elements, TensorProducts products) {
        int count = products.parts();
        Half16Buffer high = buffers.half16(elements);
        return new ActivationParts(high, count == 2 ? buffers.half16(elements) : high, count);
    }
}
