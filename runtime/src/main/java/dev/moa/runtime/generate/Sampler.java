package dev.moa.runtime.generate;

import java.util.Arrays;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Picks the next token: argmax when greedy; otherwise temperature, then top-k, then top-p (nucleus)
 * filtering of the softmax distribution, then one draw from a seeded generator.
 *
 * <p>A draw costs 0.07–0.4 ms for a 128k vocabulary in the usual settings (1.4 ms at temperature 1.3 and top-p 0.99
 * over flat logits; docs/benchmarks.md), where a device's decode step takes one or two. It took 0.8–8 ms (32 in that
 * flat case) when it weighed every token in double precision and kept candidates in a heap of boxed ids, then sorted
 * them. Now each token's weight {@code exp((logit − max) / T)} is one vector exponential,
 * the candidates are primitive keys (a logit and its id in one {@code long}: likelier first, equal logits in id order)
 * and the nucleus is selected, not sorted. The same logits and seed always give the same draw.
 */
public final class Sampler {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Tokens a block of the weights' partial sums covers: what a draw from the whole distribution skips at once. */
    private static final int BLOCK = 512;

    private final SamplingParams params;
    private final RandomGenerator random;
    /** Whether {@link #peekUniform} drew {@link #nextUniform} ahead of {@link #uniform}. */
    private boolean peeked;
    private int nextUniform;
    private static final ThreadLocal<Work> WORK = ThreadLocal.withInitial(Work::new);

    public Sampler(SamplingParams params) {
        this.params = params;
        this.random = RandomGeneratorFactory.of("L64X128MixRandom").create(params.seed());
    }

    public int next(float[] logits) {
        return params.isGreedy() ? argmax(logits) : sample(logits, uniform());
    }

    /** Whether this sampler takes the likeliest token (then a draw needs no uniform). */
    public boolean greedy() {
        return params.isGreedy();
    }

    /**
     * The next uniform of this sampler's seeded sequence, as an unsigned 32-bit fraction of one: what a draw on the host
     * ({@link #sample}) or on a device (the same draw: dev.moa.tasks.kernels.SamplingKernels) takes.
     */
    public int uniform() {
        if (peeked) {
            peeked = false;
            return nextUniform;
        }
        return (int) (random.nextLong() >>> 32);
    }

    /**
     * The uniform {@link #uniform} gives next, without taking it: what a step queued ahead on a device draws with
     * (DeviceDecoder.decodeDrawing), so that queuing it, taken or not, leaves this sampler's sequence as it was.
     */
    public int peekUniform() {
        if (!peeked) {
            nextUniform = uniform();
            peeked = true;
        }
        return nextUniform;
    }

    /** The parameters of this sampler's draws. */
    public SamplingParams params() {
        return params;
    }

    /** The largest logit (NaN where one is NaN). */
    static float max(float[] logits) {
        int n = logits.length, i = 0;
        FloatVector largest = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int upper = F.loopBound(n); i < upper; i += F.length()) largest = largest.max(FloatVector.fromArray(F, logits, i));
        float max = largest.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, logits[i]);
        return max;
    }

    /** Index of the largest logit; the lowest index wins a tie. */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /**
     * The token at {@code uniform}'s fraction of the filtered distribution's weight: walked in id order without a filter;
     * with one, from the likeliest token down (equal logits in id order), as a device's draw walks it: the same uniform
     * over the same logits gives the same token there, but where the two round apart (their exponentials, a float top-p
     * and temperature there, fixed-point sums there that drop weights under 2^-40) near the edge of a token's span.
     */
    public int sample(float[] logits, int uniform) {
        int n = logits.length;
        double u = (uniform & 0xFFFFFFFFL) * 0x1p-32;
        float max = max(logits); // (its value, not where: a vector reduction, where the argmax's scalar pass cost a third of a draw)
        if (n == 1 || !Float.isFinite(max)) return argmax(logits); // (the forward refuses non-finite logits; all -inf has no distribution)
        Work w = WORK.get();
        double total = w.weigh(logits, max, inverseTemperature());
        float[] weights = w.weights; // (after weigh, which sizes it)
        if ((params.topK() == 0 || params.topK() >= n) && params.topP() >= 1) return w.draw(n, u * total); // (top-k of all: no filter)
        int nucleus = w.nucleus(logits, total, params);
        // the likeliest tokens whose weight passes the draw: the least likely of them is drawn
        int reaching = w.prefixReaching(nucleus, Math.nextUp(u * w.mass(nucleus)));
        long[] candidates = w.candidates;
        long drawn = Long.MIN_VALUE; // (never a token of weight 0: the likeliest, of weight 1, is among them)
        for (int i = 0; i < reaching; i++) if (weights[id(candidates[i])] > 0) drawn = Math.max(drawn, candidates[i]);
        return id(drawn);
    }

    /**
     * 1 / T as a float, at most the largest float: a temperature below about 3e-39 (which the parameters take) would make
     * it infinite, and the likeliest token's weight {@code exp(0 · ∞)} NaN; at the largest float every other token's
     * weight is 0 and the draw greedy, as the limit is.
     */
    private float inverseTemperature() {
        return (float) Math.min(1 / params.temperature(), Float.MAX_VALUE);
    }

    /**
     * The probability of each token under these parameters (what {@link #next} draws from; greedy: 1 for the argmax):
     * for tests against a direct computation. Draws nothing.
     */
    double[] probabilities(float[] logits) {
        int n = logits.length, best = argmax(logits);
        double[] p = new double[n];
        if (params.isGreedy() || n == 1 || !Float.isFinite(logits[best])) {
            p[best] = 1;
            return p;
        }
        Work w = WORK.get();
        double total = w.weigh(logits, logits[best], inverseTemperature());
        float[] weights = w.weights;
        if (params.topK() == 0 && params.topP() >= 1) {
            for (int i = 0; i < n; i++) p[i] = weights[i] / total;
            return p;
        }
        int nucleus = w.nucleus(logits, total, params);
        long[] candidates = w.candidates;
        double mass = w.mass(nucleus);
        for (int i = 0; i < nucleus; i++) p[id(candidates[i])] = weights[id(candidates[i])] / mass;
        return p;
    }

    /**
     * A draw's scratch, one per thread (a sampler per request would hold 0.5-1.5 MB each for a 128k vocabulary for as long
     * as the request runs): each token's weight, each block's sum of them, the candidates' keys.
     */
    static final class Work {
        float[] weights = new float[0];
        double[] blockSums = new double[0];
        long[] candidates = new long[0];

        /**
         * Top-k then top-p over the weighed tokens ({@link #weigh}, their sum {@code total}): the nucleus's keys into the
         * front of {@code candidates} (in no particular order, the same for the same logits); returns how many.
         */
        int nucleus(float[] logits, double total, SamplingParams params) {
            // The candidates: with top-k its k likeliest tokens; without, only those that can be inside the nucleus — a token
            // below (1 − p)/(n − 1) of the mass never is, unless it is the likeliest (llama2.c's trick; that one's weight is
            // 1), which leaves a few hundred.
            int n = logits.length, keep;
            if (params.topK() > 0) {
                keep = likeliest(logits, Math.min(params.topK(), n));
            } else {
                double cutoff = Math.min((1 - params.topP()) / (n - 1) * total, 1);
                float below = (float) cutoff; // no more than the cutoff, so a vector compare passes every candidate (and a few more)
                if (below > cutoff) below = Math.nextDown(below);
                keep = 0;
                int i = 0;
                for (int upper = F.loopBound(n); i < upper; i += F.length()) { // (most vectors hold none)
                    if (!FloatVector.fromArray(F, weights, i).compare(VectorOperators.GE, below).anyTrue()) continue;
                    for (int j = i; j < i + F.length(); j++) if (weights[j] >= cutoff) candidate(keep++, logits, j);
                }
                for (; i < n; i++) if (weights[i] >= cutoff) candidate(keep++, logits, i);
            }

            // Top-p applies to the distribution renormalised over the top-k tokens (or over all tokens).
            if (params.topP() >= 1) return keep;
            return prefixReaching(keep, params.topP() * (params.topK() > 0 ? mass(keep) : total));
        }

        /** The weight of the first {@code count} candidates ({@link #nucleus}'s). */
        double mass(int count) {
            double mass = 0;
            for (int i = 0; i < count; i++) mass += weights[id(candidates[i])];
            return mass;
        }

        /**
         * The nucleus without sorting the candidates: how many of the likeliest of {@code candidates[0, keep)} it takes for
         * their weights to reach {@code need}, those moved to the front (in no particular order). A quickselect whose test is
         * the mass of the likelier side, so it costs a few passes over the candidates where a sort of a flat distribution's
         * tens of thousands (a high temperature, top-p 0.99) took milliseconds.
         */
        int prefixReaching(int keep, double need) {
            int lo = 0, hi = keep;
            double before = 0; // the weight of candidates[0, lo): all likelier than those in [lo, hi)
            while (hi - lo > 1) {
                int m = partition(lo, hi);
                double likelier = 0;
                for (int i = lo; i < m; i++) likelier += weights[id(candidates[i])];
                double pivot = weights[id(candidates[m])];
                if (before + likelier >= need) {
                    hi = m;
                } else if (before + likelier + pivot >= need) {
                    return m + 1;
                } else {
                    before += likelier + pivot;
                    lo = m + 1;
                }
            }
            return Math.min(lo + 1, keep); // (lo = keep: the candidates' rounded mass fell short of need; all of them)
        }

        /**
         * Partitions {@code candidates[lo, hi)} around the median of its first, middle and last keys (the keys are distinct:
         * each holds its id): likelier keys before it, less likely after; returns its index.
         */
        private int partition(int lo, int hi) {
            int mid = (lo + hi) >>> 1;
            long a = candidates[lo], b = candidates[mid], c = candidates[hi - 1];
            int median = a < b ? (b < c ? mid : a < c ? hi - 1 : lo) : (a < c ? lo : b < c ? hi - 1 : mid);
            swap(median, hi - 1);
            long pivot = candidates[hi - 1];
            int store = lo;
            for (int i = lo; i < hi - 1; i++) if (candidates[i] < pivot) swap(i, store++);
            swap(store, hi - 1);
            return store;
        }

        private void swap(int i, int j) {
            long t = candidates[i];
            candidates[i] = candidates[j];
            candidates[j] = t;
        }

        /**
         * {@code weights[i] = exp((logits[i] − max) · inverseTemperature)} (the likeliest token's is 1), each block's sum into
         * {@link #blockSums}; returns their total.
         */
        double weigh(float[] logits, float max, float inverseTemperature) {
            int n = logits.length, blocks = (n + BLOCK - 1) / BLOCK;
            if (weights.length < n) weights = new float[n];
            if (blockSums.length < blocks) blockSums = new double[blocks];
            double total = 0;
            for (int b = 0; b < blocks; b++) {
                int from = b * BLOCK, to = Math.min(n, from + BLOCK), i = from;
                FloatVector sum = FloatVector.zero(F);
                for (int upper = from + F.loopBound(to - from); i < upper; i += F.length()) {
                    FloatVector w = FloatVector.fromArray(F, logits, i).sub(max).mul(inverseTemperature).lanewise(VectorOperators.EXP);
                    w.intoArray(weights, i);
                    sum = sum.add(w);
                }
                double block = sum.reduceLanes(VectorOperators.ADD);
                for (; i < to; i++) block += weights[i] = (float) Math.exp((logits[i] - max) * inverseTemperature);
                blockSums[b] = block;
                total += block;
            }
            return total;
        }

        /**
         * The token at {@code draw} (in {@code [0, total)}) of the whole (unnormalised) distribution: no filter, so no
         * sorting; whole blocks are skipped by their sums.
         */
        int draw(int n, double draw) {
            int b = 0, blocks = (n + BLOCK - 1) / BLOCK;
            while (b < blocks - 1 && draw >= blockSums[b]) draw -= blockSums[b++];
            int last = -1;
            for (int i = b * BLOCK, to = Math.min(n, i + BLOCK); i < to; i++) {
                if (!(weights[i] > 0)) continue;
                last = i;
                draw -= weights[i];
                if (draw < 0) return i;
            }
            // a draw in the sliver by which the block's sum, rounded in float lanes, exceeds its weights one by one: the
            // block's last token with weight; never a token of weight 0 (the likeliest token's weight is 1, so one has)
            if (last >= 0) return last;
            for (int i = n - 1; ; i--) if (weights[i] > 0) return i;
        }

        /**
         * The {@code k} likeliest tokens' keys into {@code candidates[0, k)} (unordered): a heap whose root is the least
         * likely kept, which most tokens fail against in one comparison.
         */
        private int likeliest(float[] logits, int k) {
            for (int i = 0; i < k; i++) candidate(i, logits, i);
            for (int i = k / 2 - 1; i >= 0; i--) siftDown(i, k);
            for (int i = k; i < logits.length; i++) {
                long key = key(logits[i], i);
                if (key < candidates[0]) {
                    candidates[0] = key;
                    siftDown(0, k);
                }
            }
            return k;
        }

        /** Restores the heap below {@code at}: every key no less than its children's (the largest key, the least likely, at the root). */
        private void siftDown(int at, int size) {
            long key = candidates[at];
            while (true) {
                int child = 2 * at + 1;
                if (child >= size) break;
                if (child + 1 < size && candidates[child + 1] > candidates[child]) child++;
                if (candidates[child] <= key) break;
                candidates[at] = candidates[child];
                at = child;
            }
            candidates[at] = key;
        }

        private void candidate(int at, float[] logits, int id) {
            if (candidates.length <= at) candidates = Arrays.copyOf(candidates, Math.max(at + 1, Math.min(logits.length, 2 * candidates.length + 64)));
            candidates[at] = key(logits[id], id);
        }
    }

    /**
     * A token's place in likeliness order as one {@code long}, ascending = likelier first: the logit's bits made to
     * order as signed integers and inverted (larger logits first), then the id (equal logits in id order).
     */
    static long key(float logit, int id) {
        int bits = Float.floatToIntBits(logit + 0.0f); // (-0 + 0 is +0: equal logits, one key but for the id)
        int ascending = bits >= 0 ? bits : bits ^ 0x7FFFFFFF;
        return ((long) ~ascending << 32) | id;
    }

    static int id(long key) {
        return (int) key;
    }
}
