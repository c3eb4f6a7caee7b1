package dev.moa.runtime.model;

import dev.moa.plans.HeadSpans;
import dev.moa.loader.config.ModelConfig;
import dev.moa.tasks.cpu.Parallel;
import dev.moa.tasks.cpu.VectorMath;
import dev.moa.tasks.cpu.WeightMatrix;
import java.util.Arrays;

/**
 * Gradients of the answer loss with respect to the activations of {@link LlamaModel}, for the profiler: the mean
 * cross-entropy of a sequence's answer tokens, backpropagated through the same layer steps the runtime runs
 * (no weight gradients; nothing is trained). One forward pass keeps only each layer's input; the backward pass
 * then recomputes one layer at a time from it and applies the vector–Jacobian product of every step in reverse:
 *
 * <pre>
 *   loss      = mean over answer tokens of −log softmax(lm_head · RMSNorm(x_L))[next token]
 *   SwiGLU    dx_mid += RMSNorm'ᵀ( Wgᵀ·(da·u·silu'(g)) + Wuᵀ·(da·silu(g)) ),  da = Wdᵀ·dx
 *   attention dO = Woᵀ·dx_mid;  (dq, dk, dv) = attention'ᵀ(dO)  → influence of every (query, key) block
 *   RoPE      dq, dk rotated back;  dx = dx_mid + RMSNorm'ᵀ(Wqᵀ·dq + Wkᵀ·dk + Wvᵀ·dv)
 * </pre>
 *
 * Memory is the layers' inputs ({@code (layers + 1)·N·hidden} floats) plus one layer's activations; the attention
 * matrix is never stored ({@link CausalAttention} recomputes it row by row).
 */
public final class LlamaBackward {
    private final LlamaModel model;
    private final ModelConfig config;

    public LlamaBackward(LlamaModel model) {
        this.model = model;
        this.config = model.config();
    }

    /** What one pass measured: the mean answer loss (nats) and how many answer tokens it averaged. */
    public record Loss(double mean, int answerTokens) {
    }

    /**
     * Forward and backward over {@code tokens}, scoring {@code tokens[answerStart ..]} (each predicted from the
     * tokens before it); the influence of every 64×64 block of every (layer, query head), summed as {@code sum}
     * says, is added into {@code influence[layer][head][m·blocks + j]} ({@code blocks = ceil(N/64)}).
     */
    public Loss influence(int[] tokens, int answerStart, InfluenceSum sum, double[][][] influence) {
        return influence(tokens, answerStart, sum, null, influence);
    }

    /**
     * As {@link #influence(int[], int, InfluenceSum, double[][][])}, profiled under a plan's spans (null: dense):
     * the model runs with the plan's block-sparse attention, and every block's influence is the loss of leaving it
     * out of that context (see {@link CausalAttention#bands}), so heads that stand in for each other under the
     * plan show what each is worth once the others are cut.
     */
    public Loss influence(int[] tokens, int answerStart, InfluenceSum sum, HeadSpans at, double[][][] influence) {
        int[][] bands = null;
        if (at != null) {
            bands = new int[at.local().length][];
            for (int l = 0; l < bands.length; l++) {
                bands[l] = new int[at.local()[l].length];
                for (int h = 0; h < bands[l].length; h++) bands[l][h] = at.local()[l][h] / CausalAttention.BLOCK;
            }
        }
        int[][] plan = bands;
        return Parallel.call(() -> {
            if (sum == InfluenceSum.ENTRIES) return run(tokens, answerStart, influence, false, plan, null, null, null);
            // this sample's signed block sums, then their magnitudes
            double[][][] signed = new double[influence.length][influence[0].length][influence[0][0].length];
            Loss loss = run(tokens, answerStart, signed, true, plan, null, null, null);
            for (int l = 0; l < signed.length; l++) {
                for (int h = 0; h < signed[l].length; h++) {
                    for (int i = 0; i < signed[l][h].length; i++) influence[l][h][i] += Math.abs(signed[l][h][i]);
                }
            }
            return loss;
        });
    }

    /** The answer loss with some attention entries masked and the embeddings shifted by {@code inputDelta} (tests). */
    double loss(int[] tokens, int answerStart, CausalAttention.EntryMask mask, float[] inputDelta) {
        Pass pass = new Pass(tokens.length);
        pass.attention.mask = mask;
        return Parallel.call(() -> pass.forward(tokens, inputDelta).answerLoss(tokens, answerStart, false).mean());
    }

    /** The signed first-order ΔL of masking each attention entry, from one backward pass (tests). */
    void entryInfluence(int[] tokens, int answerStart, CausalAttention.EntryObserver observer) {
        entryInfluence(tokens, answerStart, null, observer);
    }

    /** As above, profiled under band widths {@code [layer][head]} in blocks (null: dense; tests). */
    void entryInfluence(int[] tokens, int answerStart, int[][] bands, CausalAttention.EntryObserver observer) {
        Parallel.call(() -> {
            Pass pass = new Pass(tokens.length);
            pass.attention.bands = bands;
            pass.forward(tokens, null);
            pass.answerLoss(tokens, answerStart, true);
            pass.attention.observer = observer;
            pass.backward(null, null);
            return null;
        });
    }

    /** The gradient of the answer loss with respect to the token embeddings ([position][hidden]; tests). */
    float[] inputGradient(int[] tokens, int answerStart) {
        float[][] gradient = new float[1][];
        Parallel.call(() -> run(tokens, answerStart, null, false, null, null, gradient, null));
        return gradient[0];
    }

    /** The gradient with respect to each layer's attention output before o_proj ([layer][position][query dim]; tests). */
    float[][] attentionOutputGradients(int[] tokens, int answerStart) {
        float[][] dO = new float[config.numLayers()][];
        Parallel.call(() -> run(tokens, answerStart, null, false, null, null, null, dO));
        return dO;
    }

    private Loss run(int[] tokens, int answerStart, double[][][] influence, boolean signedBlocks, int[][] bands, float[] inputDelta,
                     float[][] inputGradient, float[][] attentionGradients) {
        Pass pass = new Pass(tokens.length);
        pass.attention.bands = bands;
        pass.forward(tokens, inputDelta);
        pass.attention.signedBlocks = signedBlocks;
        Loss loss = pass.answerLoss(tokens, answerStart, true);
        pass.backward(influence, attentionGradients);
        if (inputGradient != null) inputGradient[0] = pass.dx;
        return loss;
    }

    /** The buffers of one sequence's forward and backward pass. */
    private final class Pass {
        final int n, hidden, qDim, kvDim, inter, layers;
        final LlamaModel.State s;
        final CausalAttention attention;
        final float[][] inputs;
        RotaryEmbedding.Angles angles;
        float[] dx;

        Pass(int n) {
            if (n < 2) throw new IllegalArgumentException("a profiled sequence needs at least 2 tokens, got " + n);
            if (n > config.maxPositions()) {
                throw new IllegalArgumentException("a sequence of " + n + " tokens exceeds the model's context of " + config.maxPositions());
            }
            this.n = n;
            hidden = config.hiddenSize();
            qDim = config.queryDim();
            kvDim = config.kvDim();
            inter = config.intermediateSize();
            layers = config.numLayers();
            s = new LlamaModel.State(config, n, true);
            attention = new CausalAttention(config, n);
            inputs = new float[layers + 1][];
        }

        /** The whole sequence through every layer, keeping each layer's input (and the final residual stream). */
        Pass forward(int[] tokens, float[] inputDelta) {
            angles = model.embed(s, tokens, 0, n, 0);
            if (inputDelta != null) VectorMath.add(s.x, inputDelta, n * hidden);
            for (int l = 0; l < layers; l++) {
                inputs[l] = Arrays.copyOf(s.x, n * hidden);
                model.layer(l, s, n, angles, attention);
            }
            inputs[layers] = Arrays.copyOf(s.x, n * hidden);
            return this;
        }

        /** Mean cross-entropy of the answer; with {@code gradient}, also dL/dx of the last layer's output into dx. */
        Loss answerLoss(int[] tokens, int answerStart, boolean gradient) {
            if (answerStart < 1 || answerStart >= n) {
                throw new IllegalArgumentException("the answer must start inside the sequence after its first token, got " + answerStart + " of " + n);
            }
            int answers = n - answerStart, vocab = config.vocabSize();
            float[] normed = new float[answers * hidden], logits = new float[answers * vocab];
            float[] finalNorm = model.weights().finalNorm();
            float eps = (float) config.rmsNormEps();
            // position t = answerStart - 1 + a predicts tokens[answerStart + a]
            for (int a = 0; a < answers; a++) {
                VectorMath.rmsNorm(normed, a * hidden, inputs[layers], (answerStart - 1 + a) * hidden, finalNorm, hidden, eps);
            }
            WeightMatrix head = model.weights().lmHead();
            head.multiply(normed, answers, logits);
            double total = 0;
            for (int a = 0; a < answers; a++) {
                int base = a * vocab, target = tokens[answerStart + a];
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < vocab; v++) max = Math.max(max, logits[base + v]);
                double sum = 0;
                for (int v = 0; v < vocab; v++) sum += Math.exp(logits[base + v] - max);
                double logSum = max + Math.log(sum);
                total += logSum - logits[base + target];
                if (!gradient) continue;
                // d(mean CE)/dlogits = (softmax − onehot) / answers
                for (int v = 0; v < vocab; v++) logits[base + v] = (float) (Math.exp(logits[base + v] - logSum) / answers);
                logits[base + target] -= 1f / answers;
            }
            if (!Double.isFinite(total)) throw new ArithmeticException("the answer loss is not finite (" + total + ")");
            if (gradient) {
                float[] dNormed = new float[answers * hidden];
                head.multiplyTransposed(logits, answers, dNormed);
                dx = new float[n * hidden];
                for (int a = 0; a < answers; a++) {
                    int t = answerStart - 1 + a;
                    VectorMath.rmsNormBackwardAdd(dx, t * hidden, inputs[layers], t * hidden, finalNorm, dNormed, a * hidden, hidden, eps);
                }
            }
            return new Loss(total / answers, answers);
        }

        void backward(double[][][] influence, float[][] attentionGradients) {
            float eps = (float) config.rmsNormEps();
            float[] xMid = new float[n * hidden], da = new float[n * inter], dh = new float[n * hidden], tmp = new float[n * hidden];
            float[] dO = new float[n * qDim], dq = new float[n * qDim], dk = new float[n * kvDim], dv = new float[n * kvDim];
            for (int l = layers - 1; l >= 0; l--) {
                LayerWeights w = model.weights().layers()[l];
                // recompute the layer from its input, keeping what the backward needs
                System.arraycopy(inputs[l], 0, s.x, 0, n * hidden);
                LlamaLayer.Steps steps = model.steps(s, n, angles, attention);
                LlamaLayer.attentionInput(steps, l);
                steps.attention(l);
                steps.outputResidual(l);
                System.arraycopy(s.x, 0, xMid, 0, n * hidden);
                LlamaLayer.feedForward(steps, l);

                // SwiGLU: da = Wdᵀ·dx, then (dg, du) over (preGate, up), then dh2 = Wgᵀ·dg + Wuᵀ·du
                w.down().multiplyTransposed(dx, n, da);
                VectorMath.siluTimesBackward(s.preGate, s.up, da, n * inter);
                w.gate().multiplyTransposed(s.preGate, n, dh);
                w.up().multiplyTransposed(s.up, n, tmp);
                VectorMath.add(dh, tmp, n * hidden);
                // ffn rmsnorm and residual: dx_mid = dx + RMSNorm'ᵀ(dh2)
                for (int t = 0; t < n; t++) VectorMath.rmsNormBackwardAdd(dx, t * hidden, xMid, t * hidden, w.ffnNorm(), dh, t * hidden, hidden, eps);

                // output projection, attention (with the influence of every block), RoPE
                w.wo().multiplyTransposed(dx, n, dO);
                if (attentionGradients != null) attentionGradients[l] = dO.clone();
                attention.backward(l, s, dO, dq, dk, dv, influence == null ? null : influence[l]);
                for (int t = 0; t < n; t++) {
                    model.rope().rotateBackward(dq, t * qDim, config.numHeads(), angles, t);
                    model.rope().rotateBackward(dk, t * kvDim, config.numKvHeads(), angles, t);
                }
                // q/k/v matmuls, attention rmsnorm and residual: dx = dx_mid + RMSNorm'ᵀ(Wqᵀ·dq + Wkᵀ·dk + Wvᵀ·dv)
                w.wq().multiplyTransposed(dq, n, dh);
                w.wk().multiplyTransposed(dk, n, tmp);
                VectorMath.add(dh, tmp, n * hidden);
                w.wv().multiplyTransposed(dv, n, tmp);
                VectorMath.add(dh, tmp, n * hidden);
                for (int t = 0; t < n; t++) VectorMath.rmsNormBackwardAdd(dx, t * hidden, inputs[l], t * hidden, w.attentionNorm(), dh, t * hidden, hidden, eps);
            }
        }
    }
}
