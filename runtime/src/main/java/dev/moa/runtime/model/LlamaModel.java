package dev.moa.runtime.model;

import dev.moa.loader.config.ModelConfig;
import dev.moa.tasks.cpu.Parallel;
import dev.moa.tasks.cpu.VectorMath;
import dev.moa.tasks.cpu.WeightMatrix;
import java.util.Arrays;

/**
 * The one definition of a Llama-family decoder (Llama 2/3, Mistral, Qwen2): token embedding, then per layer
 * {@code x += Attention(RMSNorm(x))} and {@code x += SwiGLU(RMSNorm(x))}, a final RMSNorm and the output head.
 *
 * <p>Tokens are processed in chunks: every matmul of a chunk is a matrix–matrix product (each weight read
 * once per chunk), which is prefill; a chunk of one token is decode. Keys and values go into a {@link KvCache},
 * which also owns the attention, so dense and sparse layouts share this code.
 */
public final class LlamaModel {
    public static final int DEFAULT_CHUNK = 64;

    private final ModelConfig config;
    private final LlamaWeights weights;
    private final RotaryEmbedding rope;

    public LlamaModel(ModelConfig config, LlamaWeights weights) {
        this.config = config;
        this.weights = weights;
        this.rope = new RotaryEmbedding(config);
    }

    /**
     * Compiles the SIMD kernels this model uses (one matrix per storage format, the vector kernels) before the
     * first request, so time to first token is not spent in the interpreter.
     */
    public void warmUp() {
        var seen = new java.util.HashSet<dev.moa.tasks.cpu.WeightFormat>();
        LayerWeights first = weights.layers()[0];
        for (WeightMatrix m : new WeightMatrix[] {first.wq(), first.wk(), first.gate(), first.down(), weights.lmHead()}) {
            if (seen.add(m.format())) m.warmUp();
        }
        VectorMath.warmUp(config.hiddenSize());
    }

    public ModelConfig config() {
        return config;
    }

    public LlamaWeights weights() {
        return weights;
    }

    RotaryEmbedding rope() {
        return rope;
    }

    /** Scratch buffers for one chunk of tokens, allocated once per session. */
    public static final class State {
        final int chunk;
        final float[] x, xb, q, k, v, attention, projected, gate, up;
        final int[] positions;
        final float[] logits;
        /** The gate's pre-activation of the last layer run, kept only for backpropagation (else null). */
        final float[] preGate;

        public State(ModelConfig c, int chunk) {
            this(c, chunk, false);
        }

        State(ModelConfig c, int chunk, boolean forBackward) {
            this.chunk = chunk;
            x = new float[chunk * c.hiddenSize()];
            xb = new float[chunk * c.hiddenSize()];
            q = new float[chunk * c.queryDim()];
            k = new float[chunk * c.kvDim()];
            v = new float[chunk * c.kvDim()];
            attention = new float[chunk * c.queryDim()];
            projected = new float[chunk * c.hiddenSize()];
            gate = new float[chunk * c.intermediateSize()];
            up = new float[chunk * c.intermediateSize()];
            positions = new int[chunk];
            logits = new float[c.vocabSize()];
            preGate = forBackward ? new float[chunk * c.intermediateSize()] : null;
        }

        /** Logits of the last token of the last {@link #forward} call. */
        public float[] logits() {
            return logits;
        }
    }

    /**
     * Runs {@code tokens[from .. from+count)} at positions {@code startPosition ..}, storing their keys and values
     * in the cache, and leaves the logits of the last token in {@code state.logits()}.
     */
    public float[] forward(State state, KvCache cache, int[] tokens, int from, int count, int startPosition) {
        if (count <= 0) throw new IllegalArgumentException("forward needs at least one token");
        if (startPosition + count > cache.capacity()) {
            throw new IllegalStateException("positions up to " + (startPosition + count) + " exceed the KV cache of "
                    + cache.capacity() + " positions");
        }
        return forward(state, cache, tokens, from, count, startPosition, null);
    }

    /** Receives the next-token logits of every position of a {@link #forward} call, in order. */
    @FunctionalInterface
    public interface PositionLogits {
        /** {@code logits} is only valid during the call. */
        void accept(int position, float[] logits);

        /** The first position whose logits are wanted; the output head is not computed before it. */
        default int firstPosition() {
            return 0;
        }
    }

    /**
     * As {@link #forward(State, KvCache, int[], int, int, int)}, and when {@code everyPosition} is not null, also
     * computes the output head on every token and hands each position's logits to it (for perplexity).
     */
    public float[] forward(State state, KvCache cache, int[] tokens, int from, int count, int startPosition,
                           PositionLogits everyPosition) {
        if (count <= 0) throw new IllegalArgumentException("forward needs at least one token");
        if (startPosition + count > cache.capacity()) {
            throw new IllegalStateException("positions up to " + (startPosition + count) + " exceed the KV cache of "
                    + cache.capacity() + " positions");
        }
        return Parallel.call(() -> {
            int n = 0;
            float[] rows = everyPosition == null ? null : new float[state.chunk * config.vocabSize()];
            for (int done = 0; done < count; done += n) {
                n = Math.min(Math.min(state.chunk, count - done), cache.maxChunk(startPosition + done));
                forwardChunk(state, cache, tokens, from + done, n, startPosition + done);
                if (everyPosition != null) outputHead(state, n, rows, startPosition + done, everyPosition);
            }
            int hidden = config.hiddenSize();
            // Output head on the last token only (the last row of the last chunk): final norm, then logits.
            int last = n - 1;
            VectorMath.rmsNorm(state.xb, 0, state.x, last * hidden, weights.finalNorm(), hidden, (float) config.rmsNormEps());
            weights.lmHead().multiply(state.xb, 1, state.logits);
            NonFiniteException.check(state.logits, 1, config.vocabSize(), new int[] {startPosition + count - 1}, "the output head's logits");
            return state.logits;
        });
    }

    /**
     * One decode step of several sessions at once: row b is the token {@code tokens[b]} of a session at position
     * {@code positions[b]} whose keys and values live in {@code caches[b]}. The layers run once over all rows, so each
     * weight is streamed from memory once per step instead of once per session; attention stays per row, over that
     * row's own cache (dense or MoA, any length). Leaves the logits of row b at {@code logits[b * vocab ..]}.
     */
    public void decodeBatch(State state, KvCache[] caches, int[] tokens, int[] positions, float[] logits) {
        int n = tokens.length;
        if (n < 1 || n > state.chunk || caches.length != n || positions.length != n) {
            throw new IllegalArgumentException("a batch of " + n + " rows needs 1.." + state.chunk + " rows with a cache and a position each");
        }
        for (int b = 0; b < n; b++) {
            if (positions[b] < 0 || positions[b] >= caches[b].capacity()) {
                throw new IllegalStateException("row " + b + ": position " + positions[b] + " is outside its KV cache of " + caches[b].capacity());
            }
        }
        Parallel.call(() -> {
            int hidden = config.hiddenSize(), vocab = config.vocabSize();
            for (int b = 0; b < n; b++) {
                embedRow(state, tokens[b], b);
                state.positions[b] = positions[b];
            }
            layers(state, n, rope.angles(state.positions, n), batchAttention(caches));
            for (int b = 0; b < n; b++) {
                VectorMath.rmsNorm(state.xb, b * hidden, state.x, b * hidden, weights.finalNorm(), hidden, (float) config.rmsNormEps());
            }
            weights.lmHead().multiply(state.xb, n, logits);
            NonFiniteException.check(logits, n, vocab, state.positions, "the output head's logits");
            return null;
        });
    }

    /** Row b's keys and values go to caches[b]; each (row, query head) attends over its own row's cache. */
    private Attention batchAttention(KvCache[] caches) {
        return (layer, s, n) -> {
            int qDim = config.queryDim(), kvDim = config.kvDim(), headDim = config.headDim(), heads = config.numHeads();
            int widest = 0;
            for (int b = 0; b < n; b++) {
                caches[b].write(layer, s.positions[b], s.k, b * kvDim, s.v, b * kvDim);
                widest = Math.max(widest, caches[b].capacity());
            }
            int capacity = widest;
            Parallel.forRange(n * heads, 1, (start, end) -> {
                float[] scores = Scratch.scores(capacity);
                for (int i = start; i < end; i++) {
                    int b = i / heads, h = i % heads;
                    caches[b].attend(layer, h, s.positions[b], s.q, b * qDim + h * headDim, s.attention, b * qDim + h * headDim, scores);
                }
            });
        };
    }

    /** Final norm and logits for all n rows of the chunk in one matmul, handed out row by row. */
    private void outputHead(State state, int n, float[] rows, int firstPosition, PositionLogits consumer) {
        int hidden = config.hiddenSize(), vocab = config.vocabSize();
        int skip = Math.max(0, consumer.firstPosition() - firstPosition);
        if (skip >= n) return;
        // Rows before the first wanted position are left out: the output head is a large share of a small model's work.
        for (int t = skip; t < n; t++) {
            VectorMath.rmsNorm(state.xb, (t - skip) * hidden, state.x, t * hidden, weights.finalNorm(), hidden, (float) config.rmsNormEps());
        }
        weights.lmHead().multiply(state.xb, n - skip, rows);
        NonFiniteException.check(rows, n - skip, vocab, Arrays.copyOfRange(state.positions, skip, n), "the output head's logits");
        float[] row = new float[vocab];
        for (int t = skip; t < n; t++) {
            System.arraycopy(rows, (t - skip) * vocab, row, 0, vocab);
            consumer.accept(firstPosition + t, row);
        }
    }

    private void forwardChunk(State s, KvCache cache, int[] tokens, int from, int n, int startPosition) {
        RotaryEmbedding.Angles angles = embed(s, tokens, from, n, startPosition);
        layers(s, n, angles, cacheAttention(cache, startPosition));
    }

    /** Every layer over the n rows of s.x, checking after each that the residual stream is still numbers. */
    private void layers(State s, int n, RotaryEmbedding.Angles angles, Attention attention) {
        int hidden = config.hiddenSize();
        NonFiniteException.check(s.x, n, hidden, s.positions, "the token embedding");
        for (int l = 0; l < config.numLayers(); l++) {
            layer(l, s, n, angles, attention);
            NonFiniteException.check(s.x, n, hidden, s.positions, "the output of layer " + l);
        }
    }

    /**
     * One layer's attention over the chunk: reads {@code s.q} (after RoPE), {@code s.k}, {@code s.v} of its n tokens
     * and writes every query head's output into {@code s.attention}. The session's KV cache is one (it also stores
     * the keys and values); the profiler's exact causal attention over a whole sequence is another.
     */
    @FunctionalInterface
    interface Attention {
        void attend(int layer, State s, int n);
    }

    /** Token embedding of tokens[from .. from+n) into s.x, their positions, and the RoPE angles of those positions. */
    RotaryEmbedding.Angles embed(State s, int[] tokens, int from, int n, int startPosition) {
        for (int t = 0; t < n; t++) {
            embedRow(s, tokens[from + t], t);
            s.positions[t] = startPosition + t;
        }
        return rope.angles(s.positions, n);
    }

    private void embedRow(State s, int token, int row) {
        if (token < 0 || token >= config.vocabSize()) {
            throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, " + config.vocabSize() + ")");
        }
        weights.embedding().copyRow(token, s.x, row * config.hiddenSize());
    }

    /** x += Attention(RMSNorm(x)); x += SwiGLU(RMSNorm(x)), on the n tokens in s.x: {@link LlamaLayer} on the CPU. */
    void layer(int l, State s, int n, RotaryEmbedding.Angles angles, Attention attention) {
        LlamaLayer.run(steps(s, n, angles, attention), l);
    }

    /** The layer's steps on the CPU over the n rows of {@code s}, attending with {@code attention}. */
    LlamaLayer.Steps steps(State s, int n, RotaryEmbedding.Angles angles, Attention attention) {
        return new CpuSteps(s, n, angles, attention);
    }

    /**
     * {@link LlamaLayer}'s steps run at once on float rows with the SIMD kernels: x, xb, q/k/v, attention, gate/up
     * of {@code s}, n rows each. With {@code s.preGate} allocated (the profiler's state), the gate's pre-activation is
     * kept there for the backward pass.
     */
    private final class CpuSteps implements LlamaLayer.Steps {
        private final State s;
        private final int n;
        private final RotaryEmbedding.Angles angles;
        private final Attention attention;

        CpuSteps(State s, int n, RotaryEmbedding.Angles angles, Attention attention) {
            this.s = s;
            this.n = n;
            this.angles = angles;
            this.attention = attention;
        }

        @Override
        public void rmsNorm(int layer, LlamaLayer.Norm which) {
            LayerWeights w = weights.layers()[layer];
            float[] norm = which == LlamaLayer.Norm.ATTENTION ? w.attentionNorm() : w.ffnNorm();
            int hidden = config.hiddenSize();
            for (int t = 0; t < n; t++) VectorMath.rmsNorm(s.xb, t * hidden, s.x, t * hidden, norm, hidden, (float) config.rmsNormEps());
        }

        @Override
        public void qkv(int layer) {
            LayerWeights w = weights.layers()[layer];
            // one parallel region for the three matmuls
            WeightMatrix.multiply(s.xb, n, new WeightMatrix[] {w.wq(), w.wk(), w.wv()}, new float[][] {s.q, s.k, s.v});
            addBias(w.bq(), n, s.q);
            addBias(w.bk(), n, s.k);
            addBias(w.bv(), n, s.v);
        }

        @Override
        public void rope(int layer) {
            int qDim = config.queryDim(), kvDim = config.kvDim();
            for (int t = 0; t < n; t++) {
                rope.rotate(s.q, t * qDim, config.numHeads(), angles, t);
                rope.rotate(s.k, t * kvDim, config.numKvHeads(), angles, t);
            }
        }

        @Override
        public void attention(int layer) {
            attention.attend(layer, s, n);
        }

        @Override
        public void outputResidual(int layer) {
            LayerWeights w = weights.layers()[layer];
            w.wo().multiply(s.attention, n, s.projected);
            addBias(w.bo(), n, s.projected);
            VectorMath.add(s.x, s.projected, n * config.hiddenSize());
        }

        @Override
        public void gateUp(int layer) {
            LayerWeights w = weights.layers()[layer];
            WeightMatrix.multiply(s.xb, n, new WeightMatrix[] {w.gate(), w.up()}, new float[][] {s.gate, s.up});
            if (s.preGate != null) System.arraycopy(s.gate, 0, s.preGate, 0, n * config.intermediateSize());
        }

        @Override
        public void swiGlu(int layer) {
            VectorMath.siluTimes(s.gate, s.up, n * config.intermediateSize());
        }

        @Override
        public void downResidual(int layer) {
            weights.layers()[layer].down().multiply(s.gate, n, s.projected);
            VectorMath.add(s.x, s.projected, n * config.hiddenSize());
        }
    }

    /** Saves the chunk's keys and values to the cache, then attends, one (token, query head) pair per task. */
    private Attention cacheAttention(KvCache cache, int startPosition) {
        return (layer, s, n) -> {
            int qDim = config.queryDim(), kvDim = config.kvDim(), headDim = config.headDim(), heads = config.numHeads();
            for (int t = 0; t < n; t++) cache.write(layer, s.positions[t], s.k, t * kvDim, s.v, t * kvDim);
            // Each task should cover a few thousand multiply-adds over the cached positions, or stay on this thread.
            int grain = Math.max(1, (1 << 14) / (headDim * (startPosition + n)));
            Parallel.forRange(n * heads, grain, (start, end) -> {
                float[] scores = Scratch.scores(cache.capacity());
                for (int i = start; i < end; i++) {
                    int t = i / heads, h = i % heads;
                    cache.attend(layer, h, s.positions[t], s.q, t * qDim + h * headDim, s.attention, t * qDim + h * headDim, scores);
                }
            });
        };
    }

    private static void addBias(float[] bias, int n, float[] out) {
        if (bias == null) return;
        for (int t = 0; t < n; t++) VectorMath.add(out, t * bias.length, bias, 0, bias.length);
    }

    /** Per-thread attention-score scratch, grown on demand. */
    private static final class Scratch {
        private static final ThreadLocal<float[]> SCORES = ThreadLocal.withInitial(() -> new float[0]);

        static float[] scores(int capacity) {
            float[] s = SCORES.get();
            if (s.length < capacity) {
                s = Arrays.copyOf(s, capacity);
                SCORES.set(s);
            }
            return s;
        }
    }
}
