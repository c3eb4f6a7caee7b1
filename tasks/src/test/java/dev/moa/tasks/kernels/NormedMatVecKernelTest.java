package dev.moa.tasks.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The normed matvecs against the steps they fuse, written as plain loops: RMSNorm, then the matvec, then the bias,
 * SwiGLU, or RoPE and the cache write (that one against {@link AttentionKernels#ropeAndCache}, itself checked
 * against the rotation formula in {@link AttentionKernelTest}).
 */
class NormedMatVecKernelTest {
    final Random random = new Random();
    final Arena arena = Arena.ofShared();
    static final float EPS = 1e-5f;

    /** A random {@code rows × cols} matrix stored as 16-bit (BF16 or IEEE half) and the floats it holds exactly. */
    record Weights(Half16Buffer stored, float[][] values) {
    }

    Weights weights(int rows, int cols, int ieee) {
        Half16Buffer stored = Half16Buffer.allocate(arena, (long) rows * cols);
        float[][] values = new float[rows][cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                float v = (float) random.nextGaussian() * 0.5f;
                short bits = ieee != 0 ? KernelContext.floatToF16(v) : KernelContext.floatToBf16(v);
                stored.set((long) r * cols + c, bits);
                values[r][c] = ieee != 0 ? KernelContext.f16ToFloat(bits) : KernelContext.bf16ToFloat(bits);
            }
        }
        return new Weights(stored, values);
    }

    F32Buffer randomBuffer(int n, double scale) {
        F32Buffer b = F32Buffer.allocate(arena, n);
        for (int i = 0; i < n; i++) b.set(i, (float) (random.nextGaussian() * scale));
        return b;
    }

    /** {@code RMSNorm(x)·g · wᵀ (+ bias)} as the CPU computes a step: the normed vector first, then each row's dot product, in doubles. */
    static double[] normThenMatVec(float[][] w, F32Buffer x, F32Buffer g, F32Buffer bias) {
        int cols = (int) x.length();
        double squares = 0;
        for (int c = 0; c < cols; c++) squares += (double) x.get(c) * x.get(c);
        double inverse = 1 / Math.sqrt(squares / cols + EPS);
        double[] out = new double[w.length];
        for (int r = 0; r < w.length; r++) {
            for (int c = 0; c < cols; c++) out[r] += w[r][c] * (x.get(c) * inverse * g.get(c));
            if (bias != null) out[r] += bias.get(r);
        }
        return out;
    }

    @Test
    void plainAndSwiGluEpiloguesForBothFormatsAndOddShapes() {
        for (int ieee = 0; ieee < 2; ieee++) {
            for (int cols : new int[] {8 * (10 + random.nextInt(40)), 37 + 2 * random.nextInt(30)}) {
                int rows = 2 * (3 + random.nextInt(30)) + 1; // odd: the last warp's pair is one row
                Weights w = weights(rows, cols, ieee);
                F32Buffer x = randomBuffer(cols, 3), g = randomBuffer(cols, 1), bias = randomBuffer(rows, 1);
                // each pair's columns shared by 1, 2, 4 and 8 warps (the pair counts leave partial last groups)
                for (int parts = 1; parts <= NormedMatVecKernels.PAIRS_PER_GROUP; parts *= 2) {
                    String what = "ieee " + ieee + " cols " + cols + " parts " + parts;
                    for (int epilogue : new int[] {0, MatVecKernels.BIAS}) {
                        F32Buffer out = randomBuffer(rows + 3, 1);
                        float[] before = out.toArray();
                        Emulator.launch(NormedMatVecKernels.class, "half", NormedMatVecKernels.grid(NormedMatVecKernels.pairs(rows, epilogue), parts),
                                w.stored(), x, g, bias, out, rows, cols, EPS, epilogue, ieee, parts);
                        double[] expected = normThenMatVec(w.values(), x, g, epilogue == 0 ? null : bias);
                        for (int r = 0; r < rows; r++) {
                            assertEquals(expected[r], out.get(r), 1e-4 * Math.max(1, Math.abs(expected[r])), what + " row " + r);
                        }
                        for (int r = rows; r < rows + 3; r++) assertEquals(before[r], out.get(r), "no write past the rows");
                    }
                    // gate and up stacked (an even row count), SwiGLU as the epilogue
                    int half = rows / 2;
                    Weights gateUp = weights(2 * half, cols, ieee);
                    F32Buffer act = randomBuffer(half + 2, 1);
                    float[] before = act.toArray();
                    Emulator.launch(NormedMatVecKernels.class, "half", NormedMatVecKernels.grid(NormedMatVecKernels.pairs(2 * half, NormedMatVecKernels.GLU), parts),
                            gateUp.stored(), x, g, bias, act, 2 * half, cols, EPS, NormedMatVecKernels.GLU, ieee, parts);
                    double[] a = normThenMatVec(gateUp.values(), x, g, null);
                    for (int i = 0; i < half; i++) {
                        double expected = a[i] / (1 + Math.exp(-a[i])) * a[half + i];
                        assertEquals(expected, act.get(i), 1e-4 * Math.max(1, Math.abs(expected)), "swiglu " + what + " element " + i);
                    }
                    for (int i = half; i < half + 2; i++) assertEquals(before[i], act.get(i), "no write past the gate's rows");
                }
            }
        }
    }

    @Test
    void ropeEpilogueEqualsTheMatVecThenRopeAndCache() {
        for (int ieee = 0; ieee < 2; ieee++) {
            for (boolean withBias : new boolean[] {false, true}) {
                int position = 300 + random.nextInt(400), cols = withBias ? 8 * (6 + random.nextInt(10)) : 45;
                long seed = random.nextLong();
                int format = (ieee + (withBias ? 1 : 0)) % 2 == 0 ? KvStore.F32 : KvStore.BF16; // each format with each weight type
                // two equal caches (64-token sinks, rings of 128 and 256 slots, wrapped): one per way of writing
                int[] locals = {128, 64, 256, 192};
                AttentionKernelTest.Layer expected = new AttentionKernelTest.Layer(arena, new Random(seed), position - 1, 20, 64, locals, 2, format);
                AttentionKernelTest.Layer fused = new AttentionKernelTest.Layer(arena, new Random(seed), position - 1, 20, 64, locals, 2, format);
                int heads = expected.heads, kvHeads = expected.kvHeads, headDim = expected.headDim, half = headDim / 2;
                int rows = (heads + 2 * kvHeads) * headDim;
                Weights w = weights(rows, cols, ieee);
                F32Buffer x = randomBuffer(cols, 2), g = randomBuffer(cols, 1), bias = randomBuffer(rows, 1);
                F32Buffer cos = randomBuffer((position + 1) * half, 1), sin = randomBuffer((position + 1) * half, 1);
                I32Buffer step = I32Buffer.allocate(arena, Step.SIZE), sinkSlots = I32Buffer.of(arena, expected.layout.sinkSlots());
                step.set(Step.POSITION, position);

                double[] normed = normThenMatVec(w.values(), x, g, withBias ? bias : null);
                F32Buffer reference = F32Buffer.allocate(arena, rows);
                for (int r = 0; r < rows; r++) reference.set(r, (float) normed[r]);
                Emulator.launch(AttentionKernels.class, "ropeAndCache", Grid.of(heads + kvHeads, AttentionKernels.GROUP), reference, cos, sin,
                        expected.keyCache, expected.valueCache, expected.keys16, expected.values16, expected.slotPositions, expected.offsets, expected.rings,
                        step, sinkSlots, heads, kvHeads, headDim, format);

                F32Buffer qkv = F32Buffer.allocate(arena, rows);
                int parts = withBias ? 4 : 8; // each pair's columns shared by warps (TranslationFidelityTest: a partial last group)
                Emulator.launch(NormedMatVecKernels.class, "halfRope", NormedMatVecKernels.grid(rows / 2, parts), w.stored(), x, g, bias, qkv, cos, sin,
                        fused.keyCache, fused.valueCache, fused.keys16, fused.values16, fused.slotPositions, fused.offsets, fused.rings, step, sinkSlots,
                        heads, kvHeads, headDim, cols, EPS, withBias ? MatVecKernels.BIAS : 0, ieee, format, parts);

                String at = "ieee " + ieee + " bias " + withBias + " cols " + cols + " format " + format;
                // the two ways differ in the last bits of F32; a BF16 cache can round them a BF16 step apart
                double tolerance = format == KvStore.BF16 ? 1.0 / 128 : 2e-4;
                for (int i = 0; i < heads * headDim; i++) assertEquals(reference.get(i), qkv.get(i), 2e-4 * Math.max(1, Math.abs(reference.get(i))), at + " rotated query " + i);
                long stored = format == KvStore.BF16 ? expected.keys16.length() : expected.keyCache.length();
                for (long i = 0; i < stored; i++) {
                    assertEquals(expected.key(i), fused.key(i), tolerance * Math.max(1, Math.abs(expected.key(i))), at + " key cache " + i);
                    assertEquals(expected.value(i), fused.value(i), tolerance * Math.max(1, Math.abs(expected.value(i))), at + " value cache " + i);
                }
                for (long s = 0; s < expected.slotPositions.length(); s++) assertEquals(expected.slotPositions.get(s), fused.slotPositions.get(s), at + " slot " + s);
            }
        }
    }
}
