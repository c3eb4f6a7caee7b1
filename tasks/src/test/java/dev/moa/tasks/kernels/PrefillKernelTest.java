package dev.moa.tasks.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Block-sparse prefill attention against brute force over explicit masks, written here from moa.md §2 without the
 * shared rule: query i (in 64-block q) sees key j iff j ≤ i and (the prompt is at most 64 tokens, or j's block is
 * 0, or j's block is within the head's band of b blocks ending at q). GQA, ragged prompt lengths, bands from one
 * block to dense; each prompt run at once and in chunks of 64 or 128 positions (queries from the chunk, keys and values
 * from the staged prompt), which must not change what any query sees. The FFMA kernel and the tensor-core one (for
 * head dims it takes: multiples of 8, padded to 16 inside) against the same reference; the tensor-core kernel with
 * its operands rounded to BF16 once (--prompt-precision bf16) against it with Q, K and V so rounded, within what
 * rounding the probabilities costs.
 */
class PrefillKernelTest {
    final Random random = new Random();
    final Arena arena = Arena.ofShared();

    static boolean sees(int i, int j, int tokens, int band) {
        if (j > i) return false;
        if (tokens <= 64) return true;
        int qb = i / 64, kb = j / 64;
        return kb == 0 || (kb >= 1 && kb >= qb - band + 1);
    }

    @Test
    void blockSparseAttentionEqualsBruteForceWithExplicitMasks() {
        int[][] shapes = {{40, 16}, {200, 24}, {333, 64}, {129, 128}, {140, 10}}; // tokens, head_dim (10: one value per load)
        for (int[] shape : shapes) {
            int tokens = shape[0], headDim = shape[1], heads = 4, kvHeads = 2, group = heads / kvHeads;
            int stride = heads * headDim, kvRow = 2 * kvHeads * headDim;
            F32Buffer q = F32Buffer.allocate(arena, (long) tokens * stride), kv = F32Buffer.allocate(arena, (long) tokens * kvRow);
            for (long i = 0; i < q.length(); i++) q.set(i, (float) random.nextGaussian());
            for (long i = 0; i < kv.length(); i++) kv.set(i, (float) random.nextGaussian());
            int[] band = {1, 2, 3 + random.nextInt(2), 1000}; // the last head dense
            float scale = (float) (1 / Math.sqrt(headDim));
            double offExact = 0; // how far the rounded kernel's outputs are from the F32 reference's
            for (int variant = 0; variant < 6; variant++) {
                int chunk = variant % 2 == 0 ? tokens : 64 << random.nextInt(2);
                boolean tensor = variant >= 2, rounded = variant >= 4;
                if (tensor && !PrefillKernels.tensorTakes(headDim)) continue;
                String kernel = rounded ? "blockSparseTensorRounded" : tensor ? "blockSparseTensor" : "blockSparse";
                F32Buffer out = F32Buffer.allocate(arena, (long) tokens * stride);
                long part = PrefillKernels.splitPart(tokens, kvRow); // the tensor kernel's keys and values, split a chunk at a time
                Half16Buffer kv16 = Half16Buffer.allocate(arena, 2 * part);
                for (int start = 0; start < tokens; start += chunk) {
                    int count = Math.min(chunk, tokens - start);
                    F32Buffer queries = F32Buffer.allocate(arena, (long) count * stride), rows = F32Buffer.allocate(arena, (long) count * stride);
                    for (long i = 0; i < queries.length(); i++) queries.set(i, q.get((long) start * stride + i));
                    if (tensor) {
                        Emulator.launch(PrefillKernels.class, "splitKeysValues", Grid.covering((long) count * kvRow, PrefillKernels.GROUP), kv, kv16, part,
                                (long) start * kvRow, count * kvRow);
                        I32Buffer schedule = I32Buffer.of(arena, PrefillKernels.longestFirst(start, count, tokens, heads, band));
                        Emulator.launch(PrefillKernels.class, kernel, PrefillKernels.tensorGrid(count, heads, headDim), queries, kv16, part, rows,
                                I32Buffer.of(arena, band), schedule, 0, start, count, tokens, heads, kvHeads, headDim, stride, scale);
                    } else {
                        I32Buffer schedule = I32Buffer.of(arena, PrefillKernels.longestFirst(start, count, tokens, heads, band, PrefillKernels.QUERIES));
                        Emulator.launch(PrefillKernels.class, kernel, PrefillKernels.grid(count, heads), queries, kv, rows, I32Buffer.of(arena, band), schedule,
                                0, start, count, tokens, heads, kvHeads, headDim, stride, scale);
                    }
                    for (long i = 0; i < rows.length(); i++) out.set((long) start * stride + i, rows.get(i));
                }
                for (int h = 0; h < heads; h++) {
                    int g = h / group;
                    for (int i = 0; i < tokens; i++) {
                        double[] score = new double[tokens];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j <= i; j++) {
                            if (!sees(i, j, tokens, band[h])) continue;
                            double dot = 0;
                            for (int d = 0; d < headDim; d++) {
                                dot += bf16(q.get((long) i * stride + h * headDim + d), rounded) * (double) bf16(kv.get((long) j * kvRow + g * headDim + d), rounded);
                            }
                            score[j] = dot * scale;
                            max = Math.max(max, score[j]);
                        }
                        double total = 0;
                        double[] o = new double[headDim];
                        for (int j = 0; j <= i; j++) {
                            if (!sees(i, j, tokens, band[h])) continue;
                            double p = Math.exp(score[j] - max);
                            total += p;
                            for (int d = 0; d < headDim; d++) o[d] += p * bf16(kv.get((long) j * kvRow + (kvHeads + g) * headDim + d), rounded);
                        }
                        for (int d = 0; d < headDim; d++) {
                            // BF16 probabilities: each weight off by up to 2^-9 of itself
                            assertEquals(o[d] / total, out.get((long) i * stride + h * headDim + d), rounded ? 1.5e-2 : 1e-4, kernel + ", " + tokens
                                    + " tokens in chunks of " + chunk + ", head_dim " + headDim + ", head " + h + " (band " + band[h] + "), query " + i + ", dim " + d);
                        }
                        if (rounded) offExact = Math.max(offExact, Math.abs(exact(q, kv, i, h, tokens, band[h], headDim, stride, kvRow, kvHeads, g, scale)
                                - out.get((long) i * stride + h * headDim)));
                    }
                }
            }
            if (PrefillKernels.tensorTakes(headDim)) {
                org.junit.jupiter.api.Assertions.assertTrue(offExact > 1e-4, "head_dim " + headDim + ": the rounded kernel is as exact as the split: " + offExact);
            }
        }
    }

    /**
     * The tensor-core attention writing its output as the output projection's BF16 parts gives, bit for bit, the parts
     * of what it writes as floats ({@link PipelinedGemm#writeParts}, two parts split, one rounded), in every row of a
     * chunk whose last 64-query block is partial, and nothing past the chunk's rows.
     */
    @Test
    void tensorAttentionWritesTheOutputProjectionsParts() {
        int tokens = 200, headDim = 24, heads = 4, kvHeads = 2, stride = heads * headDim, kvRow = 2 * kvHeads * headDim;
        int start = 64, count = tokens - start; // a second chunk: 136 queries, the last block of 8
        F32Buffer q = F32Buffer.allocate(arena, (long) count * stride), kv = F32Buffer.allocate(arena, (long) tokens * kvRow);
        for (long i = 0; i < q.length(); i++) q.set(i, (float) random.nextGaussian());
        for (long i = 0; i < kv.length(); i++) kv.set(i, (float) random.nextGaussian());
        long part = PrefillKernels.splitPart(tokens, kvRow);
        Half16Buffer kv16 = Half16Buffer.allocate(arena, 2 * part);
        Emulator.launch(PrefillKernels.class, "splitKeysValues", Grid.covering((long) tokens * kvRow, PrefillKernels.GROUP), kv, kv16, part, 0L, tokens * kvRow);
        I32Buffer bands = I32Buffer.of(arena, 1, 2, 3, 1000);
        // the chunk's items at an offset of a longer schedule, as the device prefill passes each chunk's
        int[] order = PrefillKernels.longestFirst(start, count, tokens, heads, new int[] {1, 2, 3, 1000});
        int[] padded = new int[order.length + 7];
        System.arraycopy(order, 0, padded, 7, order.length);
        I32Buffer schedule = I32Buffer.of(arena, padded);
        float scale = (float) (1 / Math.sqrt(headDim));
        long outputs = (long) count * stride, room = outputs + 64; // past the chunk's rows: must stay as they were
        for (int parts = 1; parts <= 2; parts++) {
            String floats = parts == 2 ? "blockSparseTensor" : "blockSparseTensorRounded";
            F32Buffer out = F32Buffer.allocate(arena, outputs);
            Emulator.launch(PrefillKernels.class, floats, PrefillKernels.tensorGrid(count, heads, headDim), q, kv16, part, out, bands, schedule, 7, start, count,
                    tokens, heads, kvHeads, headDim, stride, scale);
            Half16Buffer high = Half16Buffer.allocate(arena, room), low = Half16Buffer.allocate(arena, room);
            for (long i = 0; i < room; i++) {
                high.set(i, (short) 0x7FC1);
                low.set(i, (short) 0x7FC1);
            }
            if (parts == 2) {
                Emulator.launch(PrefillKernels.class, "blockSparseTensorParts", PrefillKernels.tensorGrid(count, heads, headDim), q, kv16, part, high, low,
                        bands, schedule, 7, start, count, tokens, heads, kvHeads, headDim, stride, scale);
            } else {
                Emulator.launch(PrefillKernels.class, "blockSparseTensorRoundedParts", PrefillKernels.tensorGrid(count, heads, headDim), q, kv16, part,
                        high, bands, schedule, 7, start, count, tokens, heads, kvHeads, headDim, stride, scale);
            }
            Half16Buffer wantHigh = Half16Buffer.allocate(arena, 1), wantLow = Half16Buffer.allocate(arena, 1);
            for (long i = 0; i < outputs; i++) {
                PipelinedGemm.writeParts(wantHigh, wantLow, 0, out.get(i), parts);
                assertEquals(wantHigh.get(0), high.get(i), floats + " parts " + parts + ": the first part of output " + i);
                if (parts == 2) assertEquals(wantLow.get(0), low.get(i), floats + ": the second part of output " + i);
            }
            for (long i = outputs; i < room; i++) {
                assertEquals((short) 0x7FC1, high.get(i), "nothing written past the chunk's outputs");
                assertEquals((short) 0x7FC1, low.get(i), "nothing written past the chunk's outputs");
            }
        }
    }

    /**
     * The tensor-core attention's schedule: every (query block, head) of the chunk once, in non-increasing order of the
     * key tiles the group visits — counted here from {@link #sees}, the brute force's own rule (a key block is visited
     * when a query of the block sees one of its keys) — over chunks, prompt lengths (one block and many) and bands.
     */
    @Test
    void theScheduleTakesEveryItemOnceTheLongestFirst() {
        int heads = 5;
        int[] band = {1, 3, 1000, 2, 7};
        for (int[] c : new int[][] {{0, 40, 40}, {0, 333, 333}, {128, 205, 333}, {256, 4096, 9000}, {8192, 808, 9000}}) {
            int start = c[0], count = c[1], tokens = c[2], blocks = (count + 63) / 64;
            for (int queries : new int[] {64, PrefillKernels.QUERIES}) {
            int[] order = PrefillKernels.longestFirst(start, count, tokens, heads, band, queries);
            blocks = (count + queries - 1) / queries;
            assertEquals(blocks * heads, order.length);
            boolean[] seen = new boolean[order.length];
            int previous = Integer.MAX_VALUE;
            for (int item : order) {
                assertFalse(seen[item], "item " + item + " twice");
                seen[item] = true;
                int block = (start + item / heads * queries) / 64, h = item % heads, tiles = 0;
                // which blocks a query sees depends on its block only: the block's first query, against each key block's first key
                for (int kb = 0; kb <= block; kb++) if (sees(block * 64, kb * 64, tokens, band[h])) tiles++;
                assertTrue(tiles <= previous, "chunk " + start + "+" + count + ": " + tiles + " tiles after " + previous);
                previous = tiles;
            }
            }
        }
    }

    /**
     * What the schedule is for, simulated: groups start in launch order on the first of 528 resident slots to free (four
     * groups an SM of a 132-SM GPU), each taking as long as its key tiles; a 4096-token chunk of Llama-3.2-1B's 32
     * heads, dense and with MoA-like bands (a quarter dense, the rest 8 to 64 blocks). Block order, head by head (the
     * launch before the schedule), leaves the longest groups for last; the schedule ends within a few per cent of the
     * balanced time (all tiles over all slots).
     */
    @Test
    void longestFirstBalancesAChunkOverTheGpu() {
        int heads = 32, slots = 528, count = 4096;
        Random bandsRandom = new Random(1);
        int[] mixed = new int[heads], dense = new int[heads];
        for (int h = 0; h < heads; h++) {
            dense[h] = 1 << 20;
            mixed[h] = h % 4 == 0 ? 1 << 20 : 8 << bandsRandom.nextInt(4);
        }
        for (int start : new int[] {0, 4096, 8192, 12288}) {
            for (int[] bands : new int[][] {dense, mixed}) {
                int tokens = 16384, blocks = count / 64;
                int[] cost = new int[blocks * heads];
                long total = 0;
                for (int i = 0; i < blocks; i++) {
                    for (int h = 0; h < heads; h++) {
                        int block = start / 64 + i, tiles = 0;
                        for (int kb = 0; kb <= block; kb++) if (sees(block * 64, kb * 64, tokens, bands[h])) tiles++;
                        total += cost[i * heads + h] = tiles;
                    }
                }
                int[] inOrder = new int[cost.length];
                for (int k = 0; k < inOrder.length; k++) inOrder[k] = k % blocks * heads + k / blocks;
                double balanced = (double) total / slots;
                double before = makespan(inOrder, cost, slots) / balanced;
                double after = makespan(PrefillKernels.longestFirst(start, count, tokens, heads, bands), cost, slots) / balanced;
                System.out.printf("chunk at %5d, %s: block order %.2fx the balanced time, longest first %.2fx%n", start, bands == dense ? "dense" : "mixed",
                        before, after);
                assertTrue(after < 1.05, "longest first: " + after);
                assertTrue(before > 1.08, "block order: " + before);
            }
        }
    }

    /** When the last of {@code order}'s items ends, each started on the first of {@code slots} to free. */
    static long makespan(int[] order, int[] cost, int slots) {
        java.util.PriorityQueue<Long> free = new java.util.PriorityQueue<>();
        for (int k = 0; k < slots; k++) free.add(0L);
        long end = 0;
        for (int item : order) {
            long done = free.poll() + cost[item];
            end = Math.max(end, done);
            free.add(done);
        }
        return end;
    }

    /** {@code x}, rounded to BF16 where {@code rounded}. */
    static double bf16(float x, boolean rounded) {
        return rounded ? dev.moa.tasks.kernel.KernelContext.bf16ToFloat(dev.moa.tasks.kernel.KernelContext.floatToBf16(x)) : x;
    }

    /** Dimension 0 of query i's output at head h, in double precision from the F32 operands. */
    static double exact(F32Buffer q, F32Buffer kv, int i, int h, int tokens, int band, int headDim, int stride, int kvRow, int kvHeads, int g, float scale) {
        double max = Double.NEGATIVE_INFINITY, total = 0, o = 0;
        double[] score = new double[i + 1];
        for (int j = 0; j <= i; j++) {
            if (!sees(i, j, tokens, band)) continue;
            double dot = 0;
            for (int d = 0; d < headDim; d++) dot += q.get((long) i * stride + h * headDim + d) * (double) kv.get((long) j * kvRow + g * headDim + d);
            score[j] = dot * scale;
            max = Math.max(max, score[j]);
        }
        for (int j = 0; j <= i; j++) {
            if (!sees(i, j, tokens, band)) continue;
            double p = Math.exp(score[j] - max);
            total += p;
            o += p * kv.get((long) j * kvRow + kvHeads * headDim + g * headDim);
        }
        return o / total;
    }
}
