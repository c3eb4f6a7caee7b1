package dev.moa.tasks.kernels;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.LaunchBounds;

/**
 * Drawing the next token on the device: temperature, then top-k, then top-p (nucleus), then one draw, from the logits a
 * decode step left there, so a sampled step reads back one int a row, as a greedy one does, instead of the row's
 * logits (512 KB for a 128k vocabulary) and a host draw of a tenth of a millisecond or more.
 *
 * <p>The distribution is the host sampler's ({@code dev.moa.runtime.generate.Sampler}), and so is the draw: with a
 * filter, the token at {@code u · mass} of the nucleus's weight walked from the likeliest token down (equal logits in id
 * order); without one, walked in id order. Weights are {@code exp((logit − max) / T)}, summed in fixed point
 * ({@code weight · 2^40} in a long): integer sums are exact in any order, so the draw does not depend on how the
 * work-items' sums meet (the same logits and uniform always give the same token), and a weight under 2^-40 of the
 * likeliest token's counts as 0 — such tokens, 1.2·10^-7 of the mass at most over 128k of them, are never drawn.
 *
 * <p>Two kernels, launched one after the other over the same rows: {@link #sample} draws every row whose filtered
 * tokens fit its shared memory (ranking them there) and marks the others -1; {@link #sampleWide} draws those (flat
 * logits, a top-k past {@value #CANDIDATES}) by bisection over the row. Keeping the rare path in its own kernel leaves
 * the common one its registers (the two in one spilled) and lets each size its group.
 */
public final class SamplingKernels {
    /** Work-items of a row's group. */
    public static final int GROUP = 1024;
    /** The most candidate tokens {@link #sample} ranks in shared memory; past it the row is {@link #sampleWide}'s. */
    public static final int CANDIDATES = 1536;

    /** A row's draw in the draws buffer: its temperature (float bits; not above 0: greedy, the row is left alone). */
    public static final int TEMPERATURE = 0;
    /** Top-k (0: none). */
    public static final int TOP_K = 1;
    /** Top-p (float bits; 1 or more: none). */
    public static final int TOP_P = 2;
    /** The uniform draw as an unsigned 32-bit fraction of one. */
    public static final int UNIFORM = 3;
    /** Ints per row of the draws buffer. */
    public static final int DRAW_SIZE = 4;

    /** What {@link #locate} leaves in its shared ints: the token's id, its key, the tokens through it and their weight. */
    private static final int ID = 0, KEY = 1, COUNT = 2, MASS_HIGH = 3, MASS_LOW = 4, FOUND = 5;

    private static final int WARPS = GROUP / 32;
    /**
     * Work-items of a row's group in {@link #sampleWide}: half {@link #GROUP}, so that ptxas may give each 128 registers
     * (capped at 64 for 1024 it spilled; this rare path's passes are not what a step waits for).
     */
    public static final int WIDE = 512;
    /**
     * The most tokens a {@link #locate} search ranks in shared memory at its end: a pass over the row halves them, where
     * ranking costs their number squared (1536 would cost a dozen passes' time).
     */
    private static final int WINDOW = 256;
    /** Probes of a {@link #locate} search halfway by logit value before it halves by key. */
    private static final int VALUE_PROBES = 16;
    /** A weight's fixed point: {@code weight · 2^40}; 128k weights of at most 1 sum to under 2^57. */
    private static final float FIXED = 0x1p40f;
    private static final float LOG2E = 1.4426950408889634f;
    /** A logit this many temperatures below the largest has weight {@code e^-28 < 2^-40}: 0 in fixed point. */
    private static final float NEGLIGIBLE = 28f;

    private SamplingKernels() {
    }

    /**
     * Writes row {@code row}'s draw into the host copy of a draws buffer ({@value #DRAW_SIZE} ints a row): its
     * temperature (0: greedy, the row is left alone), top-k, top-p and uniform (an unsigned 32-bit fraction of one).
     */
    public static void setDraw(I32Buffer draws, int row, float temperature, int topK, float topP, int uniform) {
        long at = (long) row * DRAW_SIZE;
        draws.set(at + TEMPERATURE, Float.floatToRawIntBits(temperature));
        draws.set(at + TOP_K, topK);
        draws.set(at + TOP_P, Float.floatToRawIntBits(topP));
        draws.set(at + UNIFORM, uniform);
    }

    /**
     * Draws row b's next token ({@code b = groupId(0)}; launch {@code Grid.of(rows, GROUP)}) after {@link VectorKernels#argmax}
     * has written {@code chosen[2b]} (the argmax) and {@code chosen[2b + 1]} (its non-finite count): a row whose draw is
     * greedy, or whose logits are not all finite, keeps the argmax. Otherwise {@code chosen[2b]} becomes the drawn token,
     * or -1 where {@link #sampleWide} must draw instead: more than {@value #CANDIDATES} tokens could be in the nucleus
     * (flat logits), or top-k is over {@value #CANDIDATES} and more tokens than that have weight.
     *
     * <p>Each work-item takes every {@value #GROUP}-th logit of the row (coalesced) in each pass over it:
     * <ol>
     *   <li>without a filter, each work-item sums the weights of one contiguous chunk; the prefix of those sums says
     *   whose chunk holds the draw, and that work-item walks it (id order);</li>
     *   <li>with one, the candidates are the tokens whose logits are at least a threshold: those with weight (top-k),
     *   or with top-p alone those whose weight is at least {@code (1 − p)/(n − 1)} of the total (no lighter token can
     *   be in a nucleus); with top-k and too many of those, a bisection (over the floats' order: 32 passes at most)
     *   raises the threshold until between k and {@value #CANDIDATES} remain. Each work-item counts its candidates,
     *   the counts' prefix places them, and they are written to shared memory;</li>
     *   <li>there each work-item ranks its candidates (how many are likelier), then sums the weight of the likelier ones
     *   inside the top-k: a candidate is in the nucleus where that is under p of the top-k's weight (of all tokens',
     *   without top-k); the one whose span of the nucleus's weight holds {@code u · mass} writes its id.</li>
     * </ol>
     */
    @LaunchBounds(groupSize = GROUP)
    public static void sample(KernelContext ctx, F32Buffer logits, I32Buffer draws, I32Buffer chosen, int n) {
        ctx.awaitPriorKernels();
        int[] high = ctx.sharedI32(GROUP);
        int[] low = ctx.sharedI32(GROUP);
        int[] warpHigh = ctx.sharedI32(WARPS + 1);
        int[] warpLow = ctx.sharedI32(WARPS + 1);
        int[] keys = ctx.sharedI32(CANDIDATES);
        int[] ids = ctx.sharedI32(CANDIDATES);
        float[] weights = ctx.sharedF32(CANDIDATES);
        int[] ranks = ctx.sharedI32(CANDIDATES);
        int[] inNucleus = ctx.sharedI32(CANDIDATES);
        int t = ctx.localId(), b = ctx.groupId(0);
        long draw = (long) b * DRAW_SIZE;
        float temperature = Float.intBitsToFloat(draws.get(draw + TEMPERATURE));
        if (!(temperature > 0f) || chosen.get(2L * b + 1) != 0) return; // (the whole group: b's alone decide)
        int topK = draws.get(draw + TOP_K);
        if (topK >= n) topK = 0;
        float topP = Float.intBitsToFloat(draws.get(draw + TOP_P));
        long uniform = draws.get(draw + UNIFORM) & 0xFFFFFFFFL;
        long row = (long) b * n;
        float max = logits.get(row + chosen.get(2L * b));
        // log2(e) / T, at most the largest float: below T ≈ 1e-38 it would be infinite and the likeliest token's 0 · ∞ NaN
        float scale = Math.min(LOG2E / temperature, Float.MAX_VALUE);

        if (topK <= 0 && !(topP < 1f)) { // the whole distribution, in id order
            int chunk = (n + GROUP - 1) / GROUP, from = Math.min(n, t * chunk), to = Math.min(n, from + chunk);
            long mass = 0;
            for (int i = from; i < to; i++) mass += fixedWeight(logits.get(row + i), max, scale);
            long before = prefix(ctx, high, low, warpHigh, warpLow, mass, WARPS);
            long target = fraction(total(warpHigh, warpLow), uniform);
            if (before <= target && target < before + mass) {
                int last = -1;
                for (int i = from; i < to; i++) {
                    long w = fixedWeight(logits.get(row + i), max, scale);
                    if (w == 0) continue;
                    last = i;
                    before += w;
                    if (target < before) break;
                }
                chosen.set(2L * b, last);
            }
            return;
        }

        // the candidates: every token with weight, or with top-p alone every one that can be in the nucleus
        float threshold = max - NEGLIGIBLE * temperature;
        long total = 0;
        if (topK <= 0) {
            long mass = 0;
            for (int i = t; i < n; i += GROUP) mass += fixedWeight(logits.get(row + i), max, scale);
            prefix(ctx, high, low, warpHigh, warpLow, mass, WARPS);
            total = total(warpHigh, warpLow);
            // weight ≥ cutoff ⇔ logit ≥ max + T·ln(cutoff); a hundredth below it, so that rounding drops none
            float cutoff = (1f - topP) / (n - 1) * (total / FIXED);
            if (cutoff > 0f) threshold = Math.max(threshold, max + temperature * ((float) Math.log(Math.min(cutoff, 1f)) - 0.01f));
        }
        int count = candidates(ctx, logits, row, n, threshold, high, low, warpHigh, warpLow);
        if (count > CANDIDATES && topK > 0 && topK <= CANDIDATES) {
            // bisect the threshold between it and max over the floats' order (their bits as ordered ints): at most 32
            // halvings whatever the values (-∞ included, where a temperature of 1e37 puts the threshold), no NaN between
            int below = ordered(threshold), above = ordered(max);
            while (count > CANDIDATES || count < topK) {
                int middle = (int) (((long) below + above) >> 1);
                if (middle == below) break; // no float between: ties the bisection cannot split
                float at = unordered(middle);
                count = candidates(ctx, logits, row, n, at, high, low, warpHigh, warpLow);
                if (count > CANDIDATES) below = middle;
                else if (count < topK) above = middle;
                else threshold = at;
            }
            if (count < topK) count = CANDIDATES + 1; // (in range, the last count was the threshold's: its offsets stand)
        }
        if (count > CANDIDATES) {
            if (t == 0) chosen.set(2L * b, -1); // too wide for shared memory: sampleWide's
            return;
        }
        int slot = (int) prefixOf(ctx, high, low, warpHigh, warpLow);
        for (int i = t; i < n; i += GROUP) {
            float logit = logits.get(row + i);
            if (logit >= threshold) {
                keys[slot] = ordered(logit);
                ids[slot] = i;
                weights[slot] = weight(logit, max, scale);
                slot++;
            }
        }
        ctx.barrier();

        // each candidate's rank: how many candidates are likelier (a larger logit, or an equal one and a smaller id)
        for (int c = t; c < count; c += GROUP) {
            int key = keys[c], id = ids[c], rank = 0;
            for (int j = 0; j < count; j++) if (keys[j] > key || (keys[j] == key && ids[j] < id)) rank++;
            ranks[c] = rank;
        }
        ctx.barrier();
        int kept = topK > 0 ? topK : count;
        long need = 0;
        if (topP < 1f) {
            if (topK > 0) {
                total = 0; // (every work-item the same sum, in the same order)
                for (int j = 0; j < count; j++) if (ranks[j] < kept) total += fixed(weights[j]);
            }
            need = Math.max(1L, (long) (topP * (float) total)); // (the likeliest token is always in)
        }
        // each candidate: the weight of the likelier ones kept; in the nucleus while that is short of the need
        long mine = 0, start0 = 0, start1 = 0;
        for (int c = t; c < count; c += GROUP) {
            int key = keys[c], id = ids[c];
            long before = 0;
            for (int j = 0; j < count; j++) if (ranks[j] < kept && (keys[j] > key || (keys[j] == key && ids[j] < id))) before += fixed(weights[j]);
            boolean in = ranks[c] < kept && (!(topP < 1f) || before < need);
            inNucleus[c] = in ? 1 : 0;
            if (in) mine += fixed(weights[c]);
            if (c == t) start0 = before;
            else start1 = before;
        }
        prefix(ctx, high, low, warpHigh, warpLow, mine, WARPS);
        long target = fraction(total(warpHigh, warpLow), uniform);
        for (int c = t; c < count; c += GROUP) {
            long before = c == t ? start0 : start1;
            if (inNucleus[c] != 0 && before <= target && target < before + fixed(weights[c])) chosen.set(2L * b, ids[c]);
        }
    }

    /**
     * Draws the rows {@link #sample} left (launch after it, with its arguments, {@code Grid.of(rows, WIDE)}; row
     * b = {@code groupId(0)}, whose {@value #WIDE} work-items each take every {@value #WIDE}-th logit): those it marked -1, a
     * filtered draw in which more than {@value #CANDIDATES} tokens take part (flat logits, or a top-k that large); other
     * rows return at once. The kept tokens, the nucleus and then the drawn token are each the likeliest token at which
     * a running sum from the likeliest down passes a target — the k-th token by number, the nucleus's last by
     * {@code p} of the kept weight, the drawn one by {@code u} of the nucleus's — each found by {@link #locate}: some
     * passes over the row, bisecting, until the target's neighbourhood fits in shared memory. So every sampled row is
     * drawn on the device; -1 stays only where a search found nothing (where rounding failed a bound), for the host.
     */
    @LaunchBounds(groupSize = WIDE)
    public static void sampleWide(KernelContext ctx, F32Buffer logits, I32Buffer draws, I32Buffer chosen, int n) {
        ctx.awaitPriorKernels();
        int[] high = ctx.sharedI32(WIDE);
        int[] low = ctx.sharedI32(WIDE);
        int[] warpHigh = ctx.sharedI32(WARPS + 1);
        int[] warpLow = ctx.sharedI32(WARPS + 1);
        int[] keys = ctx.sharedI32(WINDOW);
        int[] ids = ctx.sharedI32(WINDOW);
        float[] weights = ctx.sharedF32(WINDOW);
        int[] found = ctx.sharedI32(FOUND);
        int t = ctx.localId(), b = ctx.groupId(0);
        long draw = (long) b * DRAW_SIZE;
        float temperature = Float.intBitsToFloat(draws.get(draw + TEMPERATURE));
        if (!(temperature > 0f) || chosen.get(2L * b) != -1 || chosen.get(2L * b + 1) != 0) return; // (b's alone decide)
        long row = (long) b * n;
        extremes(ctx, logits, row, n, warpHigh, warpLow);
        float max = Float.intBitsToFloat(warpHigh[WARPS]), min = Float.intBitsToFloat(warpLow[WARPS]);
        float scale = Math.min(LOG2E / temperature, Float.MAX_VALUE);

        // A(key, id): every token with weight, then the k likeliest of them, then the nucleus, then the drawn token and
        // those likelier; each stage's set the next one's search space, one search (one copy of its code) a stage. The
        // set, its size and its weight stay in found (as locate leaves them), not in registers through the searches.
        // (from the smallest logit where it is above the weightless: the searches halve the logits' range first)
        int key = ordered(Math.max(max - NEGLIGIBLE * temperature, min)), topK = draws.get(draw + TOP_K);
        int count = tally(ctx, logits, row, n, max, scale, key, n - 1, high, low, warpHigh, warpLow);
        long mass = total(warpHigh, warpLow);
        if (t == 0) {
            found[ID] = n - 1;
            found[KEY] = key;
            found[COUNT] = count;
            found[MASS_HIGH] = (int) (mass >>> 32);
            found[MASS_LOW] = (int) mass;
        }
        ctx.barrier();
        int token = -1;
        for (int stage = topK > 0 && topK < count ? 0 : 1; stage < 3; stage++) {
            float topP = Float.intBitsToFloat(draws.get(draw + TOP_P));
            if (stage == 1 && !(topP < 1f)) continue; // no nucleus: the kept tokens are drawn from
            long target, weight = join(found[MASS_HIGH], found[MASS_LOW]);
            if (stage == 0) target = topK - 1; // the k-th token by number
            else if (stage == 1) target = Math.min(weight, Math.max(1L, (long) (topP * (float) weight))) - 1; // the last reaching p
            else target = fraction(weight, draws.get(draw + UNIFORM) & 0xFFFFFFFFL); // the token whose span holds u · mass
            token = locate(ctx, logits, row, n, max, scale, found[KEY], found[ID], found[COUNT], stage > 0, target, high, low, warpHigh,
                    warpLow, keys, ids, weights, found);
            if (token < 0) break;
        }
        if (t == 0) chosen.set(2L * b, token);
    }

    /**
     * The largest and the smallest of the row's {@code n} logits (all finite), as float bits in {@code largest[WARPS]}
     * and {@code smallest[WARPS]} for every work-item (each array holds an int a warp besides).
     */
    private static void extremes(KernelContext ctx, F32Buffer logits, long row, int n, int[] largest, int[] smallest) {
        int t = ctx.localId();
        float max = Float.NEGATIVE_INFINITY, min = Float.POSITIVE_INFINITY;
        KernelContext.unroll(4);
        for (int i = t; i < n; i += WIDE) {
            float logit = logits.get(row + i);
            max = Math.max(max, logit);
            min = Math.min(min, logit);
        }
        max = ctx.warpMax(max);
        min = -ctx.warpMax(-min);
        if (ctx.laneId() == 0) {
            largest[t >> 5] = Float.floatToRawIntBits(max);
            smallest[t >> 5] = Float.floatToRawIntBits(min);
        }
        ctx.barrier();
        if (t == 0) {
            for (int w = 1; w < WIDE / 32; w++) {
                max = Math.max(max, Float.intBitsToFloat(largest[w]));
                min = Math.min(min, Float.intBitsToFloat(smallest[w]));
            }
            largest[WARPS] = Float.floatToRawIntBits(max);
            smallest[WARPS] = Float.floatToRawIntBits(min);
        }
        ctx.barrier();
    }

    /**
     * The likeliest token c of the set {@code A(lowKey, lowId)} at which the tokens at least as likely as c (a larger
     * logit, or an equal one and a smaller id) outweigh {@code target}: their weight in fixed point with {@code byMass},
     * else their number. {@code A(key, id)} is the tokens with weight whose logit's {@link #ordered} key is above
     * {@code key}, or equal to it with an id of at most {@code id}: every set this search deals in is one of those,
     * the likeliest tokens down to one. {@code A(lowKey, lowId)} holds {@code lowCount} tokens (or fewer) and must outweigh
     * the target. Returns c's id (-1 if none did), and leaves in {@code found} its key and how many tokens, of what
     * weight, are at least as likely as c.
     *
     * <p>How: a set known to outweigh the target (lower) and one known not to (upper, at first none) are brought
     * together by bisection, each probe one pass over the row — first over the logits' keys, then, where one logit
     * value is left, over the ids of the tokens that share it — until at most {@value #WINDOW} tokens lie between
     * them. Those go to shared memory and each is ranked among them, as the candidates are.
     */
    private static int locate(KernelContext ctx, F32Buffer logits, long row, int n, float max, float scale, int lowKey, int lowId,
                              int lowCount, boolean byMass, long target, int[] high, int[] low, int[] warpHigh, int[] warpLow, int[] keys,
                              int[] ids, float[] weights, int[] found) {
        int t = ctx.localId();
        int upKey = ordered(max), upId = -1, upCount = 0, probes = 0; // upper: A(ordered(max), -1), no token
        long upMass = 0;
        // (the counts are exact — tally, found and the gather below count the same tokens — but the search ends on the
        // range as well: one id left between the sets holds one token, whatever a count said)
        while (lowCount - upCount > WINDOW && (lowKey < upKey || lowId - upId > 1)) {
            int probeKey = lowKey, probeId;
            if (lowKey < upKey) { // every token from a logit halfway up: A(key, n - 1)
                // halfway by value (logits spread evenly, not by their exponents) for the first probes; by key after them,
                // which bounds the search at 32 halvings wherever tokens crowd (a value's halving can take ~150 there)
                probeKey = (int) (lowKey + ((long) upKey - lowKey + 1) / 2);
                int byValue = ordered(unordered(lowKey) * 0.5f + unordered(upKey) * 0.5f);
                if (probes < VALUE_PROBES && byValue > lowKey && byValue <= upKey) probeKey = byValue;
                probes++;
                probeId = n - 1;
            } else {
                probeId = upId + ((lowId - upId) >> 1); // one logit value left: its tokens up to the middle id
            }
            int c = tally(ctx, logits, row, n, max, scale, probeKey, probeId, high, low, warpHigh, warpLow);
            long m = total(warpHigh, warpLow);
            if ((byMass ? m : c) > target) {
                lowKey = probeKey;
                lowId = probeId;
                lowCount = c;
            } else if (lowKey < upKey) {
                upKey = probeKey - 1; // A(key, n - 1) = A(key - 1, -1)
                upId = -1;
                upCount = c;
                upMass = m;
            } else {
                upId = probeId;
                upCount = c;
                upMass = m;
            }
        }
        // the tokens between the two sets, ranked in shared memory
        int mine = 0;
        for (int i = t; i < n; i += WIDE) if (inWindow(logits.get(row + i), i, lowKey, lowId, upKey, upId, max, scale)) mine++;
        int slot = (int) prefix(ctx, high, low, warpHigh, warpLow, mine, WIDE / 32), between = (int) total(warpHigh, warpLow);
        if (between > WINDOW) return -1; // (never, as above; but shared memory is not written past its end on a miscount)
        if (t == 0) found[ID] = -1;
        for (int i = t; i < n; i += WIDE) {
            float logit = logits.get(row + i);
            if (inWindow(logit, i, lowKey, lowId, upKey, upId, max, scale)) {
                keys[slot] = ordered(logit);
                ids[slot] = i;
                weights[slot] = weight(logit, max, scale);
                slot++;
            }
        }
        ctx.barrier();
        for (int c = t; c < between; c += WIDE) {
            int key = keys[c], id = ids[c], before = 0;
            long beforeMass = 0;
            for (int j = 0; j < between; j++) {
                if (keys[j] > key || (keys[j] == key && ids[j] < id)) {
                    before++;
                    beforeMass += fixed(weights[j]);
                }
            }
            long mass = fixed(weights[c]), at = byMass ? upMass + beforeMass : upCount + before;
            if (at <= target && target < at + (byMass ? mass : 1)) {
                long through = upMass + beforeMass + mass;
                found[ID] = id;
                found[KEY] = key;
                found[COUNT] = upCount + before + 1;
                found[MASS_HIGH] = (int) (through >>> 32);
                found[MASS_LOW] = (int) through;
            }
        }
        ctx.barrier();
        return found[ID];
    }

    /** Whether token {@code id} of {@code logit} has weight and lies in {@code A(lowKey, lowId)} but not in {@code A(upKey, upId)}. */
    private static boolean inWindow(float logit, int id, int lowKey, int lowId, int upKey, int upId, float max, float scale) {
        int key = ordered(logit);
        return in(key, id, lowKey, lowId) && !in(key, id, upKey, upId) && fixedWeight(logit, max, scale) > 0;
    }

    /** Whether the token of key {@code key} and id {@code id} is in {@code A(setKey, setId)} (see {@link #locate}). */
    private static boolean in(int key, int id, int setKey, int setId) {
        return key > setKey || (key == setKey && id <= setId);
    }

    /**
     * How many tokens with weight {@code A(key, id)} holds (see {@link #locate}); their weight is left for {@link #total}.
     * One pass over the row.
     */
    private static int tally(KernelContext ctx, F32Buffer logits, long row, int n, float max, float scale, int key, int id, int[] high,
                             int[] low, int[] warpHigh, int[] warpLow) {
        int t = ctx.localId(), count = 0;
        long mass = 0;
        KernelContext.unroll(2);
        for (int i = t; i < n; i += WIDE) {
            float logit = logits.get(row + i);
            long w = fixedWeight(logit, max, scale);
            if (w > 0 && in(ordered(logit), i, key, id)) {
                count++;
                mass += w;
            }
        }
        prefix(ctx, high, low, warpHigh, warpLow, count, WIDE / 32);
        int tokens = (int) total(warpHigh, warpLow);
        prefix(ctx, high, low, warpHigh, warpLow, mass, WIDE / 32);
        return tokens;
    }

    /**
     * How many of the row's logits are at least {@code threshold}; this work-item's share of them (its strided logits)
     * and the group's are left for {@link #prefixOf}.
     */
    private static int candidates(KernelContext ctx, F32Buffer logits, long row, int n, float threshold, int[] high, int[] low,
                                  int[] warpHigh, int[] warpLow) {
        int t = ctx.localId(), mine = 0;
        KernelContext.unroll(4);
        for (int i = t; i < n; i += GROUP) if (logits.get(row + i) >= threshold) mine++;
        prefix(ctx, high, low, warpHigh, warpLow, mine, WARPS);
        return (int) total(warpHigh, warpLow);
    }

    /** The prefix the last {@link #prefix} left this work-item: the sum of the values of those before it. */
    private static long prefixOf(KernelContext ctx, int[] high, int[] low, int[] warpHigh, int[] warpLow) {
        int t = ctx.localId(), w = t >> 5;
        long before = 0;
        for (int v = 0; v < w; v++) before += join(warpHigh[v], warpLow[v]);
        for (int u = w << 5; u < t; u++) before += join(high[u], low[u]);
        return before;
    }

    /**
     * The exact sum of the group's ({@code warps} warps) {@code value}s before this work-item's (in {@code localId} order); their total is
     * left in {@code warpHigh/warpLow[WARPS]} for {@link #total}, the values for {@link #prefixOf}, until the next call.
     * Longs as two ints in shared memory: each warp's sum by one work-item, the total by one, each prefix by each.
     */
    private static long prefix(KernelContext ctx, int[] high, int[] low, int[] warpHigh, int[] warpLow, long value, int warps) {
        int t = ctx.localId();
        ctx.barrier(); // (the last call's values read by all)
        high[t] = (int) (value >>> 32);
        low[t] = (int) value;
        ctx.barrier();
        if (t < warps) {
            long sum = 0;
            for (int u = t << 5; u < (t << 5) + 32; u++) sum += join(high[u], low[u]);
            warpHigh[t] = (int) (sum >>> 32);
            warpLow[t] = (int) sum;
        }
        ctx.barrier();
        if (t == 0) {
            long sum = 0;
            for (int w = 0; w < warps; w++) sum += join(warpHigh[w], warpLow[w]);
            warpHigh[WARPS] = (int) (sum >>> 32);
            warpLow[WARPS] = (int) sum;
        }
        ctx.barrier();
        return prefixOf(ctx, high, low, warpHigh, warpLow);
    }

    private static long total(int[] warpHigh, int[] warpLow) {
        return join(warpHigh[WARPS], warpLow[WARPS]);
    }

    private static long join(int high, int low) {
        return ((long) high << 32) | (low & 0xFFFFFFFFL);
    }

    /** {@code mass · uniform / 2^32}, exactly (rounded down), for {@code mass < 2^63}: the draw, in {@code [0, mass)}. */
    static long fraction(long mass, long uniform) {
        return (mass >>> 32) * uniform + (((mass & 0xFFFFFFFFL) * uniform) >>> 32);
    }

    /** {@code exp((logit − max) / T)}, {@code scale = log2(e) / T}. */
    static float weight(float logit, float max, float scale) {
        return KernelContext.exp2((logit - max) * scale);
    }

    static long fixed(float weight) {
        return (long) (weight * FIXED);
    }

    static long fixedWeight(float logit, float max, float scale) {
        return fixed(weight(logit, max, scale));
    }

    /** A float's bits as an int that orders as the float does (-0 as +0). */
    static int ordered(float x) {
        int bits = Float.floatToRawIntBits(x + 0f);
        return bits >= 0 ? bits : bits ^ 0x7FFFFFFF;
    }

    /** The float whose {@link #ordered} int is {@code o}. */
    static float unordered(int o) {
        return Float.intBitsToFloat(o >= 0 ? o : o ^ 0x7FFFFFFF);
    }
}
