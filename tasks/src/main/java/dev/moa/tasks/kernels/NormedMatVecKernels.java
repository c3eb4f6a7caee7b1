package dev.moa.tasks.kernels;

import dev.moa.plans.CacheLayout;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Specialize;
import dev.moa.tasks.kernel.Vec16;

/**
 * Matvecs of a one-session decode step that read the residual stream itself and apply the layer's RMSNorm on the
 * way: {@code a[r] = (Σ_c w[r, c] · x[c] · g[c]) / rms(x)} with {@code rms(x) = sqrt(Σ_c x[c]² / cols + eps)} and
 * {@code g} the norm's weight. Every warp reads all of x for its dot products anyway, so it sums the squares in the
 * same loop: the norm's own launch, its barriers and its round trip through memory are gone (at batch 1 a decode
 * step is mostly such small launches, not weight traffic).
 *
 * <p>Each warp computes a pair of rows, so an epilogue can combine them: {@link #half} writes both (with bias), or
 * with {@link #GLU} writes {@code silu(a[r]) · a[r + rows/2]} (gate and up stacked: SwiGLU fused), and
 * {@link #halfRope} pairs the two halves of a head to rotate them (RoPE) and writes keys and values straight into the
 * MoA cache. Weights are 16-bit, BF16 ({@code ieee} = 0) or IEEE half ({@code ieee} = 1).
 */
public final class NormedMatVecKernels {
    /** Work-items per group: 8 warps, one row pair each. */
    public static final int GROUP = 256;
    public static final int PAIRS_PER_GROUP = GROUP / KernelContext.WARP;
    /** Epilogue flag of {@link #half}: rows {@code r} and {@code r + rows/2} are a gate and an up row; write {@code silu(gate)·up}. */
    public static final int GLU = 4;
    /**
     * Epilogue flag of {@link #halfRope}: ask the L2 for the keys and values the decode attention after it reads (each KV
     * group's live slots, where they are at most {@link #KV_PREFETCH_SLOTS}) while the product streams its weights, so
     * that the attention's first loads, a chain of dependent round trips at short context, find them there.
     */
    public static final int PREFETCH_KV = 16;
    /**
     * The most live slots of a KV group whose keys and values {@link #PREFETCH_KV} asks for: past them the attention runs
     * as many splits, bandwidth-bound rather than waiting on round trips, and early lines would only crowd the L2.
     */
    public static final int KV_PREFETCH_SLOTS = 512;

    private NormedMatVecKernels() {
    }

    /** The launch over {@code pairs} row pairs: one warp each. */
    public static Grid grid(int pairs) {
        return grid(pairs, 1);
    }

    /** The launch over {@code pairs} row pairs, each pair's columns shared by {@code parts} warps ({@link #parts}). */
    public static Grid grid(int pairs, int parts) {
        int perGroup = PAIRS_PER_GROUP / MatVecKernels.checkParts(parts);
        return Grid.of((pairs + perGroup - 1) / perGroup, GROUP);
    }

    /**
     * How many warps share each row pair's columns in a launch over {@code pairs} pairs of {@code cols} columns:
     * {@link MatVecKernels#parts} with a pair as a row, so that each lane keeps one whole unrolled run of its loop
     * (four steps of two 16-byte loads: all eight in flight at once; with fewer columns the steps would run one after
     * another). 2 for a 1B model's q/k/v (1536 pairs of 2048 columns), 1 for its gate/up (8192 pairs) and output head.
     */
    public static int parts(int pairs, int cols) {
        return MatVecKernels.parts(pairs, cols);
    }

    /** Row pairs of a launch of {@link #half} over {@code rows} rows with {@code epilogue}. */
    public static int pairs(int rows, int epilogue) {
        return (epilogue & GLU) != 0 ? rows / 2 : (rows + 1) / 2;
    }

    /**
     * {@code out[r] = a[r] (+ bias[r])} for the normed rows {@code a} of {@code w} ({@code rows × cols}) against
     * {@code x}: pair p is rows 2p and 2p + 1 (an odd last row alone). With {@link #GLU}, pair p is rows p and
     * p + rows/2, and {@code out[p] = silu(a[p] (+ bias)) · (a[p + rows/2] (+ bias))}, {@code rows/2} outputs. Each
     * pair's columns are shared by {@code parts} adjacent warps (1, 2, 4 or 8; {@link #parts}), their sums added in
     * shared memory in warp order; lane 0 of the pair's first warp writes. Launch
     * {@link #grid(int, int)}{@code (pairs(rows, epilogue), parts)}.
     */
    public static void half(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer norm, F32Buffer bias, F32Buffer out,
                            int rows, @Specialize int cols, float eps, @Specialize int epilogue, @Specialize int ieee, @Specialize int parts) {
        float[] dots = ctx.sharedF32(2 * PAIRS_PER_GROUP);
        float[] shares = ctx.sharedF32(3 * PAIRS_PER_GROUP);
        int warp = ctx.localId() / KernelContext.WARP, part = warp % parts;
        int pair = ctx.groupId(0) * (PAIRS_PER_GROUP / parts) + warp / parts;
        boolean glu = (epilogue & GLU) != 0;
        boolean inside = pair < (glu ? rows / 2 : (rows + 1) / 2);
        if (parts == 1 && !inside) return; // the whole warp: no shuffle waits for it (shared pairs' warps all meet a barrier)
        int row0 = !inside ? 0 : glu ? pair : 2 * pair, row1 = !inside ? 0 : glu ? pair + rows / 2 : 2 * pair + 1;
        int from = MatVecKernels.partStart(cols, parts, part), to = parts > 1 && !inside ? from : MatVecKernels.partEnd(cols, parts, part);
        MatVecKernels.prefetchRow(ctx, w, (long) row0 * cols + from, to - from);
        if (row1 < rows) MatVecKernels.prefetchRow(ctx, w, (long) row1 * cols + from, to - from);
        ctx.awaitPriorKernels();
        pairDots(ctx, w, x, norm, row0, Math.min(row1, rows - 1), cols, from, to, eps, ieee, dots, shares, parts);
        if (ctx.laneId() != 0 || part != 0 || !inside) return;
        float a0 = dots[2 * warp], a1 = dots[2 * warp + 1];
        if ((epilogue & MatVecKernels.BIAS) != 0) {
            a0 += bias.get(row0);
            if (row1 < rows) a1 += bias.get(row1);
        }
        if (glu) {
            out.set(pair, VectorKernels.glu(a0, a1));
        } else {
            out.set(row0, a0);
            if (row1 < rows) out.set(row1, a1);
        }
    }

    /**
     * The attention input of a one-session step in one launch: RMSNorm, the fused q/k/v projection (+ bias), RoPE and
     * the KV cache write, as {@link AttentionKernels#ropeAndCache} does them after a plain matvec. {@code w} stacks
     * the query, key and value heads' rows, {@code headDim} each; warp p takes head {@code h = p / (headDim/2)} and
     * pair {@code i = p % (headDim/2)}, rows {@code h·headDim + i} and {@code + headDim/2}: the two halves rotate-half
     * RoPE turns together. A query head's rotated pair goes to {@code qkv} (where attention reads it); a key head's
     * rotated pair and a value head's pair go to the cache slot of the step's position, in row 0's layout as for
     * {@code ropeAndCache} (a sink-only group keeps no later position), and the key head's warp with i = 0 records the
     * position the slot now holds; the cache is stored in {@code kvFormat} ({@link KvStore}). Each pair's columns are
     * shared by {@code parts} warps as in {@link #half}; lane 0 of the pair's first warp writes. Launch
     * {@link #grid(int, int)}{@code ((heads + 2·kvHeads)·headDim/2, parts)}.
     */
    public static void halfRope(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer norm, F32Buffer bias, F32Buffer qkv,
                                F32Buffer cos, F32Buffer sin, F32Buffer keyCache, F32Buffer valueCache, Half16Buffer keys16,
                                Half16Buffer values16, I32Buffer slotPositions, I32Buffer offsets, I32Buffer rings, I32Buffer step,
                                I32Buffer sinkSlots, @Specialize int heads, @Specialize int kvHeads, @Specialize int headDim,
                                @Specialize int cols, float eps, @Specialize int epilogue, @Specialize int ieee, @Specialize int kvFormat,
                                @Specialize int parts) {
        float[] dots = ctx.sharedF32(2 * PAIRS_PER_GROUP);
        float[] shares = ctx.sharedF32(3 * PAIRS_PER_GROUP);
        int warp = ctx.localId() / KernelContext.WARP, part = warp % parts;
        int pair = ctx.groupId(0) * (PAIRS_PER_GROUP / parts) + warp / parts;
        int half = headDim / 2;
        boolean inside = pair < (heads + 2 * kvHeads) * half;
        if (parts == 1 && !inside) return; // the whole warp (shared pairs' warps all meet a barrier)
        if (!inside) pair = 0; // past the last pair: pair 0's loads, no weights, nothing written
        int head = pair / half, i = pair % half;
        int row0 = head * headDim + i, row1 = row0 + half;
        int from = MatVecKernels.partStart(cols, parts, part), to = parts > 1 && !inside ? from : MatVecKernels.partEnd(cols, parts, part);
        MatVecKernels.prefetchRow(ctx, w, (long) row0 * cols + from, to - from);
        MatVecKernels.prefetchRow(ctx, w, (long) row1 * cols + from, to - from);
        ctx.awaitPriorKernels();
        // what the epilogue reads, loaded before the dot products so the loads overlap the weights' (a chain of
        // dependent loads after them would be the kernel's tail)
        int position = step.get(Step.POSITION);
        boolean value = head >= heads + kvHeads;
        long angle = (long) position * half + i;
        float c = value ? 1f : cos.get(angle), s = value ? 0f : sin.get(angle);
        float b0 = 0f, b1 = 0f;
        if ((epilogue & MatVecKernels.BIAS) != 0) {
            b0 = bias.get(row0);
            b1 = bias.get(row1);
        }
        int g = value ? head - heads - kvHeads : head - heads;
        int slot = head < heads ? -1 : CacheLayout.slotOf(position, sinkSlots.get(0), rings.get(g));
        int first = head < heads ? 0 : offsets.get(g);
        if ((epilogue & PREFETCH_KV) != 0) {
            prefetchKv(ctx, keyCache, valueCache, keys16, values16, offsets, rings, sinkSlots.get(0), position, kvHeads, headDim, kvFormat);
        }
        pairDots(ctx, w, x, norm, row0, row1, cols, from, to, eps, ieee, dots, shares, parts);
        if (ctx.laneId() != 0 || part != 0 || !inside) return;
        float a0 = dots[2 * warp] + b0, a1 = dots[2 * warp + 1] + b1;
        float r0 = a0 * c - a1 * s, r1 = a1 * c + a0 * s; // a value head's pair passes unrotated
        if (head < heads) {
            qkv.set(row0, r0);
            qkv.set(row1, r1);
            return;
        }
        if (slot < 0) return; // a sink-only group keeps no later position
        long at = (long) (first + slot) * headDim + i;
        if (value) {
            KvStore.set(valueCache, values16, kvFormat, at, a0);
            KvStore.set(valueCache, values16, kvFormat, at + half, a1);
        } else {
            KvStore.set(keyCache, keys16, kvFormat, at, r0);
            KvStore.set(keyCache, keys16, kvFormat, at + half, r1);
            if (i == 0) slotPositions.set(first + slot, position);
        }
    }

    /**
     * {@link #PREFETCH_KV}: group r of the launch (and every {@code groups(0)}-th after it) asks the L2 for KV group
     * r/2's keys (r even) or values (r odd), every 128-byte line of its live slots once this step's is written (the one
     * this launch writes included: a hint, asked for before or after the write alike), where they are at most {@link
     * #KV_PREFETCH_SLOTS}; each work-item a line's worth of elements at a time, and one the range's last element (a
     * range need not start on a line). Row 0's layout, as the cache write.
     */
    static void prefetchKv(KernelContext ctx, F32Buffer keyCache, F32Buffer valueCache, Half16Buffer keys16, Half16Buffer values16,
                           I32Buffer offsets, I32Buffer rings, int sinkSlots, int position, int kvHeads, int headDim, int kvFormat) {
        for (int r = ctx.groupId(0); r < 2 * kvHeads; r += ctx.groups(0)) {
            int g = r / 2;
            int live = CacheLayout.liveSlots(position, sinkSlots, rings.get(g));
            if (live > KV_PREFETCH_SLOTS) continue;
            long start = (long) offsets.get(g) * headDim, count = (long) live * headDim;
            boolean keys = r % 2 == 0;
            // a line's worth of elements apart, and the last element (the range need not start on a line)
            int perLine = kvFormat == KvStore.BF16 ? 64 : 32;
            for (long e = ctx.localId() * (long) perLine; e < count + perLine; e += (long) GROUP * perLine) {
                long at = start + Math.min(e, count - 1);
                if (kvFormat == KvStore.BF16) {
                    if (keys) ctx.prefetchL2(keys16, at);
                    else ctx.prefetchL2(values16, at);
                } else {
                    if (keys) ctx.prefetchL2(keyCache, at);
                    else ctx.prefetchL2(valueCache, at);
                }
            }
        }
    }

    /**
     * The normed dot products of rows {@code row0} and {@code row1} with {@code x} over all columns, into
     * {@code dots[2w]} and {@code dots[2w + 1]} for warp w (written by lane 0 of the pair's first warp). This warp
     * takes columns {@code [from, to)} of the {@code parts} runs its pair's warps share, each lane a strided share of
     * them: eight weights of each row per 16-byte load when {@code cols} is a multiple of 8 (rows then start 16-byte
     * aligned), one otherwise, summing {@code x²} and {@code w·x·g}; shuffle reductions sum the lanes, the pair's
     * warps' sums meet in {@code shares} (three a warp, added in warp order), then the sums are scaled by 1 / rms.
     * With {@code parts > 1} every work-item of the group calls it (a barrier).
     */
    static void pairDots(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer norm, int row0, int row1, int cols, int from, int to,
                         float eps, int ieee, float[] dots, float[] shares, int parts) {
        int lane = ctx.laneId(), warp = ctx.localId() / KernelContext.WARP;
        long base0 = (long) row0 * cols, base1 = (long) row1 * cols;
        float s0 = 0f, s1 = 0f, squares = 0f;
        if (cols % 8 == 0) {
            KernelContext.unroll(4); // eight 16-byte weight loads in flight per lane
            for (int c = from + lane * 8; c < to; c += 8 * KernelContext.WARP) {
                Vec16 a = w.load8Once(base0 + c), b = w.load8Once(base1 + c); // (read once: the L1 keeps x and g)
                Vec16 xa = x.load4(c), xb = x.load4(c + 4), ga = norm.load4(c), gb = norm.load4(c + 4);
                float x0 = xa.f32(0), x1 = xa.f32(1), x2 = xa.f32(2), x3 = xa.f32(3);
                float x4 = xb.f32(0), x5 = xb.f32(1), x6 = xb.f32(2), x7 = xb.f32(3);
                squares += x0 * x0 + x1 * x1 + x2 * x2 + x3 * x3 + x4 * x4 + x5 * x5 + x6 * x6 + x7 * x7;
                float y0 = x0 * ga.f32(0), y1 = x1 * ga.f32(1), y2 = x2 * ga.f32(2), y3 = x3 * ga.f32(3);
                float y4 = x4 * gb.f32(0), y5 = x5 * gb.f32(1), y6 = x6 * gb.f32(2), y7 = x7 * gb.f32(3);
                s0 += widen(a.word(0), 0, ieee) * y0 + widen(a.word(0), 1, ieee) * y1 + widen(a.word(1), 0, ieee) * y2
                        + widen(a.word(1), 1, ieee) * y3 + widen(a.word(2), 0, ieee) * y4 + widen(a.word(2), 1, ieee) * y5
                        + widen(a.word(3), 0, ieee) * y6 + widen(a.word(3), 1, ieee) * y7;
                s1 += widen(b.word(0), 0, ieee) * y0 + widen(b.word(0), 1, ieee) * y1 + widen(b.word(1), 0, ieee) * y2
                        + widen(b.word(1), 1, ieee) * y3 + widen(b.word(2), 0, ieee) * y4 + widen(b.word(2), 1, ieee) * y5
                        + widen(b.word(3), 0, ieee) * y6 + widen(b.word(3), 1, ieee) * y7;
            }
        } else {
            KernelContext.unroll(4);
            for (int c = from + lane; c < to; c += KernelContext.WARP) {
                float xc = x.get(c), y = xc * norm.get(c);
                squares += xc * xc;
                s0 += widen(w.get(base0 + c), 0, ieee) * y;
                s1 += widen(w.get(base1 + c), 0, ieee) * y;
            }
        }
        squares = ctx.warpSum(squares);
        s0 = ctx.warpSum(s0);
        s1 = ctx.warpSum(s1);
        int part = warp % parts;
        if (parts > 1) { // the pair's warps' sums, added in warp order
            if (lane == 0) {
                shares[3 * warp] = squares;
                shares[3 * warp + 1] = s0;
                shares[3 * warp + 2] = s1;
            }
            ctx.barrier();
            squares = MatVecKernels.partsSum(shares, 3, 0, warp - part, parts);
            s0 = MatVecKernels.partsSum(shares, 3, 1, warp - part, parts);
            s1 = MatVecKernels.partsSum(shares, 3, 2, warp - part, parts);
        }
        float scale = KernelContext.rsqrt(squares / cols + eps);
        if (lane == 0 && part == 0) {
            dots[2 * warp] = s0 * scale;
            dots[2 * warp + 1] = s1 * scale;
        }
    }

    /**
     * The 16-bit weight in the low ({@code k} = 0) or high half of {@code word}, widened: IEEE half when {@code ieee} is
     * set, else BF16 — one shift or one mask, the BF16 bits already where a float's high half goes (narrowing to a
     * {@code short} first, then widening, cost three instructions a weight in the matvecs' loops).
     */
    static float widen(int word, int k, int ieee) {
        if (ieee != 0) return KernelContext.f16ToFloat((short) (k == 0 ? word : word >>> 16));
        return Float.intBitsToFloat(k == 0 ? word << 16 : word & 0xFFFF0000);
    }
}
