package dev.moa.tasks.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.plans.CacheLayout;
import dev.moa.plans.HeadSpans;
import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * MoA decode attention on the ragged per-head cache against a brute-force reference that attends over explicit
 * positions (sink + window of each query head, written here without the shared rule), and RoPE + cache write into
 * the slot the shared {@link CacheLayout} gives.
 */
class AttentionKernelTest {
    final Random random = new Random();
    final Arena arena = Arena.ofShared();

    /** A layer's cache after positions 0..position were written, from full K/V histories. */
    static final class Layer {
        final int heads, kvHeads, headDim, position;
        final int[] headSinks, headLocals;
        final CacheLayout layout;
        final float[][][] keys, values; // [position][kvHead][d]
        final float[] q;
        final F32Buffer keyCache, valueCache, query;
        /** The cache in BF16 ({@link KvStore}): keys16/values16 hold it and the F32 buffers are placeholders, or the reverse. */
        final Half16Buffer keys16, values16;
        final int format;
        final I32Buffer slotPositions, offsets, rings, sink, local;

        /** Groups {0, 1} and {2, 3}: 64 sink slots each, rings of 128 and 256. */
        Layer(Arena arena, Random random, int position) {
            this(arena, random, position, 20, 64, new int[] {128, 64, 256, 192}, 2);
        }

        Layer(Arena arena, Random random, int position, int headDim, int sinkTokens, int[] headLocals, int kvHeads) {
            this(arena, random, position, headDim, sinkTokens, headLocals, kvHeads, KvStore.F32);
        }

        /**
         * {@code headLocals.length} query heads over {@code kvHeads} KV heads, each with a 64-token sink; keys and values
         * stored in {@code format} (the histories the reference reads are then the BF16-rounded values).
         */
        Layer(Arena arena, Random random, int position, int headDim, int sinkTokens, int[] headLocals, int kvHeads, int format) {
            this.position = position;
            this.format = format;
            this.heads = headLocals.length;
            this.kvHeads = kvHeads;
            this.headDim = headDim;
            this.headLocals = headLocals;
            this.headSinks = new int[heads];
            java.util.Arrays.fill(headSinks, sinkTokens);
            layout = new CacheLayout(new HeadSpans(1024, new int[][] {headSinks}, new int[][] {headLocals}), heads / kvHeads, 1 << 20);
            keys = new float[position + 1][kvHeads][headDim];
            values = new float[position + 1][kvHeads][headDim];
            for (int p = 0; p <= position; p++) {
                for (int g = 0; g < kvHeads; g++) {
                    for (int d = 0; d < headDim; d++) {
                        keys[p][g][d] = (float) random.nextGaussian();
                        values[p][g][d] = (float) random.nextGaussian();
                        if (format == KvStore.BF16) {
                            keys[p][g][d] = KvStore.round(keys[p][g][d]);
                            values[p][g][d] = KvStore.round(values[p][g][d]);
                        }
                    }
                }
            }
            q = new float[heads * headDim];
            for (int i = 0; i < q.length; i++) q[i] = (float) random.nextGaussian();
            int totalSlots = layout.layerSlots(0);
            boolean bf16 = format == KvStore.BF16;
            keyCache = F32Buffer.allocate(arena, bf16 ? 4 : (long) totalSlots * headDim);
            valueCache = F32Buffer.allocate(arena, bf16 ? 4 : (long) totalSlots * headDim);
            keys16 = Half16Buffer.allocate(arena, bf16 ? (long) totalSlots * headDim : 8);
            values16 = Half16Buffer.allocate(arena, bf16 ? (long) totalSlots * headDim : 8);
            slotPositions = I32Buffer.allocate(arena, totalSlots);
            for (int s = 0; s < totalSlots; s++) slotPositions.set(s, -1);
            offsets = I32Buffer.allocate(arena, kvHeads);
            rings = I32Buffer.allocate(arena, kvHeads);
            for (int g = 0; g < kvHeads; g++) {
                offsets.set(g, layout.offset(0, g));
                rings.set(g, layout.ringSlots(0, g));
            }
            sink = I32Buffer.of(arena, headSinks);
            local = I32Buffer.of(arena, headLocals);
            query = F32Buffer.of(arena, q);
            for (int p = 0; p <= position; p++) {
                for (int g = 0; g < kvHeads; g++) {
                    int slot = layout.slot(0, g, p);
                    if (slot < 0) continue;
                    int at = offsets.get(g) + slot;
                    slotPositions.set(at, p);
                    for (int d = 0; d < headDim; d++) {
                        long i = (long) at * headDim + d;
                        if (bf16) {
                            keys16.set(i, KernelContext.floatToBf16(keys[p][g][d]));
                            values16.set(i, KernelContext.floatToBf16(values[p][g][d]));
                        } else {
                            keyCache.set(i, keys[p][g][d]);
                            valueCache.set(i, values[p][g][d]);
                        }
                    }
                }
            }
        }

        /** Stored key element {@code i} of the cache, widened. */
        float key(long i) {
            return format == KvStore.BF16 ? KernelContext.bf16ToFloat(keys16.get(i)) : keyCache.get(i);
        }

        float value(long i) {
            return format == KvStore.BF16 ? KernelContext.bf16ToFloat(values16.get(i)) : valueCache.get(i);
        }

        /** Softmax attention of head h over exactly its visible positions, in double. */
        double[] reference(int h, float scale) {
            int g = h / (heads / kvHeads);
            double max = Double.NEGATIVE_INFINITY;
            double[] scores = new double[position + 1];
            for (int p = 0; p <= position; p++) {
                boolean visible = p < headSinks[h] || p > position - headLocals[h];
                if (!visible) {
                    scores[p] = Double.NEGATIVE_INFINITY;
                    continue;
                }
                double dot = 0;
                for (int d = 0; d < headDim; d++) dot += q[h * headDim + d] * (double) keys[p][g][d];
                scores[p] = dot * scale;
                max = Math.max(max, scores[p]);
            }
            double sum = 0;
            double[] out = new double[headDim];
            for (int p = 0; p <= position; p++) {
                if (scores[p] == Double.NEGATIVE_INFINITY) continue;
                double w = Math.exp(scores[p] - max);
                sum += w;
                for (int d = 0; d < headDim; d++) out[d] += w * values[p][g][d];
            }
            for (int d = 0; d < headDim; d++) out[d] /= sum;
            return out;
        }
    }

    /** A step buffer at {@code position} (the token is not read by these kernels). */
    static I32Buffer step(Arena arena, int position) {
        I32Buffer step = I32Buffer.allocate(arena, Step.SIZE);
        step.set(Step.POSITION, position);
        return step;
    }

    static void attend(Layer l, F32Buffer out, Arena arena, float scale) {
        attend(l, out, arena, scale, false);
    }

    /** Split attention per query head and the combine, or per KV group with {@code grouped} (merging its own splits), in the emulator. */
    static void attend(Layer l, F32Buffer out, Arena arena, float scale, boolean grouped) {
        attend(l, out, arena, scale, grouped ? "decodeGrouped" : "decodeSplit");
    }

    /** {@link #attend} by {@code kernel}: decodeSplit (and the combine), decodeGrouped or decodeStaged. */
    static void attend(Layer l, F32Buffer out, Arena arena, float scale, String kernel) {
        attend(l, arena, scale, kernel, out);
    }

    /**
     * {@link #attend} by {@code kernel}, its output arguments {@code output}: the float output, or for the grouped
     * kernels' {@code …Parts} entries the high and low parts.
     */
    static void attend(Layer l, Arena arena, float scale, String kernel, Object... output) {
        boolean grouped = !kernel.equals("decodeSplit");
        int widest = 0;
        for (int g = 0; g < l.kvHeads; g++) widest = Math.max(widest, l.layout.groupSlots(0, g));
        int splits = AttentionKernels.splits(widest, grouped);
        F32Buffer partialOut = F32Buffer.allocate(arena, (long) l.heads * splits * l.headDim);
        F32Buffer partialMax = F32Buffer.allocate(arena, (long) l.heads * splits);
        F32Buffer partialSum = F32Buffer.allocate(arena, (long) l.heads * splits);
        if (grouped) {
            // device memory holds anything: a split no position has reached must neither write nor be read (NaN would show)
            for (F32Buffer partial : new F32Buffer[] {partialOut, partialMax, partialSum}) {
                for (long i = 0; i < partial.length(); i++) partial.set(i, Float.NaN);
            }
            // the last split of each KV group to finish merges the group's splits: no combine launch
            I32Buffer arrivals = I32Buffer.allocate(arena, l.kvHeads);
            Grid grid = Grid.of(l.kvHeads, splits, AttentionKernels.GROUPED);
            if (kernel.startsWith("decodeStaged")) grid = grid.withSharedBytes(AttentionKernels.stagedSharedBytes(l.heads / l.kvHeads, l.headDim, l.format));
            List<Object> args = new ArrayList<>(List.of(l.query, l.keyCache, l.valueCache, l.keys16, l.values16, l.slotPositions, l.offsets,
                    l.rings, l.sink, l.local, partialOut, partialMax, partialSum, arrivals));
            args.addAll(List.of(output));
            args.addAll(List.of(step(arena, l.position), I32Buffer.of(arena, l.layout.sinkSlots()), l.heads, l.kvHeads, l.headDim, scale, l.format));
            Emulator.launch(AttentionKernels.class, kernel, grid, args.toArray());
            for (int g = 0; g < l.kvHeads; g++) assertEquals(0, arrivals.get(g), "group " + g + "'s arrivals are reset for the next step");
            int active = (Math.min(l.position + 1, widest) + AttentionKernels.GROUPED_SPLIT - 1) / AttentionKernels.GROUPED_SPLIT;
            for (int s = active; s < splits; s++) {
                assertTrue(Float.isNaN(partialMax.get(s)), "split " + s + " of " + splits + " holds no position at " + l.position + ": nothing written");
            }
            return;
        }
        Emulator.launch(AttentionKernels.class, "decodeSplit", Grid.of(l.heads, splits, AttentionKernels.GROUP), l.query,
                l.keyCache, l.valueCache, l.keys16, l.values16, l.slotPositions, l.offsets, l.rings, l.sink, l.local, partialOut, partialMax,
                partialSum, step(arena, l.position), I32Buffer.of(arena, l.layout.sinkSlots()), l.heads, l.kvHeads, l.headDim, scale, l.format);
        Emulator.launch(AttentionKernels.class, "combine", Grid.of(l.heads, AttentionKernels.GROUP), partialOut, partialMax,
                partialSum, output[0], splits, l.headDim);
    }

    /**
     * The grouped kernels' {@code …Parts} entries write, as two BF16 parts, exactly the floats their plain entries
     * write ({@link PipelinedGemm#writeParts} of each): from one split (no merge) and from several (the last split's merge).
     */
    @Test
    void groupedAttentionWritesTheOutputProjectionsParts() {
        int[][] shapes = {{64, 4, KvStore.BF16}, {32, 2, KvStore.F32}};
        for (int[] shape : shapes) {
            int headDim = shape[0], groupHeads = shape[1], format = shape[2];
            int[] locals = new int[2 * groupHeads];
            for (int h = 0; h < locals.length; h++) locals[h] = 64 * (1 + random.nextInt(5));
            for (int position : new int[] {40, 700 + random.nextInt(100)}) {
                Layer l = new Layer(arena, random, position, headDim, 64, locals, 2, format);
                float scale = (float) (1 / Math.sqrt(l.headDim));
                long n = (long) l.heads * l.headDim;
                for (String kernel : new String[] {"decodeGrouped", "decodeStaged"}) {
                    F32Buffer out = F32Buffer.allocate(arena, n);
                    attend(l, arena, scale, kernel, out);
                    Half16Buffer high = Half16Buffer.allocate(arena, n), low = Half16Buffer.allocate(arena, n);
                    Half16Buffer expectedHigh = Half16Buffer.allocate(arena, n), expectedLow = Half16Buffer.allocate(arena, n);
                    attend(l, arena, scale, kernel + "Parts", high, low);
                    for (long i = 0; i < n; i++) PipelinedGemm.writeParts(expectedHigh, expectedLow, i, out.get(i), 2);
                    String what = kernel + "Parts, head dim " + headDim + ", position " + position;
                    for (long i = 0; i < n; i++) {
                        assertEquals(expectedHigh.get(i), high.get(i), what + ": high part of " + i);
                        assertEquals(expectedLow.get(i), low.get(i), what + ": low part of " + i);
                    }
                }
            }
        }
    }

    @Test
    void decodeAttentionOverRaggedSpansMatchesExplicitPositions() {
        // before any ring wraps, right at a span, and after several wraps
        for (int position : new int[] {40, 191, 700 + random.nextInt(100)}) {
            Layer l = new Layer(arena, random, position);
            float scale = (float) (1 / Math.sqrt(l.headDim));
            F32Buffer out = F32Buffer.allocate(arena, (long) l.heads * l.headDim);
            attend(l, out, arena, scale);
            for (int h = 0; h < l.heads; h++) {
                double[] expected = l.reference(h, scale);
                for (int d = 0; d < l.headDim; d++) {
                    assertEquals(expected[d], out.get((long) h * l.headDim + d), 1e-4, "position " + position + " head " + h + " dim " + d);
                }
            }
        }
    }

    @Test
    void groupedDecodeAttentionMatchesExplicitPositions() {
        // head sizes with 16-byte key loads and without (18), below and at the warp's width and up to the widest,
        // 2 and 8 query heads per KV head, positions before a ring wraps, at a span and after several wraps
        int[][] shapes = {{20, 2}, {64, 2}, {18, 3}, {128, 4}, {24, AttentionKernels.MAX_GROUP_HEADS}};
        for (int[] shape : shapes) {
            int headDim = shape[0], groupHeads = shape[1];
            int[] locals = new int[2 * groupHeads];
            for (int h = 0; h < locals.length; h++) locals[h] = 64 * (1 + random.nextInt(5));
            for (int position : new int[] {40, 191, 700 + random.nextInt(100)}) {
                Layer l = new Layer(arena, random, position, headDim, 64, locals, 2);
                float scale = (float) (1 / Math.sqrt(l.headDim));
                F32Buffer out = F32Buffer.allocate(arena, (long) l.heads * l.headDim);
                attend(l, out, arena, scale, true);
                for (int h = 0; h < l.heads; h++) {
                    double[] expected = l.reference(h, scale);
                    for (int d = 0; d < l.headDim; d++) {
                        assertEquals(expected[d], out.get((long) h * l.headDim + d), 1e-4,
                                "head dim " + headDim + ", " + groupHeads + " heads per group, position " + position + " head " + h + " dim " + d);
                    }
                }
            }
        }
    }

    @Test
    void stagedDecodeAttentionMatchesExplicitPositions() {
        // tiles of 128 rows (BF16 64, both formats at 8 and 16), 64 (BF16 128, F32 64: two work-items score a row) and 32
        // (F32 128: four); 2 to 8 query heads per KV head; one to three splits, the last split's tiles partly filled
        int[][] shapes = {{64, 4, KvStore.BF16}, {128, 2, KvStore.BF16}, {16, 3, KvStore.BF16}, {64, 2, KvStore.F32},
                {128, 4, KvStore.F32}, {8, AttentionKernels.MAX_GROUP_HEADS, KvStore.F32}, {32, 5, KvStore.F32}};
        for (int[] shape : shapes) {
            int headDim = shape[0], groupHeads = shape[1], format = shape[2];
            assertTrue(AttentionKernels.staged(headDim, format), "head dim " + headDim + " is staged");
            int[] locals = new int[2 * groupHeads];
            for (int h = 0; h < locals.length; h++) locals[h] = 64 * (1 + random.nextInt(5)) - random.nextInt(3);
            for (int position : new int[] {40, 191, 700 + random.nextInt(100)}) {
                Layer l = new Layer(arena, random, position, headDim, 64, locals, 2, format);
                float scale = (float) (1 / Math.sqrt(l.headDim));
                F32Buffer out = F32Buffer.allocate(arena, (long) l.heads * l.headDim);
                attend(l, out, arena, scale, "decodeStaged");
                for (int h = 0; h < l.heads; h++) {
                    double[] expected = l.reference(h, scale);
                    for (int d = 0; d < l.headDim; d++) {
                        assertEquals(expected[d], out.get((long) h * l.headDim + d), 1e-4, "head dim " + headDim + ", format " + format + ", "
                                + groupHeads + " heads per group, position " + position + " head " + h + " dim " + d);
                    }
                }
            }
        }
        // rows that are not whole 16-byte chunks, or more chunks than a warp has lanes, stay with decodeGrouped
        assertFalse(AttentionKernels.staged(18, KvStore.F32));
        assertFalse(AttentionKernels.staged(20, KvStore.BF16));
        assertFalse(AttentionKernels.staged(20, KvStore.F32));
        assertFalse(AttentionKernels.staged(256, KvStore.BF16));
    }

    /**
     * The staged rows' padding: when scoring, each quarter-warp's eight 16-byte shared loads (work-item t reads chunk
     * {@code t % share} of row {@code t / share}, then every {@code share}-th) fall in eight different groups of four
     * banks, for every staged head dim in both formats; and the carved arrays are what the launch gives.
     */
    @Test
    void stagedKeyRowsSpreadOverTheBanks() {
        for (int format : new int[] {KvStore.F32, KvStore.BF16}) {
            for (int headDim : new int[] {64, 128, 32, 16, 8, 4}) {
                if (!AttentionKernels.staged(headDim, format)) continue;
                int slots = AttentionKernels.stagedSlots(headDim, format), stride = AttentionKernels.stagedStride(headDim, format);
                int share = AttentionKernels.GROUPED / slots, chunks = headDim * (format == KvStore.BF16 ? 2 : 4) / 16;
                // queries, scores and four warps' sums of four heads, then the two tile buffers
                assertEquals(4 * (4 * headDim + 4 * 128 + 16 * headDim + 2 * slots * stride), AttentionKernels.stagedSharedBytes(3, headDim, format));
                assertTrue(stride % 4 == 0 && stride >= 4 * chunks, "rows 16-byte aligned and whole");
                for (int n = 0; n < chunks / share; n++) {
                    for (int quarter = 0; quarter < AttentionKernels.GROUPED; quarter += 8) {
                        java.util.Set<Integer> groups = new java.util.HashSet<>();
                        for (int t = quarter; t < quarter + 8; t++) {
                            int word = t / share * stride + 4 * (t % share + n * share);
                            groups.add(word / 4 % 8);
                        }
                        assertEquals(8, groups.size(), "format " + format + ", head dim " + headDim + ", chunk step " + n + ", lanes " + quarter + "..");
                    }
                }
            }
        }
    }

    @Test
    void bf16CachesAttendAsTheReferenceOverTheRoundedKeysAndValues() {
        // the grouped kernel with 8-byte loads (64, 128) and element loads (18), and the split kernel; after ring wraps
        int[][] shapes = {{64, 4}, {128, 2}, {18, 3}};
        for (boolean grouped : new boolean[] {true, false}) {
            for (int[] shape : shapes) {
                int headDim = shape[0], groupHeads = shape[1];
                int[] locals = new int[2 * groupHeads];
                for (int h = 0; h < locals.length; h++) locals[h] = 64 * (1 + random.nextInt(5));
                int position = 700 + random.nextInt(100);
                Layer l = new Layer(arena, random, position, headDim, 64, locals, 2, KvStore.BF16);
                float scale = (float) (1 / Math.sqrt(l.headDim));
                F32Buffer out = F32Buffer.allocate(arena, (long) l.heads * l.headDim);
                attend(l, out, arena, scale, grouped);
                for (int h = 0; h < l.heads; h++) {
                    double[] expected = l.reference(h, scale);
                    for (int d = 0; d < l.headDim; d++) {
                        assertEquals(expected[d], out.get((long) h * l.headDim + d), 1e-4,
                                (grouped ? "grouped" : "split") + ", head dim " + headDim + ", head " + h + " dim " + d);
                    }
                }
                assertEquals(4, l.keyCache.length(), "the F32 buffers are placeholders");
            }
        }
    }

    @Test
    void ropeAndCacheRotateTheFusedQkvAndWriteTheKeyIntoItsSlot() {
        for (int format : new int[] {KvStore.F32, KvStore.BF16}) ropeAndCache(format);
    }

    /** RoPE and the cache write with the cache in {@code format}: a BF16 cache holds exactly the rounded rotation. */
    private void ropeAndCache(int format) {
        Layer l = new Layer(arena, random, 500, 20, 64, new int[] {128, 64, 256, 192}, 2, format);
        int half = l.headDim / 2, position = 501, positions = 600;
        // a table of every position's angles; only the step's row may be used
        float[] cos = new float[positions * half], sin = new float[positions * half];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * Math.pow(10000, -2.0 * i / l.headDim);
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
        int qDim = l.heads * l.headDim, kvDim = l.kvHeads * l.headDim;
        float[] qkv = new float[qDim + 2 * kvDim];
        for (int i = 0; i < qkv.length; i++) qkv[i] = (float) random.nextGaussian();
        F32Buffer fused = F32Buffer.of(arena, qkv);
        Emulator.launch(AttentionKernels.class, "ropeAndCache", Grid.of(l.heads + l.kvHeads, AttentionKernels.GROUP), fused,
                F32Buffer.of(arena, cos), F32Buffer.of(arena, sin), l.keyCache, l.valueCache, l.keys16, l.values16, l.slotPositions, l.offsets,
                l.rings, step(arena, position), I32Buffer.of(arena, l.layout.sinkSlots()), l.heads, l.kvHeads, l.headDim, format);
        int at0 = position * half;
        for (int h = 0; h < l.heads; h++) {
            for (int i = 0; i < half; i++) {
                float x1 = qkv[h * l.headDim + i], x2 = qkv[h * l.headDim + i + half];
                assertEquals(x1 * cos[at0 + i] - x2 * sin[at0 + i], fused.get(h * l.headDim + i), 1e-6);
                assertEquals(x2 * cos[at0 + i] + x1 * sin[at0 + i], fused.get(h * l.headDim + i + half), 1e-6);
            }
        }
        for (int g = 0; g < l.kvHeads; g++) {
            int at = l.offsets.get(g) + l.layout.slot(0, g, position);
            assertEquals(position, l.slotPositions.get(at), "group " + g + " slot of position " + position);
            for (int i = 0; i < half; i++) {
                float x1 = qkv[qDim + g * l.headDim + i], x2 = qkv[qDim + g * l.headDim + i + half];
                // BF16: the rounding of the F32 rotation, exactly (the same products in the same order, then cvt.rn)
                float k1 = x1 * cos[at0 + i] - x2 * sin[at0 + i], k2 = x2 * cos[at0 + i] + x1 * sin[at0 + i];
                long slot = (long) at * l.headDim + i;
                if (format == KvStore.BF16) {
                    assertEquals(KvStore.round(k1), l.key(slot));
                    assertEquals(KvStore.round(k2), l.key(slot + half));
                } else {
                    assertEquals(k1, l.key(slot), 1e-6);
                    assertEquals(k2, l.key(slot + half), 1e-6);
                }
                float v1 = qkv[qDim + kvDim + g * l.headDim + i], v2 = qkv[qDim + kvDim + g * l.headDim + i + half];
                assertEquals(format == KvStore.BF16 ? KvStore.round(v1) : v1, l.value(slot));
                assertEquals(format == KvStore.BF16 ? KvStore.round(v2) : v2, l.value(slot + half));
                assertEquals(x1, fused.get(qDim + g * l.headDim + i), "the key heads of qkv are read, not rotated in place");
            }
        }
    }
}
