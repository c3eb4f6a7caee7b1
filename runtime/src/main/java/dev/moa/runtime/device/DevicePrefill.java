package dev.moa.runtime.device;

import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.CacheLayout;
import dev.moa.plans.ElasticRule;
import dev.moa.plans.HeadSpans;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.LlamaLayer;
import dev.moa.runtime.model.LlamaModel;
import dev.moa.runtime.model.NonFiniteException;
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
 * A prompt's forward pass on the device: {@link LlamaLayer}'s steps as launches over chunks of at most {@link #CHUNK}
 * tokens — RMSNorm per row, the matmuls as the prefill GEMM with bias and residual epilogues, RoPE in place with the
 * keys and values the session's cache keeps written into its {@link CacheLayout}, MoA's block-sparse attention
 * (the sink block and each head's band; on the tensor cores where they passed their check), SwiGLU — then the final norm and the output head on the last token. The
 * cache it fills is the session's own layout, read back into the session's cache ({@link KvCache#importGroup}), so
 * decoding goes on as after a CPU prefill. Needs 16-bit q/k/v, output, gate/up and down weights and heads of at
 * most {@value PrefillKernels#MAX_HEAD_DIM}; see {@link #supports}.
 *
 * <p>Layer by layer, chunk by chunk: the device holds the prompt's residual stream ({@code hidden} floats a token),
 * one layer's keys and values of the whole prompt ({@code 2·kvDim} floats a token, which every later chunk's
 * attention reads) and one chunk's other activations (q/k/v, gate/up: {@code 3·intermediate} floats a token and
 * more). So on Llama-3.2-1B a prompt holds 12 KB a token and 0.55 GB for its chunk, where running all tokens at
 * once held 132 KB a token: a 128k-token prompt needs 2.2 GB beyond the weights and the cache, not 17.7 GB. Which keys a query sees depends on its position only
 * ({@link PrefillKernels#blockSparse}), and each GEMM row, norm and score is computed as it is at once, so the
 * chunking changes no number.
 */
final class DevicePrefill implements AutoCloseable {
    /**
     * Most prompt tokens one chunk runs: large enough that the GEMMs keep the tensor cores busy and each weight is
     * read once per 4096 tokens, small enough that a chunk's activations stay under a gigabyte on 8B-class models.
     * A multiple of the 64-token attention block.
     */
    static final int CHUNK = 4096;

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
     * Runs {@code tokens} (positions 0..T-1) into {@code cache} (fresh, laid out for them) in chunks of at most
     * {@code chunk} tokens (a multiple of 64) and returns the logits after the last token; BF16 matmuls and the
     * attention on the tensor cores when {@code tensorCores}. When {@code everyPosition} is not null it also gets the
     * logits of every position from its first wanted one on.
     */
    static float[] run(ModelConfig config, DeviceWeights weights, Backend backend, KvCache cache, int[] tokens, boolean tensorCores, int chunk,
                       LlamaModel.PositionLogits everyPosition) {
        if (chunk < ElasticRule.BLOCK || chunk % ElasticRule.BLOCK != 0) {
            throw new IllegalArgumentException("a prefill chunk is a positive multiple of " + ElasticRule.BLOCK + " tokens, not " + chunk);
        }
        try (DevicePrefill prefill = new DevicePrefill(config, weights, backend, tensorCores)) {
            return prefill.forward(cache, tokens, chunk, everyPosition);
        }
    }

    /** Logits one pass of {@link #everyPosition} holds at most: 64 MB (128 positions of a 128k vocabulary). */
    private static final int HEAD_LOGITS = 16 << 20;

    /**
     * The output head on every position from {@code consumer.firstPosition()} on, {@code rows} positions a pass (the
     * final norm, then the head as a GEMM), each pass's logits read back and handed over position by position, as
     * the CPU's forward does for perplexity and answer loss.
     */
    private void everyPosition(F32Buffer stream, int t, int rows, LlamaModel.PositionLogits consumer) {
        int hidden = config.hiddenSize(), vocab = config.vocabSize();
        int first = Math.max(0, consumer.firstPosition());
        if (first >= t) return;
        rows = Math.max(1, Math.min(rows, t - first));
        F32Buffer in = buffers.f32((long) rows * hidden), normed = buffers.f32((long) rows * hidden), logits = buffers.f32((long) rows * vocab);
        float[] row = new float[vocab];
        for (int start = first; start < t; start += rows) {
            int n = Math.min(rows, t - start);
            TaskGraph head = new TaskGraph();
            head.task("positions " + start + "+" + n, VectorKernels.class, "copyRows", Grid.of((hidden + 255) / 256, n, 256), stream, start, in, 0, hidden);
            head.task("final norm", VectorKernels.class, "rmsNorm", Grid.of(n, VectorKernels.ROW_GROUP), in, weights.finalNorm, normed, hidden,
                    (float) config.rmsNormEps());
            if (weights.lmHead.half()) {
                weights.lmHead.multiplyTokens(head, "output head", normed, weights.noBias, logits, 0, n, tensorCores);
            } else {
                weights.lmHead.multiply(head, "output head", normed, weights.noBias, logits, 0, n);
            }
            backend.runOnce(head);
            backend.download(logits);
            for (int i = 0; i < n; i++) {
                MemorySegment.copy(logits.memory(), ValueLayout.JAVA_FLOAT, (long) i * vocab * Float.BYTES, row, 0, vocab);
                NonFiniteException.check(row, 1, vocab, new int[] {start + i}, "the output head's logits");
                consumer.accept(start + i, row);
            }
        }
    }

    private float[] forward(KvCache cache, int[] tokens, int chunkTokens, LlamaModel.PositionLogits everyPosition) {
        int t = tokens.length, hidden = config.hiddenSize(), heads = config.numHeads(), kvHeads = config.numKvHeads(), headDim = config.headDim();
        int qkvRows = config.queryDim() + 2 * config.kvDim(), inter = config.intermediateSize(), layers = config.numLayers();
        float eps = (float) config.rmsNormEps(), scale = (float) (1.0 / Math.sqrt(headDim));
        CacheLayout layout = cache.layout();
        HeadSpans spans = layout.spans();
        int chunk = Math.min(chunkTokens, t);
        // else the FFMA kernel: heads the tensor kernel does not take, or tiles past the device's shared memory (head_dim
        // 128 needs 122 KB: sm_80 and sm_90 have it, sm_86/sm_89 have 99 KB)
        boolean tensorAttention = tensorCores && PrefillKernels.tensorTakes(headDim)
                && PrefillKernels.tensorGrid(1, 1, headDim).sharedBytes() <= backend.sharedBytesPerGroup();

        I32Buffer step = buffers.i32((long) t * Step.SIZE);
        for (int i = 0; i < t; i++) step.set((long) i * Step.SIZE + Step.TOKEN, tokens[i]);
        // the whole prompt's residual stream and one layer's keys and values; the rest one chunk at a time
        F32Buffer x = buffers.f32((long) t * hidden), staged = buffers.f32(2L * t * config.kvDim());
        F32Buffer xc = chunk == t ? x : buffers.f32((long) chunk * hidden); // one chunk: its stream is the prompt's
        F32Buffer xb = buffers.f32((long) chunk * hidden), qkv = buffers.f32((long) chunk * qkvRows), attention = buffers.f32((long) chunk * config.queryDim());
        F32Buffer gateUp = buffers.f32(2L * chunk * inter), activation = buffers.f32((long) chunk * inter);
        F32Buffer last = buffers.f32(hidden), logits = buffers.f32(config.vocabSize());
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
            for (int start = 0; start < t; start += chunk) {
                int n = Math.min(chunk, t - start);
                String at = "layer " + l + (chunk == t ? " " : " tokens " + start + "+" + n + " ");
                if (xc != x) graph.task(at + "stream in", VectorKernels.class, "copyRows", Grid.of((hidden + 255) / 256, n, 256), x, start, xc, 0, hidden);
                graph.task(at + "attention norm", VectorKernels.class, "rmsNorm", Grid.of(n, VectorKernels.ROW_GROUP), xc, w.attentionNorm(), xb, hidden, eps);
                w.qkv().multiplyTokens(graph, at + "q/k/v", xb, weights.bias(w.qkvBias()), qkv, w.qkvBias() == null ? 0 : MatVecKernels.BIAS, n, tensorCores);
                graph.task(at + "rope + cache", PrefillKernels.class, "rope", Grid.of(heads + kvHeads, n, PrefillKernels.GROUP), qkv, weights.cos,
                        weights.sin, kv[l].keys(), kv[l].values(), kv[l].keys16(), kv[l].values16(), staged, offsets, rings, firstKept,
                        layout.sinkSlots(), heads, kvHeads, headDim, qkvRows, start, cache.format().kernelFlag());
                if (tensorAttention) {
                    graph.task(at + "attention", PrefillKernels.class, "blockSparseTensor", PrefillKernels.tensorGrid(n, heads, headDim), qkv, staged,
                            attention, bands, start, n, t, heads, kvHeads, headDim, qkvRows, scale);
                } else {
                    graph.task(at + "attention", PrefillKernels.class, "blockSparse", PrefillKernels.grid(n, heads), qkv, staged, attention, bands,
                            start, n, t, heads, kvHeads, headDim, qkvRows, scale);
                }
                w.output().multiplyTokens(graph, at + "output + residual", attention, weights.bias(w.outputBias()), xc,
                        MatVecKernels.ACCUMULATE | (w.outputBias() == null ? 0 : MatVecKernels.BIAS), n, tensorCores);
                graph.task(at + "ffn norm", VectorKernels.class, "rmsNorm", Grid.of(n, VectorKernels.ROW_GROUP), xc, w.ffnNorm(), xb, hidden, eps);
                w.gateUp().multiplyTokens(graph, at + "gate/up", xb, weights.noBias, gateUp, 0, n, tensorCores);
                graph.task(at + "swiglu", VectorKernels.class, "swiGlu", Grid.of((inter + 255) / 256, n, 256), gateUp, activation, inter);
                w.down().multiplyTokens(graph, at + "down + residual", activation, weights.noBias, xc, MatVecKernels.ACCUMULATE, n, tensorCores);
                if (xc != x) graph.task(at + "stream out", VectorKernels.class, "copyRows", Grid.of((hidden + 255) / 256, n, 256), xc, 0, x, start, hidden);
            }
        }
        // the output head on the last token only
        graph.task("last token", VectorKernels.class, "copyRows", Grid.of((hidden + 255) / 256, 1, 256), x, t - 1, last, 0, hidden);
        if (weights.lmHead.half()) {
            weights.lmHead.multiplyNormed(graph, "final norm + output head", last, weights.finalNorm, eps, weights.noBias, logits, 0);
        } else {
            F32Buffer normed = buffers.f32(hidden);
            graph.task("final norm", VectorKernels.class, "rmsNorm", Grid.of(1, VectorKernels.ROW_GROUP), last, weights.finalNorm, normed, hidden, eps);
            weights.lmHead.multiply(graph, "output head", normed, weights.noBias, logits, 0, 1);
        }
        backend.runOnce(graph);

        backend.download(logits);
        // before the cache reaches the session: a head that does not fit the device leaves it as it was
        if (everyPosition != null) everyPosition(x, t, Math.min(chunkTokens, HEAD_LOGITS / config.vocabSize()), everyPosition);
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
