package dev.moa.runtime.device;

import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernels.PipelinedGemm;

/**
 * A chunk's activations as the BF16 parts a prompt's pipelined GEMM reads ({@link PipelinedGemm}): {@code high}
 * each value's rounding and, when {@code count} is 2 ({@link TensorProducts#SPLIT}), {@code low} the rounding of what
 * that left; with one part ({@link TensorProducts#ROUNDED}) {@code low} is {@code high}, never read. Written by the
 * kernel before the product (RMSNorm, SwiGLU, or {@link PipelinedGemm#splitRows} after one that writes floats).
 */
record ActivationParts(Half16Buffer high, Half16Buffer low, int count) {

    /** Parts for {@code elements} activations on the device, as many as {@code products} multiplies. */
    static ActivationParts allocate(OwnedBuffers buffers, long elements, TensorProducts products) {
        int count = products.parts();
        Half16Buffer high = buffers.half16(elements);
        return new ActivationParts(high, count == 2 ? buffers.half16(elements) : high, count);
    }
}
