package dev.moa.runtime.model;

import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.ElasticRule;
import dev.moa.tasks.cpu.Parallel;
import dev.moa.tasks.cpu.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Exact causal attention over one whole sequence, forward and backward, for the profiler: the dense model whose
 * attention MoA will cut, with what moa.md §4 needs to price every cut.
 *
 * <p>Forward: {@code O_i = Σ_{j≤i} A_ij v_j} with {@code A_ij = softmax_j(q_i·k_j/√d)}; each row's log-sum-exp is
 * kept so the backward pass recomputes {@code A} row by row instead of storing an N×N matrix per head. Keys and
 * values are transposed per KV head ({@code [d][N]}), so every step is a SIMD loop along the keys.
 *
 * <p>Backward, for each query row i given {@code dO_i}: {@code G_ij = dO_i·v_j}, {@code D_i = dO_i·O_i = Σ_j A_ij G_ij},
 * {@code dS_ij = A_ij (G_ij − D_i)}, then {@code dq_i = Σ_j dS_ij k_j/√d}, {@code dk_j += dS_ij q_i/√d},
 * {@code dv_j += A_ij dO_i}. The same row gives the influence of masking entry (i, j), to first order and with
 * row i renormalised: {@code ΔL_ij = A_ij (D_i − G_ij)/(1 − A_ij + ε) = −dS_ij/(1 − A_ij + ε)}, and on row 0 (a single
 * key) {@code ΔL_0j = −A_0j G_0j}; |ΔL| is summed into 64×64 blocks.
 */
final class CausalAttention implements LlamaModel.Attention {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** The reference's ε in 1 − A + ε: F32 machine epsilon. */
    static final float EPSILON = Math.ulp(1f);
    static final int BLOCK = ElasticRule.BLOCK;

    /** Entries a forward pass leaves out (a measuring aid: the loss with them masked is the truth ΔL predicts). */
    @FunctionalInterface
    interface EntryMask {
        boolean drops(int layer, int head, int query, int key);
    }

    private final int length, heads, kvHeads, headDim, groupSize, qDim, kvDim;
    private final float scale;
    /** [head][position]: log Σ_j exp(score_ij) of the last forward, for the backward's recomputation. */
    private final float[] logSumExp;
    /** [kvHead][d][position]: the current layer's keys and values, transposed. */
    private final float[] keysT, valuesT;
    EntryMask mask;
    /** Whether {@link #backward} adds signed ΔL per block (the caller takes |·| of each sample's block) or |ΔL| per entry. */
    boolean signedBlocks;

    /** Told the signed first-order ΔL of every entry during a backward pass (a measuring aid, slow; else null). */
    @FunctionalInterface
    interface EntryObserver {
        void delta(int layer, int head, int query, int key, double loss);
    }

    EntryObserver observer;

    /**
     * The plan the sequence is profiled under ({@code [layer][head]} band widths in blocks, as {@link
     * dev.moa.plans.BlockBand} keeps them), or null for dense attention. Under a plan the forward pass leaves out the
     * blocks each head does not compute, and a left-out entry's influence is what computing it would change, with
     * the sign of leaving it out: to first order, adding entry j to row i moves O_i by {@code p (v_j − O_i)} with
     * {@code p = A'/(1 + A')}, {@code A' = exp(score_ij − logsumexp_i)}, so {@code ΔL_ij = p (D_i − G_ij)}. Every
     * block then carries the loss of leaving it out of the plan's context, whether the plan keeps it or not.
     */
    int[][] bands;

    /** Keys [BLOCK, dropEnd) are outside head h's band for query i under {@link #bands} (an empty range when dense). */
    private int dropEnd(int layer, int h, int i) {
        if (bands == null) return BLOCK;
        int first = new dev.moa.plans.BlockBand(bands[layer][h]).firstBandBlock(i / BLOCK);
        return Math.max(BLOCK, Math.min(first * BLOCK, i + 1));
    }

    CausalAttention(ModelConfig c, int length) {
        this.length = length;
        this.heads = c.numHeads();
        this.kvHeads = c.numKvHeads();
        this.headDim = c.headDim();
        this.groupSize = c.groupSize();
        this.qDim = c.queryDim();
        this.kvDim = c.kvDim();
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        logSumExp = new float[heads * length];
        keysT = new float[kvHeads * headDim * length];
        valuesT = new float[kvHeads * headDim * length];
    }

    private int t(int kvHead, int d) {
        return (kvHead * headDim + d) * length;
    }

    private void transpose(float[] k, float[] v, int n) {
        for (int p = 0; p < n; p++) {
            for (int g = 0; g < kvHeads; g++) {
                for (int d = 0; d < headDim; d++) {
                    keysT[t(g, d) + p] = k[p * kvDim + g * headDim + d];
                    valuesT[t(g, d) + p] = v[p * kvDim + g * headDim + d];
                }
            }
        }
    }

    /** Query blocks, heaviest and lightest alternating, so equal-count task ranges carry similar work. */
    private int balancedBlock(int k, int blocks) {
        return k % 2 == 0 ? k / 2 : blocks - 1 - k / 2;
    }

    /** Forward over the whole sequence (n = its length): s.attention = softmax(q·kᵀ/√d)·v, causal, every query head. */
    @Override
    public void attend(int layer, LlamaModel.State s, int n) {
        if (n != length) throw new IllegalArgumentException("causal attention over " + length + " positions got " + n);
        transpose(s.k, s.v, n);
        int blocks = (n + BLOCK - 1) / BLOCK;
        Parallel.forRange(blocks * heads, 1, (start, end) -> {
            float[] scores = new float[n];
            for (int task = start; task < end; task++) {
                int block = balancedBlock(task / heads, blocks), h = task % heads;
                for (int i = block * BLOCK; i < Math.min(n, (block + 1) * BLOCK); i++) forwardRow(layer, s, h, i, scores);
            }
        });
    }

    private void forwardRow(int layer, LlamaModel.State s, int h, int i, float[] scores) {
        int g = h / groupSize, keys = i + 1, q = i * qDim + h * headDim;
        scoresOf(s.q, q, g, keys, scores);
        for (int j = BLOCK, end = dropEnd(layer, h, i); j < end; j++) scores[j] = Float.NEGATIVE_INFINITY;
        if (mask != null) for (int j = 0; j < keys; j++) if (mask.drops(layer, h, i, j)) scores[j] = Float.NEGATIVE_INFINITY;
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < keys; j++) max = Math.max(max, scores[j]);
        float sum = expShifted(scores, keys, max);
        logSumExp[h * length + i] = max + (float) Math.log(sum);
        float inverse = 1f / sum;
        for (int d = 0; d < headDim; d++) s.attention[q + d] = VectorMath.dot(scores, 0, valuesT, t(g, d), keys) * inverse;
    }

    /** scores[j] = q·k_j/√d for j < keys. */
    private void scoresOf(float[] q, int qo, int kvHead, int keys, float[] scores) {
        java.util.Arrays.fill(scores, 0, keys, 0f);
        for (int d = 0; d < headDim; d++) VectorMath.addScaled(scores, 0, q[qo + d] * scale, keysT, t(kvHead, d), keys);
    }

    /** x[j] = exp(x[j] − shift) for j < n; returns their sum. */
    private static float expShifted(float[] x, int n, float shift) {
        FloatVector acc = FloatVector.zero(F);
        int j = 0;
        for (int upper = F.loopBound(n); j < upper; j += F.length()) {
            FloatVector e = FloatVector.fromArray(F, x, j).sub(shift).lanewise(VectorOperators.EXP);
            e.intoArray(x, j);
            acc = acc.add(e);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; j < n; j++) sum += x[j] = (float) Math.exp(x[j] - shift);
        return sum;
    }

    /**
     * Backward of the last {@link #attend} (s still holds its q, k, v and output): from dO ([position][query dim])
     * writes dq ([position][query dim]), dk and dv ([position][kv dim]). When {@code influence} is not null, adds
     * every query head's block sums of ΔL (signed, or their magnitudes: {@link #signedBlocks}) into
     * {@code influence[head][m·blocks + j]}.
     */
    void backward(int layer, LlamaModel.State s, float[] dO, float[] dq, float[] dk, float[] dv, double[][] influence) {
        int n = length, blocks = (n + BLOCK - 1) / BLOCK;
        float[][] dkT = new float[heads][], dvT = new float[heads][];
        Parallel.forRange(heads, 1, (start, end) -> {
            float[] a = new float[n], grad = new float[n];
            for (int h = start; h < end; h++) {
                dkT[h] = new float[headDim * n];
                dvT[h] = new float[headDim * n];
                double[] blockSums = influence == null ? null : influence[h];
                for (int i = 0; i < n; i++) backwardRow(layer, s, h, i, dO, dq, dkT[h], dvT[h], a, grad, blockSums, blocks);
            }
        });
        // A KV head's gradient is the sum over the query heads that read it.
        java.util.Arrays.fill(dk, 0, n * kvDim, 0f);
        java.util.Arrays.fill(dv, 0, n * kvDim, 0f);
        for (int h = 0; h < heads; h++) {
            int g = h / groupSize;
            for (int d = 0; d < headDim; d++) {
                for (int p = 0; p < n; p++) {
                    dk[p * kvDim + g * headDim + d] += dkT[h][d * n + p];
                    dv[p * kvDim + g * headDim + d] += dvT[h][d * n + p];
                }
            }
        }
    }

    private void backwardRow(int layer, LlamaModel.State s, int h, int i, float[] dO, float[] dq, float[] dkT, float[] dvT,
                             float[] a, float[] grad, double[] blockSums, int blocks) {
        int g = h / groupSize, keys = i + 1, q = i * qDim + h * headDim;
        // A_ij, recomputed from the row's log-sum-exp
        scoresOf(s.q, q, g, keys, a);
        expShifted(a, keys, logSumExp[h * length + i]);
        // G_ij = dO_i·v_j and D_i = dO_i·O_i
        java.util.Arrays.fill(grad, 0, keys, 0f);
        for (int d = 0; d < headDim; d++) VectorMath.addScaled(grad, 0, dO[q + d], valuesT, t(g, d), keys);
        float rowDot = VectorMath.dot(dO, q, s.attention, q, headDim);
        // Entries outside the plan's band: the influence of computing them, then A = 0 there.
        int dropEnd = dropEnd(layer, h, i);
        for (int j = BLOCK; j < dropEnd; j++) {
            float p = 1f / (1f + 1f / a[j]), delta = p * (rowDot - grad[j]); // A'/(1 + A'), safe when A' overflows
            a[j] = 0;
            if (blockSums != null) blockSums[(i / BLOCK) * blocks + j / BLOCK] += signedBlocks ? delta : Math.abs(delta);
            if (observer != null) observer.delta(layer, h, i, j, delta);
        }
        if (blockSums != null) addInfluence(a, grad, rowDot, i, keys, blockSums, blocks, signedBlocks);
        if (observer != null) {
            for (int j = 0; j < keys; j++) {
                if (j >= BLOCK && j < dropEnd) continue;
                double delta = i == 0 ? -a[j] * grad[j] : a[j] * (rowDot - grad[j]) / (1.0 - a[j] + EPSILON);
                observer.delta(layer, h, i, j, delta);
            }
        }
        // dv_j += A_ij dO_i (before a is turned into dS)
        for (int d = 0; d < headDim; d++) VectorMath.addScaled(dvT, d * length, dO[q + d], a, 0, keys);
        // dS_ij = A_ij (G_ij − D_i), into grad
        dS(a, grad, rowDot, keys);
        for (int d = 0; d < headDim; d++) {
            dq[q + d] = VectorMath.dot(grad, 0, keysT, t(g, d), keys) * scale;
            VectorMath.addScaled(dkT, d * length, s.q[q + d] * scale, grad, 0, keys);
        }
    }

    /** grad[j] = a[j]·(grad[j] − rowDot). */
    private static void dS(float[] a, float[] grad, float rowDot, int n) {
        int j = 0;
        for (int upper = F.loopBound(n); j < upper; j += F.length()) {
            FloatVector.fromArray(F, grad, j).sub(rowDot).mul(FloatVector.fromArray(F, a, j)).intoArray(grad, j);
        }
        for (; j < n; j++) grad[j] = a[j] * (grad[j] - rowDot);
    }

    /** ΔL_ij of row i summed into its 64-key blocks: their magnitudes ({@code ENTRIES}) or their signed values ({@code BLOCKS}). */
    private static void addInfluence(float[] a, float[] grad, float rowDot, int i, int keys, double[] blockSums, int blocks, boolean signed) {
        int row = (i / BLOCK) * blocks;
        for (int from = 0, block = 0; from < keys; from += BLOCK, block++) {
            int to = Math.min(keys, from + BLOCK);
            float sum = 0;
            int j = from;
            if (i == 0) {
                for (; j < to; j++) sum += signed ? -a[j] * grad[j] : Math.abs(a[j] * grad[j]);
            } else {
                FloatVector acc = FloatVector.zero(F);
                for (int upper = from + F.loopBound(to - from); j < upper; j += F.length()) {
                    FloatVector av = FloatVector.fromArray(F, a, j);
                    FloatVector delta = av.mul(FloatVector.broadcast(F, rowDot).sub(FloatVector.fromArray(F, grad, j))).div(av.neg().add(1f + EPSILON));
                    acc = acc.add(signed ? delta : delta.abs());
                }
                sum = acc.reduceLanes(VectorOperators.ADD);
                for (; j < to; j++) {
                    float delta = a[j] * (rowDot - grad[j]) / (1f - a[j] + EPSILON);
                    sum += signed ? delta : Math.abs(delta);
                }
            }
            blockSums[row + block] += sum;
        }
    }
}
