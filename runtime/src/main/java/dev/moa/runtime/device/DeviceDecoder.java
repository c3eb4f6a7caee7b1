package dev.moa.runtime.device;

import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.CacheLayout;
import dev.moa.plans.HeadSpans;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.KvFormat;
import dev.moa.runtime.model.LlamaLayer;
import dev.moa.tasks.cpu.Parallel;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernels.AttentionKernels;
import dev.moa.tasks.kernels.MatVecKernels;
import dev.moa.tasks.kernels.NormedMatVecKernels;
import dev.moa.tasks.kernels.SamplingKernels;
import dev.moa.tasks.kernels.Step;
import dev.moa.tasks.kernels.VectorKernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The decode step of B sessions (rows) as one device program: the Llama layer of {@code LlamaModel} (embed; per
 * layer RMSNorm, fused q/k/v with bias, RoPE + cache write, MoA attention over each head's span, output projection
 * with bias and residual, RMSNorm, fused gate/up, SwiGLU, down projection with residual; final norm and output head)
 * written as one {@link TaskGraph} over device buffers, each launch covering all rows: the matmuls read each weight
 * once for the whole batch, attention runs per row over that row's own cache. The graph is built once per set of
 * sessions and replayed every token; what changes per token (each row's token id and position) is in the
 * {@link Step} buffer, rewritten before each replay.
 *
 * <p>Each row's KV cache is its session's region of the device's {@link KvPool} (its layers one after another,
 * each in its own {@link CacheLayout}: per KV group sink then ring slots, with the position each slot holds); the
 * rows' slot offsets per layer and KV group, rings, sink sizes and every query head's sink and window are small
 * buffers the kernels index by row. So sessions of different lengths, dense or under different plans, step
 * together, and a new set of sessions gets a new step over the same regions: nothing is copied when the batch
 * changes. A row's region is filled by a prompt run on the device ({@link DevicePrefill}), or from its CPU cache
 * when its session first steps on the device.
 */
public final class DeviceDecoder implements AutoCloseable {
    /**
     * One session of the batch: its cache (the layout and format; on the CPU where the session prefilled there)
     * holding {@code cached} positions, and the positions it may reach; its {@code region} of the device's KV pool
     * (null: the step makes one for it, freed with the step), which {@code filled} says holds the cache already (a
     * device prompt ran into it, or an earlier step), else it is filled from the CPU cache.
     */
    public record Row(KvCache cache, int cached, int capacity, KvPool.Region region, boolean filled) {
        /** A session whose cache is on the CPU, copied into a region of the step's own. */
        public Row(KvCache cache, int cached, int capacity) {
            this(cache, cached, capacity, null, false);
        }
    }

    private final Backend backend;
    private final OwnedBuffers buffers;
    private final List<Row> rows;
    private final int vocab, headDim;
    private final I32Buffer step;
    private final F32Buffer logits;
    private final float[][] hostLogits;
    private final TaskGraph graph = new TaskGraph();
    /**
     * The step, then the argmax of each row's logits on the device: greedy decoding reads back 2 ints per row. The argmax
     * also moves each row's step on to its token ({@link VectorKernels#argmaxOnward}), so that a replay queued next needs
     * nothing from the host ({@link #decodeGreedy}).
     */
    private final TaskGraph greedyGraph = new TaskGraph();
    private final I32Buffer chosen;
    /**
     * The greedy step with the plain argmax, which leaves the step buffer as it was: what {@link #profile} and {@link
     * #profileInGraph} replay over and over, all at one position (the greedy step's argmax would move it on each time).
     */
    private final TaskGraph profiledGraph = new TaskGraph();
    /**
     * The step, the argmax, then each sampled row's draw ({@link SamplingKernels#sample}) over its parameters in {@link
     * #draws}, then every row's step moved on to its token ({@link VectorKernels#stepOnward}).
     */
    private final TaskGraph drawingGraph = new TaskGraph();
    private final I32Buffer draws;
    /** Per layer: how every row's keys and values are laid out in the pool. */
    private final LayerCache[] layers;
    /** The pool the rows' caches are in, and its generation the step was built over. */
    private final KvPool pool;
    private final int generation;
    /** Regions this step made for rows that came without one (freed with it). */
    private final List<KvPool.Region> ownRegions = new java.util.ArrayList<>();
    private final long kvBytes;
    /** Whether {@link #decodeGreedy} queues the next step before it reads this one's tokens ({@link Accelerator#stepAhead}). */
    private final boolean stepAhead;
    /** The step {@link #decodeGreedy} queued ahead, until the host takes it or anything else runs; null when none. */
    private Ahead ahead;
    /** After a step that queued the next: the rows that moved on in it (their logits on the device are the next step's); else null. */
    private boolean[] movedOn;
    /** The step the host last asked for (null before the first): what a profile replays where none was queued ahead. */
    private int[] lastTokens, lastPositions;

    /**
     * Fills the rows' regions of {@code pool} that do not hold their caches yet and builds the step over them; with
     * {@code tensorProducts}, the step's
     * products with BF16 weights run on the tensor cores as GEMMs over the rows (split over their columns where their
     * tiles are few), else as batched matvecs; with {@code stagedAttention}, the grouped decode attention stages its keys
     * and values in shared memory where the cache's rows allow ({@link AttentionKernels#decodeStaged}), else reads them
     * from memory as it uses them ({@link AttentionKernels#decodeGrouped}); with {@code sharedRows}, a matvec (one
     * row's, or the batched one) over a 16-bit matrix of few rows shares each row's (or row pair's) columns among warps
     * ({@link MatVecKernels#parts}, {@link MatVecKernels#batchParts}, {@link NormedMatVecKernels#parts}); with
     * {@code stepAhead}, a greedy step queues the next before it reads its tokens ({@link #decodeGreedy}).
     */
    DeviceDecoder(ModelConfig config, DeviceWeights weights, Backend backend, KvPool pool, List<Row> rows, boolean tensorProducts,
                  boolean stagedAttention, boolean sharedRows, boolean stepAhead) {
        if (rows.isEmpty()) throw new IllegalArgumentException("a device step needs at least one session");
        this.backend = backend;
        this.stepAhead = stepAhead;
        this.buffers = new OwnedBuffers(backend);
        this.rows = List.copyOf(rows);
        int batch = rows.size(), layerCount = config.numLayers();
        int hidden = config.hiddenSize(), heads = config.numHeads(), kvHeads = config.numKvHeads();
        int qkvRows = config.queryDim() + 2 * config.kvDim(), inter = config.intermediateSize();
        this.vocab = config.vocabSize();
        this.headDim = config.headDim();
        float eps = (float) config.rmsNormEps();
        CacheLayout[] layouts = rows.stream().map(r -> r.cache().layout()).toArray(CacheLayout[]::new);
        KvFormat format = rows.getFirst().cache().format();
        for (Row r : rows) {
            if (r.cache().format() != format) {
                throw new IllegalArgumentException("sessions with " + format + " and " + r.cache().format() + " KV caches cannot step together on a device");
            }
        }

        // each KV group's keys and values read once for all its query heads, where shared memory holds them
        boolean grouped = heads / kvHeads <= AttentionKernels.MAX_GROUP_HEADS && headDim <= AttentionKernels.MAX_HEAD_DIM;
        boolean staged = grouped && stagedAttention && AttentionKernels.staged(headDim, format.kernelFlag());
        step = buffers.i32((long) batch * Step.SIZE);
        // on the tensor cores the products read their activations as BF16 parts, which the norms, the attention (the
        // grouped kernels' merge; a split after the combine's floats otherwise) and the gate/up product (SwiGLU its
        // epilogue) write (DeviceWeights.takeParts: every layer's matrices BF16 rows the pipelined GEMM takes); then the
        // normed stream's floats serve only an output head that does not take parts, the attention's and SwiGLU's nothing
        boolean parts = tensorProducts && !fuses(batch, weights) && weights.takeParts(TensorProducts.SPLIT, backend);
        F32Buffer x = buffers.f32((long) batch * hidden), qkv = buffers.f32((long) batch * qkvRows);
        F32Buffer xb = parts && weights.lmHead.takesParts() ? null : buffers.f32((long) batch * hidden);
        F32Buffer attention = parts && grouped ? null : buffers.f32((long) batch * config.queryDim());
        F32Buffer gateUp = buffers.f32(2L * batch * inter), activation = parts ? null : buffers.f32((long) batch * inter);
        logits = buffers.f32((long) batch * vocab);
        hostLogits = new float[batch][vocab];
        int capacity = rows.stream().mapToInt(Row::capacity).max().orElseThrow();
        if (capacity > config.maxPositions()) throw new IllegalArgumentException("a session reaches position " + capacity + ", past the model's " + config.maxPositions());
        I32Buffer sinkSlots = buffers.i32(batch);
        for (int b = 0; b < batch; b++) sinkSlots.set(b, layouts[b].sinkSlots());

        int[] layerSplits = new int[layerCount];
        int splits = 1;
        for (int l = 0; l < layerCount; l++) {
            layerSplits[l] = 1;
            for (CacheLayout layout : layouts) {
                for (int g = 0; g < kvHeads; g++) layerSplits[l] = Math.max(layerSplits[l], AttentionKernels.splits(layout.groupSlots(l, g), grouped));
            }
            splits = Math.max(splits, layerSplits[l]);
        }
        long partials = (long) batch * heads * splits;
        F32Buffer partialOut = buffers.f32(partials * headDim), partialMax = buffers.f32(partials), partialSum = buffers.f32(partials);

        if (pool.format() != format) throw new IllegalArgumentException("a " + format + " step over a " + pool.format() + " KV pool");
        this.pool = pool;
        layers = new LayerCache[layerCount];
        KvPool.Region[] regions = new KvPool.Region[batch];
        long bytes = 0;
        try {
            List<Integer> without = new java.util.ArrayList<>(); // rows that come without a region: made together
            for (int b = 0; b < batch; b++) {
                Row r = rows.get(b);
                if (r.region() == null) {
                    without.add(b);
                    continue;
                }
                if (r.region().pool() != pool) throw new IllegalArgumentException("row " + b + "'s region is in another KV pool");
                if (r.region().length() != layouts[b].slots()) {
                    throw new IllegalArgumentException("row " + b + "'s region holds " + r.region().length() + " slots, its cache " + layouts[b].slots());
                }
                regions[b] = r.region();
            }
            if (!without.isEmpty()) {
                KvPool.Region[] made = pool.allocate(without.stream().mapToLong(b -> layouts[b].slots()).toArray());
                for (int i = 0; i < made.length; i++) ownRegions.add(regions[without.get(i)] = made[i]);
            }
            for (KvPool.Region r : regions) bytes += r.byteSize();
            generation = pool.generation(); // (a region made just now may have grown the pool)
            int[][] layerBase = new int[layerCount][batch]; // row b's first slot of layer l: its region's layers one after another
            for (int b = 0; b < batch; b++) {
                long at = regions[b].start();
                for (int l = 0; l < layerCount; l++) {
                    layerBase[l][b] = (int) at;
                    at += layouts[b].layerSlots(l);
                }
            }
            for (int l = 0; l < layerCount; l++) {
                layers[l] = new LayerCache(pool.kv(), pool.positions(), buffers.i32((long) batch * kvHeads), buffers.i32((long) batch * kvHeads),
                        buffers.i32((long) batch * heads), buffers.i32((long) batch * heads), layerSplits[l]);
                for (int b = 0; b < batch; b++) describeRow(l, b, layers[l], layouts[b], layerBase[l][b], kvHeads, heads);
            }
            fill(layouts, layerBase, regions, kvHeads);
        } catch (RuntimeException | Error e) { // out of device memory, say: the sessions' regions stay as they were
            close();
            throw e;
        }
        kvBytes = bytes;

        // the model's forward, as launches over all rows: LlamaLayer's steps, recorded
        weights.embedding.gather(graph, step, x, batch);
        F32Buffer products = tensorProducts ? buffers.f32(Math.max(1, Math.max(weights.partialFloats(batch), weights.lmHead.partialFloats(batch))))
                : null;
        ActivationParts normedParts = parts ? ActivationParts.allocate(buffers, (long) batch * hidden, TensorProducts.SPLIT) : null;
        ActivationParts attentionParts = parts ? ActivationParts.allocate(buffers, (long) batch * config.queryDim(), TensorProducts.SPLIT) : null;
        ActivationParts activationParts = parts ? ActivationParts.allocate(buffers, (long) batch * inter, TensorProducts.SPLIT) : null;
        GraphSteps steps = new GraphSteps(config, weights, batch, new Activations(x, xb, qkv, attention, gateUp, activation, partialOut,
                partialMax, partialSum, normedParts, attentionParts, activationParts), sinkSlots, grouped, staged, products, sharedRows);
        for (int l = 0; l < layerCount; l++) LlamaLayer.run(steps, l);
        if (steps.fused) {
            weights.lmHead.multiplyNormed(graph, "final norm + output head", x, weights.finalNorm, eps, weights.noBias, logits, 0, sharedRows);
        } else if (parts && weights.lmHead.takesParts()) {
            normedParts.rmsNorm(graph, "final norm", x, weights.finalNorm, batch, hidden, eps);
            weights.lmHead.multiplyParts(graph, "output head", normedParts, weights.noBias, logits, 0, batch, products);
        } else {
            graph.task("final norm", VectorKernels.class, "rmsNorm", Grid.of(batch, VectorKernels.ROW_GROUP), x, weights.finalNorm, xb, hidden, eps);
            steps.product(weights.lmHead, "output head", xb, weights.noBias, logits, 0);
        }

        chosen = buffers.i32(2L * batch);
        int chunks = VectorKernels.ARGMAX_CHUNKS;
        Grid argmaxGrid = Grid.of(chunks, batch, VectorKernels.ROW_GROUP);
        F32Buffer argmaxValues = buffers.f32((long) batch * chunks);
        I32Buffer argmaxInts = buffers.i32(2L * batch * chunks), arrivals = buffers.i32(batch);
        for (TaskGraph.Task t : graph.tasks()) greedyGraph.task(t.name(), t.owner(), t.method(), t.grid(), t.args().toArray());
        greedyGraph.task("argmax", VectorKernels.class, "argmaxOnward", argmaxGrid, logits, argmaxValues, argmaxInts, arrivals, chosen, step, vocab);
        for (TaskGraph.Task t : graph.tasks()) profiledGraph.task(t.name(), t.owner(), t.method(), t.grid(), t.args().toArray());
        profiledGraph.task("argmax", VectorKernels.class, "argmax", argmaxGrid, logits, argmaxValues, argmaxInts, arrivals, chosen, vocab);
        draws = buffers.i32((long) batch * SamplingKernels.DRAW_SIZE);
        for (TaskGraph.Task t : graph.tasks()) drawingGraph.task(t.name(), t.owner(), t.method(), t.grid(), t.args().toArray());
        drawingGraph.task("argmax", VectorKernels.class, "argmax", argmaxGrid, logits, argmaxValues, argmaxInts, arrivals, chosen, vocab);
        drawingGraph.task("sample", SamplingKernels.class, "sample", Grid.of(batch, SamplingKernels.GROUP), logits, draws, chosen, vocab);
        drawingGraph.task("sample wide", SamplingKernels.class, "sampleWide", Grid.of(batch, SamplingKernels.WIDE), logits, draws, chosen, vocab);
        drawingGraph.task("step onward", VectorKernels.class, "stepOnward", Grid.covering(batch, VectorKernels.ROW_GROUP), chosen, step, batch);
    }

    /** Row {@code b}'s part of layer {@code l}'s tables: its KV groups' first slots and rings, its query heads' sinks and windows. */
    private static void describeRow(int l, int b, LayerCache cache, CacheLayout layout, int layerBase, int kvHeads, int heads) {
        for (int g = 0; g < kvHeads; g++) {
            cache.offsets().set((long) b * kvHeads + g, layerBase + layout.offset(l, g));
            cache.rings().set((long) b * kvHeads + g, layout.ringSlots(l, g));
        }
        HeadSpans spans = layout.spans();
        for (int h = 0; h < heads; h++) {
            cache.sink().set((long) b * heads + h, spans.sink()[l][h]);
            cache.local().set((long) b * heads + h, spans.local()[l][h]);
        }
    }

    /**
     * The regions of the rows that do not hold their caches yet, from their CPU caches: exported into the pool's host
     * copy (layers in parallel: a batch of long caches is gigabytes; a cache's export may settle its own state, but
     * only the layer's) and uploaded region by region, with the position each slot holds, from the layout.
     */
    private void fill(CacheLayout[] layouts, int[][] layerBase, KvPool.Region[] regions, int kvHeads) {
        KvBuffers kv = pool.kv();
        dev.moa.tasks.kernel.I32Buffer positions = pool.positions();
        long slotBytes = pool.slotBytes();
        boolean any = false;
        for (Row r : rows) any |= !r.filled();
        if (!any) return;
        // rows of one CPU cache at one length (a benchmark's copies of one long cache) go through the host once: the
        // first such row is exported and uploaded, the others copied from its region on the device
        int[] sameAs = new int[rows.size()];
        for (int b = 0; b < rows.size(); b++) {
            sameAs[b] = -1;
            for (int a = 0; a < b && sameAs[b] < 0; a++) {
                Row x = rows.get(a), y = rows.get(b);
                if (!x.filled() && !y.filled() && sameAs[a] < 0 && x.cache() == y.cache() && x.cached() == y.cached()) sameAs[b] = a;
            }
        }
        Parallel.forRange(layers.length, 1, (from, to) -> {
            for (int l = from; l < to; l++) {
                for (int b = 0; b < rows.size(); b++) {
                    Row row = rows.get(b);
                    if (row.filled() || sameAs[b] >= 0) continue;
                    CacheLayout layout = layouts[b];
                    for (int g = 0; g < kvHeads; g++) {
                        int offset = layerBase[l][b] + layout.offset(l, g);
                        row.cache().exportGroup(l, g, kv.keyMemory(), kv.valueMemory(), (long) offset * headDim);
                        for (int s = 0; s < layout.groupSlots(l, g); s++) positions.set(offset + s, (int) layout.positionAt(l, g, s, row.cached()));
                    }
                }
            }
        });
        for (int b = 0; b < rows.size(); b++) {
            if (rows.get(b).filled()) continue;
            long start = regions[b].start(), slots = regions[b].length();
            if (sameAs[b] >= 0) {
                long first = regions[sameAs[b]].start();
                backend.copy(kv.keyBuffer(), first * slotBytes, kv.keyBuffer(), start * slotBytes, slots * slotBytes);
                backend.copy(kv.valueBuffer(), first * slotBytes, kv.valueBuffer(), start * slotBytes, slots * slotBytes);
                backend.copy(positions, first * Integer.BYTES, positions, start * Integer.BYTES, slots * Integer.BYTES);
                continue;
            }
            backend.upload(kv.keyBuffer(), start * slotBytes, slots * slotBytes);
            backend.upload(kv.valueBuffer(), start * slotBytes, slots * slotBytes);
            backend.upload(positions, start * Integer.BYTES, slots * Integer.BYTES);
        }
    }

    /**
     * One layer's MoA caches on the device: every row's keys and values, the position each slot holds, per row and
     * KV group the first slot and ring size, per row and query head its sink and window; splits of its attention.
     */
    private record LayerCache(KvBuffers kv, I32Buffer positions, I32Buffer offsets, I32Buffer rings, I32Buffer sink,
                              I32Buffer local, int splits) {
    }

    /**
     * The step's activations, all rows: residual stream, normed input, q/k/v, attention output, gate/up, SwiGLU, attention
     * splits; and where the products take BF16 parts ({@link DeviceMatrix#multiplyParts}), the normed input, the
     * attention output and SwiGLU's as parts (else null), and then no SwiGLU floats, no attention floats where the
     * grouped attention writes the parts, nor normed ones where the output head takes parts too.
     */
    private record Activations(F32Buffer x, F32Buffer xb, F32Buffer qkv, F32Buffer attention, F32Buffer gateUp, F32Buffer activation,
                               F32Buffer partialOut, F32Buffer partialMax, F32Buffer partialSum, ActivationParts normedParts,
                               ActivationParts attentionParts, ActivationParts activationParts) {
        boolean parts() {
            return normedParts != null;
        }
    }

    /** Whether a step of {@code batch} sessions over these weights is {@link GraphSteps#fused}. */
    private static boolean fuses(int batch, DeviceWeights weights) {
        return batch == 1 && weights.normedHalf;
    }

    /**
     * {@link LlamaLayer}'s steps as launches appended to the step's graph, each over all rows: RMSNorm one group per
     * row, the matmuls with bias and residual epilogues ({@link #product}: a GEMM on the tensor cores over the rows
     * where the step takes them — over BF16 parts the norms, the attention (the grouped kernels' merge, else a split
     * after the combine) and the gate/up product (SwiGLU its epilogue) write, where every layer's matrices take them ({@link ActivationParts}) — else this
     * format's batched matvec), RoPE fused with the cache write, attention (grouped per KV group where shared memory
     * holds the group, merging its own splits; else per query head, then a combine of its splits), SwiGLU over the
     * fused gate/up output where the products take floats.
     *
     * <p>A one-session step over 16-bit weights is {@link #fused}: there each RMSNorm is applied inside the matvec it
     * feeds, RoPE and the cache write are the q/k/v matvec's epilogue and SwiGLU the gate/up matvec's
     * ({@link NormedMatVecKernels}), so {@link #rmsNorm}, {@link #rope} and {@link #swiGlu} append nothing: at batch 1
     * the step's time is mostly small launches, not weight traffic. Batched steps keep the separate kernels (the
     * batched matvecs read each weight once for four rows; a norm per row inside them would cost more than it saves).
     */
    private final class GraphSteps implements LlamaLayer.Steps {
        private final DeviceWeights weights;
        private final int batch, hidden, heads, kvHeads, inter;
        private final float eps, scale;
        private final Activations a;
        private final I32Buffer sinkSlots;
        private final boolean grouped, staged;
        /** The grouped attention's per (row, KV group) count of finished splits: zero between launches, so one serves every layer. */
        private final I32Buffer arrivals;
        /** Norms, RoPE + cache and SwiGLU folded into the matvecs (one session, 16-bit weights). */
        final boolean fused;
        /** Where BF16 products run on the tensor cores, their split partial sums; null where they are batched matvecs. */
        private final F32Buffer products;
        private final boolean sharedRows;

        GraphSteps(ModelConfig config, DeviceWeights weights, int batch, Activations a, I32Buffer sinkSlots, boolean grouped, boolean staged,
                   F32Buffer products, boolean sharedRows) {
            this.weights = weights;
            this.batch = batch;
            this.hidden = config.hiddenSize();
            this.heads = config.numHeads();
            this.kvHeads = config.numKvHeads();
            this.inter = config.intermediateSize();
            this.eps = (float) config.rmsNormEps();
            this.scale = (float) (1.0 / Math.sqrt(headDim));
            this.a = a;
            this.sinkSlots = sinkSlots;
            this.grouped = grouped;
            this.staged = staged;
            this.arrivals = buffers.i32((long) batch * kvHeads);
            this.fused = fuses(batch, weights);
            this.products = products;
            this.sharedRows = sharedRows;
        }

        /**
         * {@code out (+)= m · x (+ bias)} for every row: a GEMM on the tensor cores where the step takes them and
         * {@code m} is BF16 (each weight read once for all rows), else the batched matvec.
         */
        void product(DeviceMatrix m, String name, F32Buffer x, F32Buffer bias, F32Buffer out, int epilogue) {
            if (a.parts()) throw new IllegalStateException(name + ": this step's products read BF16 parts");
            if (products != null && m.format() == dev.moa.tasks.cpu.WeightFormat.BF16) {
                m.multiplyTokens(graph, name, x, bias, out, epilogue, batch, TensorProducts.SPLIT, products, weights.noHalf);
            } else {
                m.multiply(graph, name, x, bias, out, epilogue, batch, sharedRows);
            }
        }

        /** {@code out (+)= m · x (+ bias)} for every row, x in BF16 parts: the pipelined GEMM, split over the columns ({@code products}). */
        void product(DeviceMatrix m, String name, ActivationParts x, F32Buffer bias, F32Buffer out, int epilogue) {
            m.multiplyParts(graph, name, x, bias, out, epilogue, batch, products);
        }

        private static String at(int layer) {
            return "layer " + layer + " ";
        }

        @Override
        public void rmsNorm(int layer, LlamaLayer.Norm which) {
            if (fused) return; // the next matvec normalises x itself
            DeviceWeights.Layer w = weights.layers[layer];
            boolean attentionNorm = which == LlamaLayer.Norm.ATTENTION;
            String name = at(layer) + (attentionNorm ? "attention norm" : "ffn norm");
            F32Buffer norm = attentionNorm ? w.attentionNorm() : w.ffnNorm();
            if (a.parts()) a.normedParts().rmsNorm(graph, name, a.x(), norm, batch, hidden, eps);
            else graph.task(name, VectorKernels.class, "rmsNorm", Grid.of(batch, VectorKernels.ROW_GROUP), a.x(), norm, a.xb(), hidden, eps);
        }

        @Override
        public void qkv(int layer) {
            DeviceWeights.Layer w = weights.layers[layer];
            if (fused) {
                LayerCache c = layers[layer];
                DeviceMatrix m = w.qkv();
                int parts = sharedRows ? NormedMatVecKernels.parts(m.rows() / 2, m.cols()) : 1;
                graph.task(at(layer) + "norm + q/k/v + rope + cache", NormedMatVecKernels.class, "halfRope",
                        NormedMatVecKernels.grid(m.rows() / 2, parts), m.data(), a.x(), w.attentionNorm(), weights.bias(w.qkvBias()), a.qkv(),
                        weights.cos, weights.sin, c.kv().keys(), c.kv().values(), c.kv().keys16(), c.kv().values16(), c.positions(), c.offsets(),
                        c.rings(), step, sinkSlots, heads, kvHeads, headDim, m.cols(), eps,
                        (w.qkvBias() == null ? 0 : MatVecKernels.BIAS) | (sharedRows ? NormedMatVecKernels.PREFETCH_KV : 0), m.ieee(),
                        c.kv().format().kernelFlag(), parts);
                return;
            }
            int epilogue = w.qkvBias() == null ? 0 : MatVecKernels.BIAS;
            if (a.parts()) product(w.qkv(), at(layer) + "q/k/v", a.normedParts(), weights.bias(w.qkvBias()), a.qkv(), epilogue);
            else product(w.qkv(), at(layer) + "q/k/v", a.xb(), weights.bias(w.qkvBias()), a.qkv(), epilogue);
        }

        @Override
        public void rope(int layer) {
            if (fused) return; // the q/k/v matvec's epilogue
            LayerCache c = layers[layer];
            graph.task(at(layer) + "rope + cache", AttentionKernels.class, "ropeAndCache", Grid.of(heads + kvHeads, batch, AttentionKernels.GROUP),
                    a.qkv(), weights.cos, weights.sin, c.kv().keys(), c.kv().values(), c.kv().keys16(), c.kv().values16(), c.positions(), c.offsets(),
                    c.rings(), step, sinkSlots, heads, kvHeads, headDim, c.kv().format().kernelFlag());
        }

        @Override
        public void attention(int layer) {
            LayerCache c = layers[layer];
            if (grouped) { // the last split of each group to finish merges the group's splits
                Grid grid = new Grid(kvHeads, c.splits(), batch, AttentionKernels.GROUPED);
                if (staged) grid = grid.withSharedBytes(AttentionKernels.stagedSharedBytes(heads / kvHeads, headDim, c.kv().format().kernelFlag()));
                String kernel = staged ? "decodeStaged" : "decodeGrouped";
                if (a.parts()) { // the merge writes the output projection's two parts: no float output, no split launch
                    ActivationParts o = a.attentionParts(); // (TensorProducts.SPLIT: two parts)
                    graph.task(at(layer) + "attention", AttentionKernels.class, kernel + "Parts", grid,
                            a.qkv(), c.kv().keys(), c.kv().values(), c.kv().keys16(), c.kv().values16(), c.positions(), c.offsets(), c.rings(), c.sink(),
                            c.local(), a.partialOut(), a.partialMax(), a.partialSum(), arrivals, o.high(), o.low(), step, sinkSlots, heads,
                            kvHeads, headDim, scale, c.kv().format().kernelFlag());
                    return;
                }
                graph.task(at(layer) + "attention", AttentionKernels.class, kernel, grid,
                        a.qkv(), c.kv().keys(), c.kv().values(), c.kv().keys16(), c.kv().values16(), c.positions(), c.offsets(), c.rings(), c.sink(),
                        c.local(), a.partialOut(), a.partialMax(), a.partialSum(), arrivals, a.attention(), step, sinkSlots, heads, kvHeads, headDim,
                        scale, c.kv().format().kernelFlag());
                return;
            }
            graph.task(at(layer) + "attention", AttentionKernels.class, "decodeSplit", new Grid(heads, c.splits(), batch, AttentionKernels.GROUP),
                    a.qkv(), c.kv().keys(), c.kv().values(), c.kv().keys16(), c.kv().values16(), c.positions(), c.offsets(), c.rings(), c.sink(),
                    c.local(), a.partialOut(), a.partialMax(), a.partialSum(), step, sinkSlots, heads, kvHeads, headDim, scale,
                    c.kv().format().kernelFlag());
            graph.task(at(layer) + "attention combine", AttentionKernels.class, "combine", Grid.of(heads, batch, AttentionKernels.GROUP),
                    a.partialOut(), a.partialMax(), a.partialSum(), a.attention(), c.splits(), headDim);
        }

        @Override
        public void outputResidual(int layer) {
            DeviceWeights.Layer w = weights.layers[layer];
            int epilogue = MatVecKernels.ACCUMULATE | (w.outputBias() == null ? 0 : MatVecKernels.BIAS);
            if (a.parts()) { // (the grouped attention writes them itself; split the combine's floats)
                if (!grouped) a.attentionParts().split(graph, at(layer) + "attention parts", a.attention(), batch, heads * headDim);
                product(w.output(), at(layer) + "output + residual", a.attentionParts(), weights.bias(w.outputBias()), a.x(), epilogue);
            } else {
                product(w.output(), at(layer) + "output + residual", a.attention(), weights.bias(w.outputBias()), a.x(), epilogue);
            }
        }

        @Override
        public void gateUp(int layer) {
            if (fused) {
                DeviceWeights.Layer w = weights.layers[layer];
                w.gateUp().multiplyNormed(graph, at(layer) + "norm + gate/up + swiglu", a.x(), w.ffnNorm(), eps, weights.noBias, a.activation(),
                        NormedMatVecKernels.GLU, sharedRows);
                return;
            }
            if (a.parts()) { // SwiGLU the product's epilogue (or, where it is split over its columns, after the splits' sum)
                weights.layers[layer].gateUp().multiplyGlu(graph, at(layer) + "gate/up + swiglu", a.normedParts(), a.activationParts(), batch, products,
                        a.gateUp());
            } else {
                product(weights.layers[layer].gateUp(), at(layer) + "gate/up", a.xb(), weights.noBias, a.gateUp(), 0);
            }
        }

        @Override
        public void swiGlu(int layer) {
            if (fused || a.parts()) return; // the gate/up product's epilogue
            graph.task(at(layer) + "swiglu", VectorKernels.class, "swiGlu", Grid.of((inter + 255) / 256, batch, 256), a.gateUp(), a.activation(), inter);
        }

        @Override
        public void downResidual(int layer) {
            DeviceMatrix down = weights.layers[layer].down();
            if (a.parts()) product(down, at(layer) + "down + residual", a.activationParts(), weights.noBias, a.x(), MatVecKernels.ACCUMULATE);
            else product(down, at(layer) + "down + residual", a.activation(), weights.noBias, a.x(), MatVecKernels.ACCUMULATE);
        }
    }

    /** Sessions stepped together. */
    public int batch() {
        return rows.size();
    }

    /**
     * Runs the step for {@code token} at {@code position} of a one-session step: its key and value go into the
     * device cache, and the next-token logits come back (the returned array is reused by the next call).
     */
    public float[] decode(int token, int position) {
        return decode(new int[] {token}, new int[] {position})[0];
    }

    /**
     * Runs the step for every row: {@code tokens[b]} at {@code positions[b]}; returns each row's next-token logits
     * (arrays reused by the next call).
     */
    public float[][] decode(int[] tokens, int[] positions) {
        settle();
        movedOn = null;
        setStep(tokens, positions);
        backend.run(graph, List.of(step), logits);
        return hostLogits();
    }

    /** A one-session greedy step: the next token, or -1 when a logit is not a finite number (see {@link #logits()}). */
    public int decodeGreedy(int token, int position) {
        return decodeGreedy(new int[] {token}, new int[] {position})[0];
    }

    /**
     * Runs the step for every row and returns each row's next token by argmax on the device, reading back only those
     * and a flag per row; a row whose logits are not all finite numbers gets -1 (then {@link #logits()} tells which).
     *
     * <p>With steps ahead, the next step (each row's token at the next position) is queued before this one's tokens
     * are read, so on a GPU the device runs it while the host reads, streams and checks the tokens, instead of waiting
     * for the host between steps; a call with exactly those tokens and positions then takes it (one graph replay a
     * token, no upload), any other call waits for it and runs its own. Not where a row's next position would pass its
     * capacity. On a backend that runs work before {@code enqueue} returns (the emulator) it gains nothing.
     *
     * <p>This queues a step ahead for a step of one session only: a step ahead that is not taken costs a whole step of
     * the device's time, and a batch whose sessions come and go (a server's: one leaves at each end of text) would waste
     * more than the wait it saves. Callers that step the same sessions again say so ({@link #decodeGreedy(int[], int[],
     * boolean)}).
     */
    public int[] decodeGreedy(int[] tokens, int[] positions) {
        return decodeGreedy(tokens, positions, rows.size() == 1);
    }

    /** As {@link #decodeGreedy(int[], int[])}, queuing the next step (where steps go ahead) where {@code sameRowsNext}. */
    public int[] decodeGreedy(int[] tokens, int[] positions, boolean sameRowsNext) {
        return stepAhead ? chooseAhead(tokens, positions, null, null, sameRowsNext)
                : choose(greedyGraph, tokens, positions, List.of(step));
    }

    /**
     * Runs the step over {@code draws} (null, or null rows: the argmax) and returns each row's token as {@link #choose}
     * does, queuing the next step where {@code queueNext}, over {@code nextDraws} (null, or null rows: the argmax), before
     * it reads them ({@link #decodeGreedy}); takes the step queued by the last call where it is this one.
     */
    private int[] chooseAhead(int[] tokens, int[] positions, Draw[] draws, Draw[] nextDraws, boolean queueNext) {
        draws = drawn(draws);
        nextDraws = drawn(nextDraws);
        Backend.Pending current;
        if (ahead != null && ahead.takes(tokens, positions, draws)) {
            checkStep(tokens, positions); // (the device has them: nothing to write)
            current = ahead.pending(); // queued by the last call: its tokens and positions were on the device already
            ahead = null;
        } else {
            settle();
            setStep(tokens, positions);
            if (draws != null) setDraws(draws);
            current = backend.enqueue(draws != null ? drawingGraph : greedyGraph, draws != null ? List.of(step, this.draws) : List.of(step), chosen);
        }
        int[] next = null;
        if (!backend.runsApart()) next = chosenTokens(current); // (it ran already; the next would overwrite its tokens)
        // the next step queued before this one's tokens are read: the argmax (or the draw) moved each row's step on to its
        // token, so the device goes from one step to the next without waiting for the host; only its draws' uniforms go
        // up (a row past its last position stops it all)
        boolean onward = queueNext;
        for (int b = 0; b < positions.length; b++) onward &= positions[b] + 1 < rows.get(b).capacity();
        Backend.Pending queued = null;
        if (onward) {
            try {
                if (nextDraws != null) setDraws(nextDraws); // (this step's draws went up already: the copy is queued before the next)
                queued = backend.enqueue(nextDraws != null ? drawingGraph : greedyGraph, nextDraws != null ? List.of(this.draws) : List.of(), chosen);
            } catch (RuntimeException | Error e) { // (a failed capture, say: this step's read-back is not left in flight)
                current.await();
                throw e;
            }
        }
        if (next == null) next = chosenTokens(current);
        movedOn = null;
        if (queued != null) {
            // what it runs: each row's token at the next position, or where the host is to choose (logits not all
            // finite, or a draw left to it), the row's step again, which the caller will not ask for
            int[] aheadTokens = tokens.clone(), aheadPositions = positions.clone();
            for (int b = 0; b < next.length; b++) {
                if (next[b] < 0) continue;
                aheadTokens[b] = next[b];
                aheadPositions[b]++;
            }
            ahead = new Ahead(queued, aheadTokens, aheadPositions, nextDraws);
            movedOn = new boolean[next.length];
            for (int b = 0; b < next.length; b++) movedOn[b] = next[b] >= 0;
        }
        return next;
    }

    /** {@code draws} where a row draws, else null (every row takes the argmax). */
    private static Draw[] drawn(Draw[] draws) {
        if (draws == null) return null;
        for (Draw d : draws) if (d != null) return draws.clone();
        return null;
    }

    /**
     * A step queued before the host asked for it ({@link #decodeGreedy}, {@link #decodeDrawing} with steps ahead), and
     * what it computes: each row's token at its position, drawn with {@code draws} (null: the argmax). Its key and value
     * go where the step the host asks for next would put them — the slot of that position, the same whichever token the
     * host gives — so a step the host does not take (the generation ended, or it feeds another token) is superseded.
     */
    private record Ahead(Backend.Pending pending, int[] tokens, int[] positions, Draw[] draws) {
        boolean takes(int[] tokens, int[] positions, Draw[] draws) {
            return java.util.Arrays.equals(this.tokens, tokens) && java.util.Arrays.equals(this.positions, positions)
                    && java.util.Arrays.equals(this.draws, draws);
        }
    }

    /** Waits for a step queued ahead that the host has not taken, and forgets it (before anything else runs or reads). */
    private void settle() {
        if (ahead == null) return;
        ahead.pending().await();
        ahead = null;
    }

    /** Each row's token from {@code step}'s read-back of {@link #chosen}: -1 where its logits are not all finite. */
    private int[] chosenTokens(Backend.Pending step) {
        step.await();
        int[] next = new int[rows.size()];
        for (int b = 0; b < next.length; b++) next[b] = chosen.get(2L * b + 1) == 0 ? chosen.get(2L * b) : -1;
        return next;
    }

    /**
     * Runs {@code graph} (a step, then the argmax and maybe the draws) over {@code uploads} (the step buffer, maybe the
     * draws) and reads back each row's token: -1 where its logits are not all finite or the host is to draw. The uploads,
     * the step and the tokens' read-back are one round trip ({@link Backend#run(TaskGraph, List, DeviceBuffer)}).
     */
    private int[] choose(TaskGraph graph, int[] tokens, int[] positions, List<I32Buffer> uploads) {
        settle();
        movedOn = null;
        setStep(tokens, positions);
        backend.run(graph, uploads, chosen);
        int[] next = new int[rows.size()];
        for (int b = 0; b < next.length; b++) next[b] = chosen.get(2L * b + 1) == 0 ? chosen.get(2L * b) : -1;
        return next;
    }

    /**
     * A sampled row's draw on the device: its sampler's temperature, top-k and top-p (as floats) and the uniform it took
     * for this token ({@link dev.moa.runtime.generate.Sampler#uniform}).
     */
    public record Draw(float temperature, int topK, float topP, int uniform) {
        /** {@code sampler}'s next draw, taking one uniform of its sequence; null where it is greedy (then the argmax stands). */
        public static Draw of(dev.moa.runtime.generate.Sampler sampler) {
            if (sampler.greedy()) return null;
            var p = sampler.params();
            // (a positive temperature stays positive in float: below 1.4e-45 it would be 0, greedy, where the host's limit
            // draws among the tokens tied at the largest logit, as the smallest float's does)
            float temperature = Math.max((float) p.temperature(), Float.MIN_VALUE);
            return new Draw(temperature, p.topK(), (float) p.topP(), sampler.uniform());
        }

        /** As {@link #of}, with the uniform the sampler gives next left in its sequence ({@link dev.moa.runtime.generate.Sampler#peekUniform}). */
        public static Draw next(dev.moa.runtime.generate.Sampler sampler) {
            if (sampler.greedy()) return null;
            var p = sampler.params();
            return new Draw(Math.max((float) p.temperature(), Float.MIN_VALUE), p.topK(), (float) p.topP(), sampler.peekUniform());
        }
    }

    /**
     * Runs the step for every row and draws each row's next token on the device ({@link SamplingKernels#sample}, then
     * {@link SamplingKernels#sampleWide} for nuclei too wide for its shared memory; the argmax where {@code draws[b]} is
     * null), reading back one int a row and no logits, but those of a row that gets -1: its logits not all finite
     * numbers, or (a safeguard) a draw whose search found no token where rounding failed a bound; then the host draws
     * from them with the same uniform, {@link dev.moa.runtime.generate.Sampler#sample}: the same distribution, walked in
     * the same order. Returns the tokens and those rows' logits (null for the others; arrays reused by the next call).
     */
    public Chosen decodeDrawing(int[] tokens, int[] positions, Draw[] draws) {
        return decodeDrawing(tokens, positions, draws, null);
    }

    /**
     * As {@link #decodeDrawing(int[], int[], Draw[])}; with steps ahead and {@code nextDraws} (each row's next draw, as
     * {@link Draw#next} gives it), the next step is queued before this one's tokens are read, as {@link #decodeGreedy}
     * does, and a call with exactly its tokens, positions and draws takes it. Pass them only where the same sessions
     * step next, as a rule (see {@link #decodeGreedy(int[], int[])}).
     */
    public Chosen decodeDrawing(int[] tokens, int[] positions, Draw[] draws, Draw[] nextDraws) {
        if (draws.length != rows.size()) throw new IllegalArgumentException("a step of " + rows.size() + " sessions, " + draws.length + " draws");
        if (nextDraws != null && nextDraws.length != rows.size()) {
            throw new IllegalArgumentException("a step of " + rows.size() + " sessions, " + nextDraws.length + " next draws");
        }
        int[] next;
        if (stepAhead && nextDraws != null) {
            next = chooseAhead(tokens, positions, draws, nextDraws, true);
        } else {
            boolean sampled = drawn(draws) != null;
            if (sampled) setDraws(draws);
            next = sampled ? choose(drawingGraph, tokens, positions, List.of(step, this.draws)) : choose(greedyGraph, tokens, positions, List.of(step));
        }
        float[][] out = new float[next.length][];
        for (int b = 0; b < next.length; b++) if (next[b] < 0) out[b] = rowLogits(b);
        return new Chosen(next, out);
    }

    /** Row b's logits of the last step, read back alone (into an array the next call reuses). */
    private float[] rowLogits(int b) {
        long rowBytes = (long) vocab * Float.BYTES;
        backend.download(logits, b * rowBytes, rowBytes);
        MemorySegment.copy(logits.memory(), ValueLayout.JAVA_FLOAT, b * rowBytes, hostLogits[b], 0, vocab);
        return hostLogits[b];
    }

    /**
     * Runs the step for every row and reads back every row's logits, with each row's argmax from the device, as
     * {@link #decodeGreedy} takes it: -1 where a row's logits are not all finite numbers, so a caller that wants the
     * logits (a session's {@code decode}) scans them for NaN only then. Arrays reused by the next call.
     */
    public Chosen decodeWithLogits(int[] tokens, int[] positions) {
        int[] next = choose(greedyGraph, tokens, positions, List.of(step)); // (no step ahead: it would overwrite the logits)
        float[][] out = new float[next.length][];
        for (int b = 0; b < next.length; b++) out[b] = rowLogits(b);
        return new Chosen(next, out);
    }

    /**
     * A step's {@link #decodeWithLogits} or {@link #decodeDrawing}: each row's token chosen on the device (-1 where the
     * host must look at its logits), and the logits read back (every row's, or those of the rows that got -1).
     */
    public record Chosen(int[] tokens, float[][] logits) {
        /**
         * Row b's token: the device's, or where it gave -1 (at {@code position}), the host's — its logits refused if one is
         * not a finite number, else drawn by {@code sampler} with the row's {@code draw}'s uniform, as the device would have.
         */
        public int token(int b, Draw draw, dev.moa.runtime.generate.Sampler sampler, int position) {
            if (tokens[b] >= 0) return tokens[b];
            float[] row = logits[b];
            dev.moa.runtime.model.NonFiniteException.check(row, 1, row.length, new int[] {position}, "the output head's logits");
            return sampler.sample(row, draw.uniform());
        }
    }

    /** Writes the rows' draws into the host copy of {@link #draws} (zeros for a row that takes the argmax). */
    private void setDraws(Draw[] draws) {
        for (int b = 0; b < draws.length; b++) {
            Draw d = draws[b];
            if (d == null) SamplingKernels.setDraw(this.draws, b, 0, 0, 0, 0);
            else SamplingKernels.setDraw(this.draws, b, d.temperature(), d.topK(), d.topP(), d.uniform());
        }
    }

    /**
     * Checks the step may run (over the pool's current buffers, a token and position a row) and remembers it as the
     * last step the host asked for.
     */
    private void checkStep(int[] tokens, int[] positions) {
        if (stale()) throw new IllegalStateException("a device step built over KV buffers its pool has replaced since (it grew): build it again");
        if (tokens.length != rows.size() || positions.length != rows.size()) {
            throw new IllegalArgumentException("a step of " + rows.size() + " sessions takes as many tokens and positions, got "
                    + tokens.length + " and " + positions.length);
        }
        lastTokens = tokens.clone();
        lastPositions = positions.clone();
    }

    /** Writes the rows' tokens and positions into the host copy of the step buffer (after checking the step may run). */
    private void setStep(int[] tokens, int[] positions) {
        checkStep(tokens, positions);
        for (int b = 0; b < tokens.length; b++) {
            this.step.set((long) b * Step.SIZE + Step.TOKEN, tokens[b]);
            this.step.set((long) b * Step.SIZE + Step.POSITION, positions[b]);
        }
    }

    /**
     * The last step's logits of every row, read back from the device. After a step that queued the next ({@link
     * #decodeGreedy}), the device holds that step's logits, so a row that moved on comes back null; a row that did not
     * (its token -1: logits not all finite, or a draw left to the host) ran the same step again and comes back whole.
     */
    public float[][] logits() {
        settle();
        backend.download(logits);
        float[][] all = hostLogits();
        if (movedOn == null) return all;
        float[][] kept = all.clone();
        for (int b = 0; b < kept.length; b++) if (movedOn[b]) kept[b] = null;
        return kept;
    }

    /** The host copy of the logits buffer into the rows' arrays. */
    private float[][] hostLogits() {
        for (int b = 0; b < hostLogits.length; b++) {
            MemorySegment.copy(logits.memory(), ValueLayout.JAVA_FLOAT, (long) b * vocab * Float.BYTES, hostLogits[b], 0, vocab);
        }
        return hostLogits;
    }

    /**
     * Where a step's time goes on a CUDA device: microseconds per launch of each task alone (see
     * {@link dev.moa.tasks.graph.CudaBackend#profile}), by task of {@link #tasks()}, after a greedy step; null on
     * other backends.
     */
    public double[] profile(int repeats) {
        if (!(backend instanceof dev.moa.tasks.graph.CudaBackend cuda)) return null;
        prepareProfile();
        return cuda.profile(profiledGraph, repeats);
    }

    /**
     * Before a profile: {@link #profiledGraph} run (and captured) over the step every replay of the profile then computes
     * again — the step queued ahead where there is one (the host's next: its key and value written again, as the host's
     * next step will), else the last the host asked for (the same) — so a profile leaves every cache as it was.
     */
    private void prepareProfile() {
        if (lastTokens == null) throw new IllegalStateException("profile a device step after it has run once");
        int[] tokens = ahead != null ? ahead.tokens() : lastTokens, positions = ahead != null ? ahead.positions() : lastPositions;
        settle();
        movedOn = null;
        setStep(tokens, positions);
        backend.run(profiledGraph, List.of(step), chosen);
    }

    /**
     * What each task of a greedy step adds to a replay of the whole step on a CUDA device, in microseconds (see
     * {@link dev.moa.tasks.graph.CudaBackend#profileInGraph}); null on other backends.
     */
    public double[] profileInGraph(int repeats) {
        if (!(backend instanceof dev.moa.tasks.graph.CudaBackend cuda)) return null;
        prepareProfile();
        return cuda.profileInGraph(profiledGraph, repeats);
    }

    /** The launches of one greedy step, in order (a step that returns logits stops before the last, the argmax). */
    public List<TaskGraph.Task> tasks() {
        return greedyGraph.tasks();
    }

    /**
     * The weight bytes a task of a step streams: a matvec's matrix (the first argument of {@link MatVecKernels}' and
     * {@link NormedMatVecKernels}' kernels), 0 for any other task. Over a one-session step's tasks they add up to the
     * model's weight bytes per decoded token; {@code bench decode --profile} divides each product's by its time.
     */
    public static long weightBytes(TaskGraph.Task task) {
        boolean matvec = task.owner() == MatVecKernels.class || task.owner() == NormedMatVecKernels.class;
        return matvec && task.args().getFirst() instanceof dev.moa.tasks.kernel.DeviceBuffer b ? b.memory().byteSize() : 0;
    }

    /** Bytes of the device KV cache, all rows. */
    public long kvCacheBytes() {
        return kvBytes;
    }

    /** Whether the KV pool's buffers changed (it grew) since this step was built over them: it must not run then. */
    public boolean stale() {
        return pool.generation() != generation;
    }

    /** Frees the step's captures, its tables and activations, and the regions it made (the sessions' own stay). */
    @Override
    public void close() {
        settle(); // (nothing it uses is freed while a step queued ahead may still run)
        backend.forget(graph);
        backend.forget(greedyGraph);
        backend.forget(drawingGraph);
        backend.forget(profiledGraph);
        buffers.close();
        ownRegions.forEach(KvPool.Region::close);
        ownRegions.clear();
    }




}
