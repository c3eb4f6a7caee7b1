package dev.moa.runtime.device;

import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.CacheLayout;
import dev.moa.plans.ElasticRule;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.LlamaLayer;
import dev.moa.runtime.model.LlamaModel;
import dev.moa.runtime.model.NonFiniteException;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernels.MatVecKernels;
import dev.moa.tasks.kernels.PipelinedGemm;
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
 * cache it fills is in the session's own layout: straight into the session's region of the device's {@link KvPool},
 * where its decode steps read it, or (when the keys and values are wanted on the CPU, evaluation) into buffers of its
 * own read back into the session's cache ({@link KvCache#importGroup}), so decoding goes on as after a CPU prefill.
 * The GEMMs take BF16 weights on the tensor cores — the layers' over activations the norms, SwiGLU and the tensor-core
 * attention write as BF16 parts ({@link DeviceWeights#takeParts}, {@link PipelinedGemm}) — F16 and F32 on FFMA
 * tiles. Needs heads of at most
 * {@value PrefillKernels#MAX_HEAD_DIM}; see {@link #supports}.
 *
 * <p>It runs a piece at a time, the next chunk of the current layer ({@link #advance}), then {@link #finish}: a caller
 * may report progress between pieces or interleave them with other work (a server's decode steps), and a prompt
 * given up between pieces leaves the session's cache as it was.
 *
 * <p>Layer by layer, chunk by chunk: the device holds the prompt's residual stream ({@code hidden} floats a token),
 * one layer's keys and values of the whole prompt ({@code 2·kvDim} values a token, which every later chunk's
 * attention reads: floats, or for the tensor-core attention two BF16 parts, as many bytes) and one chunk's other
 * activations (q/k/v, the products' inputs as BF16 parts; where they are floats, gate/up's {@code 2·intermediate}
 * floats a token too). So on Llama-3.2-1B a prompt holds 12 KB a token and 0.25 GB for its chunk (0.5 GB with float
 * inputs), where running all tokens at once held 132 KB a token: a 128k-token prompt needs 1.8 GB beyond the weights
 * and the cache, not 17.7 GB. Which keys a query sees depends on its position only
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
    /** The session's region of the KV pool the prompt's keys and values go into; null: into {@link #kv}'s own buffers, read back. */
    private final KvPool.Region into;
    /** The pool generation the current layer's cache was pointed at (a pool that grows between pieces moves its buffers). */
    private int generation = -1;
    private final TensorProducts products;
    /** The launches not yet run: a layer's, appended by {@link ChunkSteps}, run by {@link #advance}. */
    private TaskGraph graph = new TaskGraph();
    /** The piece launched last, which the device may still be running ({@link Backend#enqueueOnce}; at most one). */
    private Backend.Pending inFlight = Backend.Pending.DONE;

    // the prompt: its tokens, the cache it fills, and what stays on the device between layers
    private final KvCache cache;
    private final int[] tokens;
    private final int chunk, chunkTokens;
    private final LlamaModel.PositionLogits everyPosition;
    private final I32Buffer step;
    private final F32Buffer x, xc;
    /** Per layer, the keys and values of a prompt read back to the CPU (null where they go into {@link #into}). */
    private final KvBuffers[] kv;
    private final ChunkSteps steps;
    /** Layers run so far, and the first token of the current layer's next chunk. */
    private int layer, start;
    /**
     * The bands made last, on the device and as numbers, and the attention's schedule made for them: a layer with the
     * same bands (every dense one) takes both again.
     */
    private I32Buffer lastBandsBuffer, lastSchedule;
    private int[] lastBands;

    /** Whether the device can prefill this model: heads the attention kernel stages (the GEMMs take every weight format). */
    static boolean supports(ModelConfig config) {
        return config.headDim() <= PrefillKernels.MAX_HEAD_DIM && config.headDim() % 2 == 0;
    }

    /**
     * A prompt {@code tokens} (positions 0..T-1) ready to run into {@code cache} (fresh, laid out for them) in chunks
     * of at most {@code chunkTokens} tokens (a multiple of 64), a layer at a time ({@link #advance}, then
     * {@link #finish}); BF16 matmuls and the attention on the tensor cores as {@code products} says. When
     * {@code everyPosition} is not null it also gets the logits of every position from its first wanted one on.
     * The keys and values go into {@code into}, the session's region of the KV pool (its slots the cache's layout,
     * its layers one after another), or where it is null into buffers of the prompt's own, read back into
     * {@code cache} by {@link #finish}. Nothing reaches the device before the first layer runs, and nothing reaches
     * {@code cache} before {@link #finish}: a prompt given up on (closed, or failing for want of memory) leaves the
     * cache as it was (and the region to be filled from the CPU).
     */
    DevicePrefill(ModelConfig config, DeviceWeights weights, Backend backend, KvCache cache, int[] tokens, TensorProducts products, int chunkTokens,
                  LlamaModel.PositionLogits everyPosition, KvPool.Region into) {
        if (chunkTokens < ElasticRule.BLOCK || chunkTokens % ElasticRule.BLOCK != 0) {
            throw new IllegalArgumentException("a prefill chunk is a positive multiple of " + ElasticRule.BLOCK + " tokens, not " + chunkTokens);
        }
        this.config = config;
        this.weights = weights;
        this.backend = backend;
        this.buffers = new OwnedBuffers(backend);
        if (into != null && into.length() != cache.layout().slots()) {
            throw new IllegalArgumentException("a region of " + into.length() + " slots for a cache of " + cache.layout().slots());
        }
        this.into = into;
        this.products = products;
        this.cache = cache;
        this.tokens = tokens;
        this.chunkTokens = chunkTokens;
        this.everyPosition = everyPosition;
        int t = tokens.length, hidden = config.hiddenSize(), headDim = config.headDim();
        int qkvRows = config.queryDim() + 2 * config.kvDim(), inter = config.intermediateSize();
        this.chunk = Math.min(chunkTokens, t);
        // else the FFMA kernel: heads the tensor kernel does not take, or tiles past the device's shared memory (head_dim
        // 128 needs 102 KB: sm_80 and sm_90 have it, sm_86/sm_89 have 99 KB)
        boolean tensorAttention = products.tensorCores() && PrefillKernels.tensorTakes(headDim)
                && PrefillKernels.tensorSharedBytes(headDim) <= backend.sharedBytesPerGroup();

        step = buffers.i32((long) t * Step.SIZE);
        for (int i = 0; i < t; i++) step.set((long) i * Step.SIZE + Step.TOKEN, tokens[i]);
        // the whole prompt's residual stream and one layer's keys and values (as floats for the FFMA attention, as the
        // BF16 parts PrefillKernels.ropeSplit writes for the tensor cores'); the rest one chunk at a time
        x = buffers.f32((long) t * hidden);
        F32Buffer staged = tensorAttention ? null : buffers.f32(2L * t * config.kvDim());
        long splitPart = PrefillKernels.splitPart(t, 2 * config.kvDim());
        Half16Buffer staged16 = tensorAttention ? buffers.half16(2 * splitPart) : null;
        xc = chunk == t ? x : buffers.f32((long) chunk * hidden); // one chunk: its stream is the prompt's
        F32Buffer qkv = buffers.f32((long) chunk * qkvRows);
        Activations a;
        if (weights.takeParts(products, backend)) {
            // the norms, the gate/up product (SwiGLU its epilogue) and the tensor-core attention write BF16 parts; the
            // FFMA attention writes floats, split after it; no float gate/up output at all (on Llama-3.2-1B 64 KB a token)
            F32Buffer attention = tensorAttention ? null : buffers.f32((long) chunk * config.queryDim());
            a = new Activations(xc, null, qkv, staged, staged16, attention, null, null, ActivationParts.allocate(buffers, (long) chunk * hidden, products),
                    ActivationParts.allocate(buffers, (long) chunk * config.queryDim(), products),
                    ActivationParts.allocate(buffers, (long) chunk * inter, products));
        } else {
            a = new Activations(xc, buffers.f32((long) chunk * hidden), qkv, staged, staged16, buffers.f32((long) chunk * config.queryDim()),
                    buffers.f32(2L * chunk * inter), buffers.f32((long) chunk * inter), null, null, null);
        }
        kv = new KvBuffers[config.numLayers()];
        steps = new ChunkSteps(t, a, tensorAttention);
    }

    /**
     * Runs {@code tokens} into {@code into} (or, where it is null, into {@code cache}) as {@link #DevicePrefill}
     * describes and returns the logits after the last token; {@code progress} (or null) hears after each chunk of each
     * layer how far the prompt got, as the tokens of the prompt that share of the work stands for ({@link #tokensDone}).
     */
    static float[] run(ModelConfig config, DeviceWeights weights, Backend backend, KvCache cache, int[] tokens, TensorProducts products, int chunk,
                       LlamaModel.PositionLogits everyPosition, java.util.function.IntConsumer progress, KvPool.Region into) {
        try (DevicePrefill prefill = new DevicePrefill(config, weights, backend, cache, tokens, products, chunk, everyPosition, into)) {
            while (!prefill.layersDone()) {
                prefill.advance();
                if (progress != null) progress.accept(prefill.tokensDone());
            }
            return prefill.finish();
        }
    }

    /** Whether every layer has run ({@link #finish} is next). */
    boolean layersDone() {
        return layer == config.numLayers();
    }

    /**
     * How far the prompt got, as tokens through the whole model: the token-layers run so far over the layers (a
     * prompt runs layer by layer, so after layer 3 of 16 of a 1600-token prompt this is 300).
     */
    int tokensDone() {
        return (int) (((long) layer * tokens.length + start) / config.numLayers());
    }

    /** Runs the next chunk of the current layer (the first chunk of the first layer also looks the tokens up). */
    void advance() {
        if (layersDone()) throw new IllegalStateException("every layer of the prompt has run");
        int t = tokens.length, hidden = config.hiddenSize(), l = layer;
        CacheLayout layout = cache.layout();
        if (start == 0) { // a new layer: its cache, and the tokens' embeddings before the first
            if (l == 0) weights.embedding.gather(graph, step, x, t);
            if (into == null) {
                kv[l] = KvBuffers.allocate(buffers, cache.format(), (long) layout.layerSlots(l) * config.headDim());
                steps.layer(layerCache(kv[l], layout, l, t, 0));
            }
        }
        if (into != null && (start == 0 || generation != into.pool().generation())) { // (a pool grown since has new buffers)
            generation = into.pool().generation();
            long base = into.start();
            for (int k = 0; k < l; k++) base += layout.layerSlots(k); // the region's layers one after another
            steps.layer(layerCache(into.pool().kv(), layout, l, t, (int) base));
        }
        int n = Math.min(chunk, t - start);
        steps.chunk(start, n, chunk == t ? "layer " + l + " " : "layer " + l + " tokens " + start + "+" + n + " ");
        if (xc != x) graph.task(steps.at + "stream in", VectorKernels.class, "copyRows", Grid.of((hidden + 255) / 256, n, 256), x, start, xc, 0, hidden);
        LlamaLayer.run(steps, l);
        if (xc != x) graph.task(steps.at + "stream out", VectorKernels.class, "copyRows", Grid.of((hidden + 255) / 256, n, 256), xc, 0, x, start, hidden);
        // the device runs this piece while the caller goes on (its progress, a server's decode steps, the next piece's
        // launches); the piece before is waited for, so at most one is ahead and work given between pieces waits for one
        Backend.Pending before = inFlight;
        inFlight = backend.enqueueOnce(graph); // (what close() waits for, even where the piece before failed)
        before.await();
        graph = new TaskGraph();
        start += n;
        if (start == t) {
            layer++;
            start = 0;
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
        F32Buffer in = buffers.f32((long) rows * hidden), logits = buffers.f32((long) rows * vocab);
        boolean parts = products.tensorCores() && weights.lmHead.takesParts(); // the norm writes BF16 parts, the head reads them
        ActivationParts normedParts = parts ? ActivationParts.allocate(buffers, (long) rows * hidden, products) : null;
        F32Buffer normed = parts ? null : buffers.f32((long) rows * hidden);
        float[] row = new float[vocab];
        for (int start = first; start < t; start += rows) {
            int n = Math.min(rows, t - start);
            TaskGraph head = new TaskGraph();
            head.task("positions " + start + "+" + n, VectorKernels.class, "copyRows", Grid.of((hidden + 255) / 256, n, 256), stream, start, in, 0, hidden);
            float eps = (float) config.rmsNormEps();
            if (parts) {
                normedParts.rmsNorm(head, "final norm", in, weights.finalNorm, n, hidden, eps);
                weights.lmHead.multiplyParts(head, "output head", normedParts, weights.noBias, logits, 0, n, null);
            } else {
                head.task("final norm", VectorKernels.class, "rmsNorm", Grid.of(n, VectorKernels.ROW_GROUP), in, weights.finalNorm, normed, hidden, eps);
                weights.lmHead.multiplyTokens(head, "output head", normed, weights.noBias, logits, 0, n, products, null, weights.noHalf);
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

    /**
     * After the last layer: the final norm and the output head on the last token (and on every wanted position);
     * returns the last token's logits. The keys and values are in the session's region of the KV pool, whose slots'
     * positions are set now from the layout (the session's first decode step reads them there; its CPU cache does not
     * hold the prompt), or, without a region, read back into the session's cache.
     */
    float[] finish() {
        if (!layersDone()) throw new IllegalStateException("the prompt has " + (config.numLayers() - layer) + " layers still to run");
        inFlight.await();
        int t = tokens.length, hidden = config.hiddenSize(), headDim = config.headDim(), layers = config.numLayers();
        float eps = (float) config.rmsNormEps();
        CacheLayout layout = cache.layout();
        F32Buffer last = buffers.f32(hidden), logits = buffers.f32(config.vocabSize());
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
        float[] out = new float[config.vocabSize()];
        MemorySegment.copy(logits.memory(), ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
        if (into != null) {
            I32Buffer positions = into.pool().positions();
            long base = into.start();
            for (int l = 0; l < layers; l++) {
                for (int g = 0; g < config.numKvHeads(); g++) {
                    long offset = base + layout.offset(l, g);
                    for (int s = 0; s < layout.groupSlots(l, g); s++) positions.set(offset + s, (int) layout.positionAt(l, g, s, t));
                }
                base += layout.layerSlots(l);
            }
            backend.upload(positions, (long) into.start() * Integer.BYTES, into.length() * Integer.BYTES);
            return out;
        }
        for (int l = 0; l < layers; l++) {
            backend.download(kv[l].keyBuffer());
            backend.download(kv[l].valueBuffer());
            for (int g = 0; g < config.numKvHeads(); g++) cache.importGroup(l, g, kv[l].keyMemory(), kv[l].valueMemory(), (long) layout.offset(l, g) * headDim);
        }
        return out;
    }

    /**
     * A chunk's activations (the prompt's stream where it is one chunk), and the layer's keys and values of the whole
     * prompt ({@code staged} floats for the FFMA attention, {@code staged16} parts for the tensor cores'). The
     * products' inputs are floats ({@code xb}: the normed stream, {@code activation}: SwiGLU's) or, where the prompt's
     * products take them ({@link DeviceWeights#takeParts}), BF16 parts instead ({@code normedParts};
     * {@code activationParts}, which the gate/up product writes, SwiGLU its epilogue, so no {@code gateUp} floats;
     * {@code attentionParts}, which the tensor-core attention writes itself and the FFMA attention's floats are split
     * into); the others are null.
     */
    private record Activations(F32Buffer x, F32Buffer xb, F32Buffer qkv, F32Buffer staged, Half16Buffer staged16, F32Buffer attention,
                               F32Buffer gateUp, F32Buffer activation, ActivationParts normedParts, ActivationParts attentionParts,
                               ActivationParts activationParts) {
        boolean parts() {
            return normedParts != null;
        }
    }

    /**
     * One layer's MoA cache as the prompt fills it: its keys and values, and per KV group its first slot, ring size and
     * first kept position ({@code CacheLayout.firstKept} of the whole prompt), per query head its band in 64-token
     * blocks, as the CPU's prefill reads it (a dense cache's band covers the prompt); and the order in which the
     * attention takes each chunk's (query group, head) items, the chunks' one after another (a chunk from {@code start}
     * at {@code start / q · heads}, q the kernel's queries a group: 64 on the tensor cores, 32 on FFMA;
     * {@link PrefillKernels#longestFirst}; shared by consecutive layers whose bands are the same, as a dense prompt's).
     */
    private record LayerCache(KvBuffers kv, I32Buffer offsets, I32Buffer rings, I32Buffer firstKept, I32Buffer bands, I32Buffer schedule,
                              int sinkSlots) {
    }

    /**
     * Layer {@code l}'s cache of a {@code tokens}-token prompt laid out by {@code layout}, its keys and values in
     * {@code kv} from slot {@code base} on.
     */
    private LayerCache layerCache(KvBuffers kv, CacheLayout layout, int l, int tokens, int base) {
        int heads = config.numHeads(), kvHeads = config.numKvHeads();
        I32Buffer offsets = buffers.i32(kvHeads), rings = buffers.i32(kvHeads), firstKept = buffers.i32(kvHeads);
        for (int g = 0; g < kvHeads; g++) {
            offsets.set(g, base + layout.offset(l, g));
            rings.set(g, layout.ringSlots(l, g));
            firstKept.set(g, layout.firstKept(l, g, tokens));
        }
        int[] band = new int[heads];
        for (int h = 0; h < heads; h++) band[h] = (int) Math.min(Integer.MAX_VALUE / 2, layout.spans().local()[l][h] / ElasticRule.BLOCK);
        if (!java.util.Arrays.equals(band, lastBands)) { // (the schedule depends on the bands alone, the prompt being one; both read-only on the device)
            lastBandsBuffer = buffers.i32(heads);
            for (int h = 0; h < heads; h++) lastBandsBuffer.set(h, band[h]);
            int queries = steps.tensorAttention ? ElasticRule.BLOCK : PrefillKernels.QUERIES; // a group's queries, either kernel
            lastSchedule = buffers.i32((long) (tokens + queries - 1) / queries * heads);
            for (int from = 0; from < tokens; from += chunk) {
                int[] order = PrefillKernels.longestFirst(from, Math.min(chunk, tokens - from), tokens, heads, band, queries);
                for (int k = 0; k < order.length; k++) lastSchedule.set((long) from / queries * heads + k, order[k]);
            }
            lastBands = band;
        }
        return new LayerCache(kv, offsets, rings, firstKept, lastBandsBuffer, lastSchedule, layout.sinkSlots());
    }

    /**
     * {@link LlamaLayer}'s steps as launches over one chunk of the prompt, appended to the prompt's graph: RMSNorm per
     * row, the matmuls as the prefill GEMM with bias and residual epilogues, RoPE in place with the chunk's keys and
     * values staged and the kept ones written to the layer's cache, the block-sparse attention of the chunk's queries
     * against the staged prompt (on the tensor cores where they take it), SwiGLU.
     */
    private final class ChunkSteps implements LlamaLayer.Steps {
        private final int tokens, hidden, heads, kvHeads, headDim, qkvRows, inter;
        private final float eps, scale;
        private final Activations a;
        private final boolean tensorAttention;
        private LayerCache cache;
        private int start, n;
        /** The current chunk's prefix of task names. */
        String at;

        ChunkSteps(int tokens, Activations a, boolean tensorAttention) {
            this.tokens = tokens;
            this.hidden = config.hiddenSize();
            this.heads = config.numHeads();
            this.kvHeads = config.numKvHeads();
            this.headDim = config.headDim();
            this.qkvRows = config.queryDim() + 2 * config.kvDim();
            this.inter = config.intermediateSize();
            this.eps = (float) config.rmsNormEps();
            this.scale = (float) (1.0 / Math.sqrt(headDim));
            this.a = a;
            this.tensorAttention = tensorAttention;
        }

        void layer(LayerCache cache) {
            this.cache = cache;
        }

        void chunk(int start, int n, String at) {
            this.start = start;
            this.n = n;
            this.at = at;
        }

        @Override
        public void rmsNorm(int layer, LlamaLayer.Norm which) {
            DeviceWeights.Layer w = weights.layers[layer];
            boolean attentionNorm = which == LlamaLayer.Norm.ATTENTION;
            String name = at + (attentionNorm ? "attention norm" : "ffn norm");
            F32Buffer norm = attentionNorm ? w.attentionNorm() : w.ffnNorm();
            if (a.parts()) a.normedParts().rmsNorm(graph, name, a.x(), norm, n, hidden, eps);
            else graph.task(name, VectorKernels.class, "rmsNorm", Grid.of(n, VectorKernels.ROW_GROUP), a.x(), norm, a.xb(), hidden, eps);
        }

        @Override
        public void qkv(int layer) {
            DeviceWeights.Layer w = weights.layers[layer];
            // never split over columns (no partial buffer): how a product is summed then does not depend on how many
            // tokens a chunk has, so a prompt gives the same bits whatever its chunks (a short prompt's few tiles cost)
            int epilogue = w.qkvBias() == null ? 0 : MatVecKernels.BIAS;
            if (a.parts()) w.qkv().multiplyParts(graph, at + "q/k/v", a.normedParts(), weights.bias(w.qkvBias()), a.qkv(), epilogue, n, null);
            else w.qkv().multiplyTokens(graph, at + "q/k/v", a.xb(), weights.bias(w.qkvBias()), a.qkv(), epilogue, n, products, null, weights.noHalf);
        }

        @Override
        public void rope(int layer) {
            KvBuffers kv = cache.kv();
            Grid grid = Grid.of(heads + kvHeads, n, PrefillKernels.GROUP);
            if (tensorAttention) { // the prompt's keys and values staged as the tensor cores' parts straight away
                graph.task(at + "rope + cache", PrefillKernels.class, "ropeSplit", grid, a.qkv(), weights.cos, weights.sin, kv.keys(), kv.values(),
                        kv.keys16(), kv.values16(), a.staged16(), a.staged16().length() / 2, cache.offsets(), cache.rings(), cache.firstKept(),
                        cache.sinkSlots(), heads, kvHeads, headDim, qkvRows, start, kv.format().kernelFlag());
            } else {
                graph.task(at + "rope + cache", PrefillKernels.class, "rope", grid, a.qkv(), weights.cos, weights.sin, kv.keys(), kv.values(),
                        kv.keys16(), kv.values16(), a.staged(), cache.offsets(), cache.rings(), cache.firstKept(), cache.sinkSlots(), heads, kvHeads,
                        headDim, qkvRows, start, kv.format().kernelFlag());
            }
        }

        @Override
        public void attention(int layer) {
            if (tensorAttention) {
                boolean rounded = products == TensorProducts.ROUNDED;
                Grid grid = PrefillKernels.tensorGrid(n, heads, headDim);
                long low = a.staged16().length() / 2;
                int scheduleAt = start / ElasticRule.BLOCK * heads; // this chunk's items in the layer's schedule
                if (!a.parts()) {
                    graph.task(at + "attention", PrefillKernels.class, rounded ? "blockSparseTensorRounded" : "blockSparseTensor", grid, a.qkv(),
                            a.staged16(), low, a.attention(), cache.bands(), cache.schedule(), scheduleAt, start, n, tokens, heads, kvHeads, headDim, qkvRows,
                            scale);
                } else if (rounded) { // the output as the output projection reads it: no floats, no split launch
                    graph.task(at + "attention", PrefillKernels.class, "blockSparseTensorRoundedParts", grid, a.qkv(), a.staged16(), low,
                            a.attentionParts().high(), cache.bands(), cache.schedule(), scheduleAt, start, n, tokens, heads, kvHeads, headDim, qkvRows,
                            scale);
                } else {
                    graph.task(at + "attention", PrefillKernels.class, "blockSparseTensorParts", grid, a.qkv(), a.staged16(), low,
                            a.attentionParts().high(), a.attentionParts().low(), cache.bands(), cache.schedule(), scheduleAt, start, n, tokens, heads, kvHeads,
                            headDim, qkvRows, scale);
                }
            } else {
                graph.task(at + "attention", PrefillKernels.class, "blockSparse", PrefillKernels.grid(n, heads), a.qkv(), a.staged(), a.attention(),
                        cache.bands(), cache.schedule(), start / PrefillKernels.QUERIES * heads, start, n, tokens, heads, kvHeads, headDim, qkvRows, scale);
                if (a.parts()) a.attentionParts().split(graph, at + "attention parts", a.attention(), n, heads * headDim);
            }
        }

        @Override
        public void outputResidual(int layer) {
            DeviceWeights.Layer w = weights.layers[layer];
            int epilogue = MatVecKernels.ACCUMULATE | (w.outputBias() == null ? 0 : MatVecKernels.BIAS);
            String name = at + "output + residual";
            if (a.parts()) w.output().multiplyParts(graph, name, a.attentionParts(), weights.bias(w.outputBias()), a.x(), epilogue, n, null);
            else w.output().multiplyTokens(graph, name, a.attention(), weights.bias(w.outputBias()), a.x(), epilogue, n, products, null, weights.noHalf);
        }

        @Override
        public void gateUp(int layer) {
            DeviceMatrix gateUp = weights.layers[layer].gateUp();
            if (a.parts()) gateUp.multiplyGlu(graph, at + "gate/up + swiglu", a.normedParts(), a.activationParts(), n, null, null);
            else gateUp.multiplyTokens(graph, at + "gate/up", a.xb(), weights.noBias, a.gateUp(), 0, n, products, null, weights.noHalf);
        }

        @Override
        public void swiGlu(int layer) {
            if (a.parts()) return; // the gate/up product's epilogue
            graph.task(at + "swiglu", VectorKernels.class, "swiGlu", Grid.of((inter + 255) / 256, n, 256), a.gateUp(), a.activation(), inter);
        }

        @Override
        public void downResidual(int layer) {
            DeviceMatrix down = weights.layers[layer].down();
            if (a.parts()) down.multiplyParts(graph, at + "down + residual", a.activationParts(), weights.noBias, a.x(), MatVecKernels.ACCUMULATE, n, null);
            else down.multiplyTokens(graph, at + "down + residual", a.activation(), weights.noBias, a.x(), MatVecKernels.ACCUMULATE, n, products, null,
                    weights.noHalf);
        }
    }

    /** Frees the prompt's activations and staging on the device (the weights and the session's region stay). */
    @Override
    public void close() {
        try {
            inFlight.await(); // the device may still be using the buffers
        } finally {
            buffers.close();
        }
    }
}
