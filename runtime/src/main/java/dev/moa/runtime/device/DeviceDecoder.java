package dev.moa.runtime.device;

import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.CacheLayout;
import dev.moa.plans.HeadSpans;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.RotaryEmbedding;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.DeviceBuffer;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernels.AttentionKernels;
import dev.moa.tasks.kernels.MatVecKernels;
import dev.moa.tasks.kernels.Step;
import dev.moa.tasks.kernels.VectorKernels;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/**
 * One session's decode step as a device program: the Llama layer of {@code LlamaModel} (embed; per layer RMSNorm,
 * fused q/k/v with bias, RoPE + cache write, MoA attention over each head's span, output projection with bias and
 * residual, RMSNorm, fused gate/up, SwiGLU, down projection with residual; final norm and output head) written as
 * one {@link TaskGraph} over device buffers. The graph is built once per session and replayed every token; what
 * changes per token (token id, position) is in the {@link Step} buffer, rewritten before each replay.
 *
 * <p>The KV cache is the session's CPU cache moved to the device in its own {@link CacheLayout} (the prompt was
 * prefilled on the CPU, with MoA's block-sparse prefill): per layer, each KV group's sink then ring slots, the
 * position each slot holds, and every query head's sink and window.
 */
public final class DeviceDecoder implements AutoCloseable {
    private final Backend backend;
    private final Arena arena = Arena.ofShared();
    private final List<DeviceBuffer> owned = new ArrayList<>();
    private final ModelConfig config;
    private final I32Buffer step;
    private final F32Buffer logits;
    private final float[] hostLogits;
    private final TaskGraph graph = new TaskGraph();
    /** The step, then the argmax of its logits on the device: greedy decoding reads back two ints, not the logits. */
    private final TaskGraph greedyGraph = new TaskGraph();
    private final I32Buffer chosen;
    private final long kvBytes;

    /**
     * Moves {@code cache} (after prefill, {@code cached} positions written) to the device and builds the step for a
     * session that can reach {@code capacity} positions.
     */
    DeviceDecoder(ModelConfig config, DeviceWeights weights, Backend backend, KvCache cache, int cached, int capacity) {
        this.backend = backend;
        this.config = config;
        int hidden = config.hiddenSize(), heads = config.numHeads(), kvHeads = config.numKvHeads(), headDim = config.headDim();
        int qkvRows = config.queryDim() + 2 * config.kvDim(), inter = config.intermediateSize(), vocab = config.vocabSize();
        float eps = (float) config.rmsNormEps(), scale = (float) (1.0 / Math.sqrt(headDim));
        CacheLayout layout = cache.layout();
        HeadSpans spans = layout.spans();

        step = own(I32Buffer.allocate(arena, Step.SIZE));
        F32Buffer x = f32(hidden), xb = f32(hidden), qkv = f32(qkvRows), attention = f32(config.queryDim());
        F32Buffer gateUp = f32(2L * inter), activation = f32(inter);
        logits = f32(vocab);
        hostLogits = new float[vocab];
        F32Buffer[] angles = ropeTable(config, capacity);

        // each KV group's keys and values read once for all its query heads, where shared memory holds them
        boolean grouped = heads / kvHeads <= AttentionKernels.MAX_GROUP_HEADS && headDim <= AttentionKernels.MAX_HEAD_DIM;
        int splits = 1;
        for (int l = 0; l < config.numLayers(); l++) {
            for (int g = 0; g < kvHeads; g++) splits = Math.max(splits, AttentionKernels.splits(layout.groupSlots(l, g), grouped));
        }
        F32Buffer partialOut = f32((long) heads * splits * headDim), partialMax = f32((long) heads * splits), partialSum = f32((long) heads * splits);

        weights.embedding.gather(graph, step, x);
        long bytes = 0;
        for (int l = 0; l < config.numLayers(); l++) {
            DeviceWeights.Layer w = weights.layers[l];
            // this layer's cache, in the layout the CPU cache used
            long slots = layout.layerSlots(l);
            F32Buffer keys = f32(slots * headDim), values = f32(slots * headDim);
            I32Buffer positions = own(I32Buffer.allocate(arena, slots)), offsets = own(I32Buffer.allocate(arena, kvHeads)),
                    rings = own(I32Buffer.allocate(arena, kvHeads));
            for (int g = 0; g < kvHeads; g++) {
                int offset = layout.offset(l, g);
                offsets.set(g, offset);
                rings.set(g, layout.ringSlots(l, g));
                cache.exportGroup(l, g, keys.memory(), values.memory(), (long) offset * headDim);
                for (int s = 0; s < layout.groupSlots(l, g); s++) positions.set(offset + s, (int) layout.positionAt(l, g, s, cached));
            }
            bytes += keys.memory().byteSize() + values.memory().byteSize();
            I32Buffer sink = own(I32Buffer.of(arena, spans.sink()[l])), local = own(I32Buffer.of(arena, spans.local()[l]));
            int layerSplits = 1;
            for (int g = 0; g < kvHeads; g++) layerSplits = Math.max(layerSplits, AttentionKernels.splits(layout.groupSlots(l, g), grouped));

            String at = "layer " + l + " ";
            graph.task(at + "attention norm", VectorKernels.class, "rmsNorm", Grid.of(1, VectorKernels.ROW_GROUP), x, w.attentionNorm(), xb, hidden, eps);
            w.qkv().multiply(graph, at + "q/k/v", xb, bias(weights, w.qkvBias()), qkv, w.qkvBias() == null ? 0 : MatVecKernels.BIAS);
            graph.task(at + "rope + cache", AttentionKernels.class, "ropeAndCache", Grid.of(heads + kvHeads, AttentionKernels.GROUP),
                    qkv, angles[0], angles[1], keys, values, positions, offsets, rings, step, layout.sinkSlots(), heads, kvHeads, headDim);
            graph.task(at + "attention", AttentionKernels.class, grouped ? "decodeGrouped" : "decodeSplit",
                    grouped ? Grid.of(kvHeads, layerSplits, AttentionKernels.GROUPED) : Grid.of(heads, layerSplits, AttentionKernels.GROUP),
                    qkv, keys, values, positions, offsets, rings, sink, local, partialOut, partialMax, partialSum, step,
                    layout.sinkSlots(), heads, kvHeads, headDim, scale);
            graph.task(at + "attention combine", AttentionKernels.class, "combine", Grid.of(heads, AttentionKernels.GROUP),
                    partialOut, partialMax, partialSum, attention, layerSplits, headDim);
            w.output().multiply(graph, at + "output + residual", attention, bias(weights, w.outputBias()), x,
                    MatVecKernels.ACCUMULATE | (w.outputBias() == null ? 0 : MatVecKernels.BIAS));
            graph.task(at + "ffn norm", VectorKernels.class, "rmsNorm", Grid.of(1, VectorKernels.ROW_GROUP), x, w.ffnNorm(), xb, hidden, eps);
            w.gateUp().multiply(graph, at + "gate/up", xb, weights.noBias, gateUp, 0);
            graph.task(at + "swiglu", VectorKernels.class, "swiGlu", Grid.covering(inter, 256), gateUp, activation, inter);
            w.down().multiply(graph, at + "down + residual", activation, weights.noBias, x, MatVecKernels.ACCUMULATE);
        }
        kvBytes = bytes;
        graph.task("final norm", VectorKernels.class, "rmsNorm", Grid.of(1, VectorKernels.ROW_GROUP), x, weights.finalNorm, xb, hidden, eps);
        weights.lmHead.multiply(graph, "output head", xb, weights.noBias, logits, 0);

        chosen = own(I32Buffer.allocate(arena, 2));
        for (TaskGraph.Task t : graph.tasks()) greedyGraph.task(t.name(), t.owner(), t.method(), t.grid(), t.args().toArray());
        greedyGraph.task("argmax", VectorKernels.class, "argmax", Grid.of(1, VectorKernels.ROW_GROUP), logits, chosen, vocab);
    }

    /**
     * Runs the step for {@code token} at {@code position}: its key and value go into the device cache, and the
     * next-token logits come back (the returned array is reused by the next call).
     */
    public float[] decode(int token, int position) {
        step.set(Step.TOKEN, token);
        step.set(Step.POSITION, position);
        backend.upload(step);
        backend.run(graph);
        backend.download(logits);
        java.lang.foreign.MemorySegment.copy(logits.memory(), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, hostLogits, 0, hostLogits.length);
        return hostLogits;
    }

    /**
     * Where a step's time goes on a CUDA device: microseconds per launch of each task alone (see
     * {@link dev.moa.tasks.graph.CudaBackend#profile}), by task of {@link #tasks()}, after a greedy step; null on
     * other backends.
     */
    public double[] profile(int repeats) {
        return backend instanceof dev.moa.tasks.graph.CudaBackend cuda ? cuda.profile(greedyGraph, repeats) : null;
    }

    /**
     * Runs the step for {@code token} at {@code position} and returns the next token by argmax on the device, reading
     * back only it and a flag; returns -1 when a logit is not a finite number (then {@link #logits()} tells which).
     */
    public int decodeGreedy(int token, int position) {
        step.set(Step.TOKEN, token);
        step.set(Step.POSITION, position);
        backend.upload(step);
        backend.run(greedyGraph);
        backend.download(chosen);
        return chosen.get(1) == 0 ? chosen.get(0) : -1;
    }

    /** The last step's logits, read back from the device. */
    public float[] logits() {
        backend.download(logits);
        java.lang.foreign.MemorySegment.copy(logits.memory(), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, hostLogits, 0, hostLogits.length);
        return hostLogits;
    }

    /** The launches of one greedy step, in order (a step that returns logits stops before the last, the argmax). */
    public List<TaskGraph.Task> tasks() {
        return greedyGraph.tasks();
    }

    /** Bytes of the device KV cache. */
    public long kvCacheBytes() {
        return kvBytes;
    }

    /** Frees the step's capture and this session's device buffers (the model's weights stay). */
    @Override
    public void close() {
        backend.forget(graph);
        backend.forget(greedyGraph);
        owned.forEach(backend::free);
        arena.close();
    }

    private F32Buffer bias(DeviceWeights weights, F32Buffer bias) {
        return bias == null ? weights.noBias : bias;
    }

    private F32Buffer f32(long elements) {
        return own(F32Buffer.allocate(arena, elements));
    }

    private <B extends DeviceBuffer> B own(B buffer) {
        owned.add(buffer);
        return buffer;
    }

    /** cos and sin of every (position, pair) angle below {@code capacity}, as the CPU computes them. */
    private F32Buffer[] ropeTable(ModelConfig config, int capacity) {
        int half = config.headDim() / 2;
        F32Buffer cos = f32((long) capacity * half), sin = f32((long) capacity * half);
        RotaryEmbedding rope = new RotaryEmbedding(config);
        int chunk = 1024;
        int[] positions = new int[chunk];
        for (int from = 0; from < capacity; from += chunk) {
            int n = Math.min(chunk, capacity - from);
            for (int t = 0; t < n; t++) positions[t] = from + t;
            RotaryEmbedding.Angles a = rope.angles(positions, n);
            java.lang.foreign.MemorySegment.copy(a.cos(), 0, cos.memory(), java.lang.foreign.ValueLayout.JAVA_FLOAT, (long) from * half * 4, n * half);
            java.lang.foreign.MemorySegment.copy(a.sin(), 0, sin.memory(), java.lang.foreign.ValueLayout.JAVA_FLOAT, (long) from * half * 4, n * half);
        }
        return new F32Buffer[] {cos, sin};
    }
}
