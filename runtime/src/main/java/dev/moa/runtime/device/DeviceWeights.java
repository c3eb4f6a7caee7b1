package dev.moa.runtime.device;

import dev.moa.loader.config.ModelConfig;
import dev.moa.runtime.model.LayerWeights;
import dev.moa.runtime.model.LlamaWeights;
import dev.moa.runtime.model.RotaryEmbedding;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import dev.moa.tasks.kernel.F32Buffer;
import java.lang.foreign.Arena;

/**
 * A model's weights as the device program reads them, built once per model: each matrix in its stored format,
 * q/k/v and gate/up stacked so each is one launch, biases joined the same way (zeros where a part has none), norms
 * as F32. Buffers share the memory-mapped safetensors where no copy is needed; a backend uploads them at first use.
 */
final class DeviceWeights {
    /** One layer: what {@link DeviceDecoder} launches against. {@code qkvBias} and {@code outputBias} may be null. */
    record Layer(F32Buffer attentionNorm, DeviceMatrix qkv, F32Buffer qkvBias, DeviceMatrix output, F32Buffer outputBias,
                 F32Buffer ffnNorm, DeviceMatrix gateUp, DeviceMatrix down) {
    }

    final DeviceMatrix embedding, lmHead;
    final Layer[] layers;
    final F32Buffer finalNorm;
    /** Passed where a kernel takes a bias it is told not to read. */
    final F32Buffer noBias;
    /** Passed where a kernel takes 16-bit weights it does not read (the F32 prompt GEMM's other weight buffer). */
    final dev.moa.tasks.kernel.Half16Buffer noHalf;
    /** RoPE's cos and sin for every position the model reaches, {@code headDim / 2} per position: one table for all sessions. */
    final F32Buffer cos, sin;
    /**
     * Whether every matrix a norm feeds (q/k/v, gate/up, the output head) is 16-bit, so a one-session step can fold
     * the norms, RoPE and SwiGLU into those matvecs ({@link dev.moa.tasks.kernels.NormedMatVecKernels}).
     */
    final boolean normedHalf;

    DeviceWeights(ModelConfig config, LlamaWeights weights, Arena arena) {
        embedding = DeviceMatrix.stack(arena, weights.embedding());
        lmHead = DeviceMatrix.stack(arena, weights.lmHead());
        finalNorm = F32Buffer.of(arena, weights.finalNorm());
        noBias = F32Buffer.allocate(arena, 1);
        noHalf = dev.moa.tasks.kernel.Half16Buffer.allocate(arena, 8);
        F32Buffer[] table = ropeTable(config, arena);
        cos = table[0];
        sin = table[1];
        layers = new Layer[config.numLayers()];
        for (int l = 0; l < layers.length; l++) {
            LayerWeights w = weights.layers()[l];
            F32Buffer qkvBias = w.bq() == null && w.bk() == null && w.bv() == null ? null
                    : join(arena, w.bq(), config.queryDim(), w.bk(), config.kvDim(), w.bv(), config.kvDim());
            layers[l] = new Layer(F32Buffer.of(arena, w.attentionNorm()), DeviceMatrix.stack(arena, w.wq(), w.wk(), w.wv()), qkvBias,
                    DeviceMatrix.stack(arena, w.wo()), w.bo() == null ? null : F32Buffer.of(arena, w.bo()),
                    F32Buffer.of(arena, w.ffnNorm()), DeviceMatrix.stack(arena, w.gate(), w.up()), DeviceMatrix.stack(arena, w.down()));
        }
        boolean half = lmHead.half();
        for (Layer layer : layers) half &= layer.qkv().half() && layer.gateUp().half();
        normedHalf = half;
    }

    /**
     * Floats of partial sums the layers' BF16 products of {@code tokens} rows need to split over their columns on the
     * tensor cores ({@link DeviceMatrix#multiplyTokens}): the most any one of them needs (they run one at a time).
     */
    long partialFloats(int tokens) {
        long most = 0;
        for (Layer layer : layers) {
            for (DeviceMatrix m : new DeviceMatrix[] {layer.qkv(), layer.output(), layer.gateUp(), layer.down()}) {
                if (m.format() == dev.moa.tasks.cpu.WeightFormat.BF16) most = Math.max(most, m.partialFloats(tokens));
            }
        }
        return most;
    }

    /**
     * Whether the layers' products take their activations as BF16 parts ({@link DeviceMatrix#multiplyParts}: a
     * prompt's chunks, a batched decode step's sessions): on the tensor cores, when every layer's matrices are BF16
     * rows the pipelined GEMM takes and {@code backend}'s groups have the shared memory its ring needs
     * ({@link dev.moa.tasks.kernels.PipelinedGemm#sharedBytes}: every GPU with tensor cores does); else each takes
     * {@link DeviceMatrix#multiplyTokens} with F32 activations.
     */
    boolean takeParts(TensorProducts products, dev.moa.tasks.graph.Backend backend) {
        if (!products.tensorCores() || dev.moa.tasks.kernels.PipelinedGemm.sharedBytes(products.parts()) > backend.sharedBytesPerGroup()) return false;
        for (Layer w : layers) {
            if (!w.qkv().takesParts() || !w.output().takesParts() || !w.gateUp().takesParts() || !w.down().takesParts()) return false;
        }
        return true;
    }

    /** Every buffer of the weights, for uploading them before the first step needs them. */
    java.util.List<dev.moa.tasks.kernel.DeviceBuffer> buffers() {
        var all = new java.util.ArrayList<dev.moa.tasks.kernel.DeviceBuffer>(java.util.List.of(embedding.data(), lmHead.data(), finalNorm, noBias, noHalf, cos, sin));
        for (Layer l : layers) {
            all.addAll(java.util.List.of(l.attentionNorm(), l.qkv().data(), l.output().data(), l.ffnNorm(), l.gateUp().data(), l.down().data()));
            if (l.qkvBias() != null) all.add(l.qkvBias());
            if (l.outputBias() != null) all.add(l.outputBias());
        }
        return all;
    }

    /** A layer's bias as a kernel takes it: {@link #noBias} for one the checkpoint does not have. */
    F32Buffer bias(F32Buffer bias) {
        return bias == null ? noBias : bias;
    }

    /** Vectors of the given lengths one after another, a null part as zeros. */
    private static F32Buffer join(Arena arena, float[] a, int aLength, float[] b, int bLength, float[] c, int cLength) {
        float[][] parts = {a, b, c};
        int[] lengths = {aLength, bLength, cLength};
        F32Buffer out = F32Buffer.allocate(arena, (long) aLength + bLength + cLength);
        long at = 0;
        for (int p = 0; p < parts.length; p++) {
            if (parts[p] != null) for (int i = 0; i < lengths[p]; i++) out.set(at + i, parts[p][i]);
            at += lengths[p];
        }
        return out;
    }

    /** cos and sin of every (position, pair) angle the model reaches, as the CPU computes them. */
    private static F32Buffer[] ropeTable(ModelConfig config, Arena arena) {
        int half = config.headDim() / 2, capacity = config.maxPositions();
        F32Buffer cos = F32Buffer.allocate(arena, (long) capacity * half), sin = F32Buffer.allocate(arena, (long) capacity * half);
        RotaryEmbedding rope = new RotaryEmbedding(config);
        int chunk = 1024;
        int[] positions = new int[chunk];
        for (int from = 0; from < capacity; from += chunk) {
            int n = Math.min(chunk, capacity - from);
            for (int t = 0; t < n; t++) positions[t] = from + t;
            RotaryEmbedding.Angles a = rope.angles(positions, n);
            MemorySegment.copy(a.cos(), 0, cos.memory(), ValueLayout.JAVA_FLOAT, (long) from * half * 4, n * half);
            MemorySegment.copy(a.sin(), 0, sin.memory(), ValueLayout.JAVA_FLOAT, (long) from * half * 4, n * half);
        }
        return new F32Buffer[] {cos, sin};
    }
}
