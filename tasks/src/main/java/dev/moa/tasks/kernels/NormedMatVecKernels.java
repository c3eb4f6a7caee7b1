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

    private NormedMatVecKernels() {
    }

    /** The launch over {@code pairs} row pairs: one warp each. */
    public static Grid grid(int pairs) {
        return Grid.of((pairs + PAIRS_PER_GROUP - 1) / PAIRS_PER_GROUP, GROUP);
    }

    /** Row pairs of a launch of {@link #half} over {@code rows} rows with {@code epilogue}. */
    public static int pairs(int rows, int epilogue) {
        return (epilogue & GLU) != 0 ? rows / 2 : (rows + 1) / 2;
    }

    /**
     * {@code out[r] = a[r] (+ bias[r])} for the normed rows {@code a} of {@code w} ({@code rows × cols}) against
     * {@code x}: warp p computes rows 2p and 2p + 1 (an odd last row alone). With {@link #GLU}, warp p computes rows
     * p and p + rows/2 and writes {@code out[p] = silu(a[p] (+ bias)) · (a[p + rows/2] (+ bias))}, {@code rows/2}
     * outputs. Lane 0 of the warp writes. Launch {@link #grid}{@code (pairs(rows, epilogue))}.
     */
    public static void half(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer norm, F32Buffer bias, F32Buffer out,
                            int rows, @Specialize int cols, float eps, @Specialize int epilogue, @Specialize int ieee) {
        float[] dots = ctx.sharedF32(2 * PAIRS_PER_GROUP);
        int warp = ctx.localId() / KernelContext.WARP;
        int pair = ctx.groupId(0) * PAIRS_PER_GROUP + warp;
        boolean glu = (epilogue & GLU) != 0;
        if (pair >= (glu ? rows / 2 : (rows + 1) / 2)) return; // the whole warp: no shuffle waits for it
        int row0 = glu ? pair : 2 * pair, row1 = glu ? pair + rows / 2 : 2 * pair + 1;
        MatVecKernels.prefetchRow(ctx, w, (long) row0 * cols, cols);
        if (row1 < rows) MatVecKernels.prefetchRow(ctx, w, (long) row1 * cols, cols);
        ctx.awaitPriorKernels();
        pairDots(ctx, w, x, norm, row0, Math.min(row1, rows - 1), cols, eps, ieee, dots, 2 * warp);
        if (ctx.laneId() != 0) return;
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
     * position the slot now holds; the cache is stored in {@code kvFormat} ({@link KvStore}). Lane 0 of the warp writes. Launch {@link #grid}{@code ((heads + 2·kvHeads)·headDim/2)}.
     */
    public static void halfRope(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer norm, F32Buffer bias, F32Buffer qkv,
                                F32Buffer cos, F32Buffer sin, F32Buffer keyCache, F32Buffer valueCache, Half16Buffer keys16,
                                Half16Buffer values16, I32Buffer slotPositions, I32Buffer offsets, I32Buffer rings, I32Buffer step,
                                I32Buffer sinkSlots, @Specialize int heads, @Specialize int kvHeads, @Specialize int headDim,
                                @Specialize int cols, float eps, @Specialize int epilogue, @Specialize int ieee, @Specialize int kvFormat) {
        float[] dots = ctx.sharedF32(2 * PAIRS_PER_GROUP);
        int warp = ctx.localId() / KernelContext.WARP;
        int pair = ctx.groupId(0) * PAIRS_PER_GROUP + warp;
        int half = headDim / 2;
        int head = pair / half, i = pair % half;
        if (head >= heads + 2 * kvHeads) return; // the whole warp
        int row0 = head * headDim + i, row1 = row0 + half;
        MatVecKernels.prefetchRow(ctx, w, (long) row0 * cols, cols);
        MatVecKernels.prefetchRow(ctx, w, (long) row1 * cols, cols);
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
        pairDots(ctx, w, x, norm, row0, row1, cols, eps, ieee, dots, 2 * warp);
        if (ctx.laneId() != 0) return;
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
     * The warp's normed dot products of rows {@code row0} and {@code row1} with {@code x}, into {@code dots[at]} and
     * {@code dots[at + 1]} (written by lane 0). Each lane takes a strided share of the columns: eight weights of each
     * row per 16-byte load when {@code cols} is a multiple of 8 (rows then start 16-byte aligned), one otherwise,
     * summing {@code x²} and {@code w·x·g}; shuffle reductions sum the lanes, then the sums are scaled by 1 / rms.
     */
    static void pairDots(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer norm, int row0, int row1, int cols, float eps,
                         int ieee, float[] dots, int at) {
        int lane = ctx.laneId();
        long base0 = (long) row0 * cols, base1 = (long) row1 * cols;
        float s0 = 0f, s1 = 0f, squares = 0f;
        if (cols % 8 == 0) {
            KernelContext.unroll(4); // eight 16-byte weight loads in flight per lane
            for (int c = lane * 8; c < cols; c += 8 * KernelContext.WARP) {
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
            for (int c = lane; c < cols; c += KernelContext.WARP) {
                float xc = x.get(c), y = xc * norm.get(c);
                squares += xc * xc;
                s0 += widen(w.get(base0 + c), 0, ieee) * y;
                s1 += widen(w.get(base1 + c), 0, ieee) * y;
            }
        }
        float scale = KernelContext.rsqrt(ctx.warpSum(squares) / cols + eps);
        s0 = ctx.warpSum(s0) * scale;
        s1 = ctx.warpSum(s1) * scale;
        if (lane == 0) {
            dots[at] = s0;
            dots[at + 1] = s1;
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
