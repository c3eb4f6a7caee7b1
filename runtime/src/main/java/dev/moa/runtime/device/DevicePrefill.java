package dev.moa.runtime.device;

import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.CacheLayout;
import dev.moa.plans.ElasticRule;
import dev.moa.plans.HeadSpans;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.LlamaLayer;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernels.MatVecKernels;
import dev.moa.tasks.kernels.PrefillKernels;
import dev.moa.tasks.kernels.Step;
import dev.moa.tasks.kernels.VectorKernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A prompt's forward pass on the device, all its tokens at once: {@link LlamaLayer}'s steps as launches over T
 * rows — RMSNorm per row, the matmuls as the prefill GEMM with bias and residual epilogues, RoPE in place with the
 * keys and values the session's cache keeps written into its {@link CacheLayout}, MoA's block-sparse attention
 * (the sink block and each head's band), SwiGLU — then the final norm and the output head on the last token. The
 * cache it fills is the session's own layout, read back into the session's cache ({@link KvCache#importGroup}), so
 * decoding goes on as after a CPU prefill. Needs 16-bit q/k/v, output, gate/up and down weights and heads of at
 * most {@value PrefillKernels#MAX_HEAD_DIM}; see {@link #supports}.
 */
final class DevicePrefill implements AutoCloseable {
    private final ModelConfig config;
    private final DeviceWeights weights;
    private final Backend backend;
    private final OwnedBuffers buffers;
    private final TaskGraph graph = new TaskGraph();
    private final boolean tensorCores;

    /** Whether the device can prefill this model: 16-bit matrices the GEMM reads, heads the attention kernel stages. */
    static boolean supports(ModelConfig config, DeviceWeights weights) {
        if (config.headDim() > PrefillKernels.MAX_HEAD_DIM || config.headDim() % 2 != 0) return false;
        for (DeviceWeights.Layer l : weights.layers) {
            if (!l.qkv().half() || !l.output().half() || !l.gateUp().half() || !l.down().half()) return false;
        }
        return true;
    }

    private DevicePrefill(ModelConfig config, DeviceWeights weights, Backend backend, boolean tensorCores) {
        this.config = config;
        this.weights = weights;
        this.backend = backend;
        this.buffers = new OwnedBuffers(backend);
        this.tensorCores = tensorCores;
    }

    /**
     * Runs {@code tokens} (positions 0..T-1) into {@code cache} (fresh, laid out for them) and returns the logits after
     * the last token; BF16 matmuls on the tensor cores when {@code tensorCores}.
     */
    static float[] run(ModelConfig config, DeviceWeights weights, Backend backend, KvCache cache, int[] tokens, boolean tensorCores) {
        try (DevicePrefill prefill = new DevicePrefill(config, weights, backend, tensorCores)) {
            return prefill.forward(cache, tokens);
        }
    }

    private float[] forward(KvCache cache, int[] tokens) {
        int t = tokens.length, hidden = config.hiddenSize(), heads = config.numHeads(), kvHeads = config.numKvHeads(), headDim = config.headDim();
        int qkvRows = config.queryDim() + 2 * config.kvDim(), inter = config.intermediateSize(), layers = config.numLayers();
        float eps = (float) config.rmsNormEps(), scale = (float) (1.0 / Math.sqrt(headDim));
        CacheLayout layout = cache.layout();
        HeadSpans spans = layout.spans();

        I32Buffer step = buffers.i32((long) t * Step.SIZE);
        for (int i = 0; i < t; i++) step.set((long) i * Step.SIZE + Step.TOKEN, tokens[i]);
        F32Buffer x = buffers.f32((long) t * hidden), xb = buffers.f32((long) t * hidden), qkv = buffers.f32((long) t * qkvRows), attention = buffers.f32((long) t * config.queryDim());
        F32Buffer gateUp = buffers.f32(2L * t * inter), activation = buffers.f32((long) t * inter), last = buffers.f32(hidden), logits = buffers.f32(config.vocabSize());
        KvBuffers[] kv = new KvBuffers[layers];

        weights.embedding.gather(graph, step, x, t);
        for (int l = 0; l < layers; l++) {
            DeviceWeights.Layer w = weights.layers[l];
            kv[l] = KvBuffers.allocate(buffers, cache.format(), (long) layout.layerSlots(l) * headDim);
            I32Buffer offsets = buffers.i32(kvHeads), rings = buffers.i32(kvHeads);
            I32Buffer firstKept = buffers.i32(kvHeads), bands = buffers.i32(heads);
            for (int g = 0; g < kvHeads; g++) {
                offsets.set(g, layout.offset(l, g));
                rings.set(g, layout.ringSlots(l, g));
                firstKept.set(g, layout.firstKept(l, g, t));
            }
            // each head's band in 64-token blocks, as the CPU's prefill reads it (a dense cache's band covers the prompt)
            for (int h = 0; h < heads; h++) bands.set(h, (int) Math.min(Integer.MAX_VALUE / 2, spans.local()[l][h] / ElasticRule.BLOCK));
            String at = "layer " + l + " ";
            graph.task(at + "attention norm", VectorKernels.class, "rmsNorm", Grid.of(t, VectorKernels.ROW_GROUP), x, w.attentionNorm(), xb, hidden, eps);
            w.qkv().multiplyTokens(graph, at + "q/k/v", xb, weights.bias(w.qkvBias()), qkv, w.qkvBias() == null ? 0 : MatVecKernels.BIAS, t, tensorCores);
            graph.task(at + "rope + cache", PrefillKernels.class, "rope", Grid.of(heads + kvHeads, t, PrefillKernels.GROUP), qkv, weights.cos,
                    weights.sin, kv[l].keys(), kv[l].values(), kv[l].keys16(), kv[l].values16(), offsets, rings, firstKept, layout.sinkSlots(),
                    heads, kvHeads, headDim, qkvRows, cache.format().kernelFlag());
            graph.task(at + "attention", PrefillKernels.class, "blockSparse", PrefillKernels.grid(t, heads), qkv, attention, bands, t, heads,
                    kvHeads, headDim, qkvRows, scale);
            w.output().multiplyTokens(graph, at + "output + residual", attention, weights.bias(w.outputBias()), x,
                    MatVecKernels.ACCUMULATE | (w.outputBias() == null ? 0 : MatVecKernels.BIAS), t, tensorCores);
            graph.task(at + "ffn norm", VectorKernels.class, "rmsNorm", Grid.of(t, VectorKernels.ROW_GROUP), x, w.ffnNorm(), xb, hidden, eps);
            w.gateUp().multiplyTokens(graph, at + "gate/up", xb, weights.noBias, gateUp, 0, t, tensorCores);
            graph.task(at + "swiglu", VectorKernels.class, "swiGlu", Grid.of((inter + 255) / 256, t, 256), gateUp, activation, inter);
            w.down().multiplyTokens(graph, at + "down + residual", activation, weights.noBias, x, MatVecKernels.ACCUMULATE, t, tensorCores);
        }
        // the output head on the last token only
        graph.task("last token", VectorKernels.class, "copy", Grid.covering(hidden, 256), x, (t - 1) * hidden, last, hidden);
        if (weights.lmHead.half()) {
            weights.lmHead.multiplyNormed(graph, "final norm + output head", last, weights.finalNorm, eps, weights.noBias, logits, 0);
        } else {
            F32Buffer normed = buffers.f32(hidden);
            graph.task("final norm", VectorKernels.class, "rmsNorm", Grid.of(1, VectorKernels.ROW_GROUP), last, weights.finalNorm, normed, hidden, eps);
            weights.lmHead.multiply(graph, "output head", normed, weights.noBias, logits, 0, 1);
        }
        backend.runOnce(graph);

        backend.download(logits);
        for (int l = 0; l < layers; l++) {
            backend.download(kv[l].keyBuffer());
            backend.download(kv[l].valueBuffer());
            for (int g = 0; g < kvHeads; g++) cache.importGroup(l, g, kv[l].keyMemory(), kv[l].valueMemory(), (long) layout.offset(l, g) * headDim);
        }
        float[] out = new float[config.vocabSize()];
        MemorySegment.copy(logits.memory(), ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
        return out;
    }




    /** Frees the prompt's activations and staging on the device (the weights stay). */
    @Override
    public void close() {
        buffers.close();
    }
}
