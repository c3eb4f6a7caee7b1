package dev.moa.tasks.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Every kernel, run by the CPU emulator with GPU semantics, against a plain Java loop on fresh random inputs. */
class KernelEmulationTest {
    final Random random = new Random();

    F32Buffer randomBuffer(Arena arena, int n) {
        F32Buffer b = F32Buffer.allocate(arena, n);
        for (int i = 0; i < n; i++) b.set(i, (float) random.nextGaussian());
        return b;
    }

    @Test
    void vectorAddCoversOddSizes() {
        try (Arena arena = Arena.ofShared()) {
            int n = 1000 + random.nextInt(100);
            F32Buffer a = randomBuffer(arena, n), b = randomBuffer(arena, n), c = F32Buffer.allocate(arena, n + 7);
            Emulator.launch(VectorKernels.class, "add", Grid.covering(n, 256), a, b, c, n);
            for (int i = 0; i < n; i++) assertEquals(a.get(i) + b.get(i), c.get(i), 0f);
            for (int i = n; i < n + 7; i++) assertEquals(0f, c.get(i), "no write past n");
        }
    }

    /** Test kernels: a warp's reductions through the context, and the butterfly of shuffles they stand for. */
    static final class Reductions {
        static void reduced(KernelContext ctx, F32Buffer in, F32Buffer sums, F32Buffer maxima, int n) {
            int i = ctx.globalId();
            float v = i < n ? in.get(i) : 0f;
            sums.set(i, ctx.warpSum(v));
            maxima.set(i, ctx.warpMax(v));
        }

        static void butterfly(KernelContext ctx, F32Buffer in, F32Buffer sums, F32Buffer maxima, int n) {
            int i = ctx.globalId();
            float v = i < n ? in.get(i) : 0f, sum = v, max = v;
            for (int mask = KernelContext.WARP / 2; mask > 0; mask >>= 1) {
                sum += ctx.shuffleXor(sum, mask);
                max = Math.max(max, ctx.shuffleXor(max, mask));
            }
            sums.set(i, sum);
            maxima.set(i, max);
        }
    }

    /**
     * The emulator's warp reductions (all lanes' values after one wait, the butterfly computed by each lane) give, bit for
     * bit, what the five shuffles they replace give, in every lane: a full warp, a warp cut short by the group's size,
     * a NaN.
     */
    @Test
    void warpReductionsAreTheirButterflyBitForBit() {
        try (Arena arena = Arena.ofShared()) {
            int size = 48, n = 2 * size; // (groups of 48: every second warp has 16 lanes)
            F32Buffer in = F32Buffer.allocate(arena, n);
            for (int i = 0; i < n; i++) in.set(i, (float) (random.nextGaussian() * Math.pow(10, random.nextInt(8) - 4)));
            in.set(70, Float.NaN);
            F32Buffer s1 = F32Buffer.allocate(arena, n), m1 = F32Buffer.allocate(arena, n), s2 = F32Buffer.allocate(arena, n), m2 = F32Buffer.allocate(arena, n);
            Emulator.launch(Reductions.class, "reduced", Grid.of(2, size), in, s1, m1, n);
            Emulator.launch(Reductions.class, "butterfly", Grid.of(2, size), in, s2, m2, n);
            for (int i = 0; i < n; i++) {
                assertEquals(Float.floatToRawIntBits(s2.get(i)), Float.floatToRawIntBits(s1.get(i)), "sum, lane " + i);
                assertEquals(Float.floatToRawIntBits(m2.get(i)), Float.floatToRawIntBits(m1.get(i)), "max, lane " + i);
            }
            assertTrue(Float.isNaN(m1.get(48)) && !Float.isNaN(m1.get(47)) && !Float.isNaN(m1.get(80)), "the NaN's warp alone (global 48..79)");
        }
    }

    @Test
    void rmsNormPerRow() {
        try (Arena arena = Arena.ofShared()) {
            int rows = 3, dim = 300 + random.nextInt(50);
            F32Buffer x = randomBuffer(arena, rows * dim), w = randomBuffer(arena, dim), out = F32Buffer.allocate(arena, rows * dim);
            Emulator.launch(VectorKernels.class, "rmsNorm", Grid.of(rows, VectorKernels.ROW_GROUP), x, w, out, dim, 1e-5f);
            for (int r = 0; r < rows; r++) {
                double ss = 0;
                for (int i = 0; i < dim; i++) ss += x.get(r * dim + i) * (double) x.get(r * dim + i);
                double scale = 1 / Math.sqrt(ss / dim + 1e-5);
                for (int i = 0; i < dim; i++) {
                    assertEquals(x.get(r * dim + i) * scale * w.get(i), out.get(r * dim + i), 1e-5);
                }
            }
        }
    }

    @Test
    void softmaxRowsSumToOne() {
        try (Arena arena = Arena.ofShared()) {
            int rows = 2, n = 517;
            F32Buffer x = randomBuffer(arena, rows * n);
            float[] before = x.toArray();
            Emulator.launch(VectorKernels.class, "softmax", Grid.of(rows, VectorKernels.ROW_GROUP), x, n);
            for (int r = 0; r < rows; r++) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int i = 0; i < n; i++) max = Math.max(max, before[r * n + i]);
                for (int i = 0; i < n; i++) sum += Math.exp(before[r * n + i] - max);
                for (int i = 0; i < n; i++) assertEquals(Math.exp(before[r * n + i] - max) / sum, x.get(r * n + i), 1e-6);
            }
        }
    }

    @Test
    void siluTimesAndArgmax() {
        try (Arena arena = Arena.ofShared()) {
            int n = 777;
            F32Buffer g = randomBuffer(arena, n), u = randomBuffer(arena, n), out = F32Buffer.allocate(arena, n);
            Emulator.launch(VectorKernels.class, "siluTimes", Grid.covering(n, 256), g, u, out, n);
            for (int i = 0; i < n; i++) {
                double gi = g.get(i);
                assertEquals(gi / (1 + Math.exp(-gi)) * u.get(i), out.get(i), 1e-5);
            }
            // two rows, each scanned in chunks by several groups (one chunk alone too); ties go to the first index,
            // also across chunks
            int vocab = 3001, rows = 2;
            for (int chunks : new int[] {1, 7, VectorKernels.ARGMAX_CHUNKS}) {
                F32Buffer logits = randomBuffer(arena, rows * vocab);
                int[] expected = new int[rows];
                for (int b = 0; b < rows; b++) {
                    expected[b] = random.nextInt(vocab - 1);
                    logits.set((long) b * vocab + expected[b], 100f);
                    logits.set((long) b * vocab + vocab - 1, 100f); // a tie in the last chunk: the first index wins
                }
                F32Buffer partialValues = F32Buffer.allocate(arena, rows * chunks);
                I32Buffer partialInts = I32Buffer.allocate(arena, 2 * rows * chunks), arrivals = I32Buffer.allocate(arena, rows);
                I32Buffer result = I32Buffer.allocate(arena, 2 * rows);
                Grid grid = Grid.of(chunks, rows, VectorKernels.ROW_GROUP);
                Emulator.launch(VectorKernels.class, "argmax", grid, logits, partialValues, partialInts, arrivals, result, vocab);
                for (int b = 0; b < rows; b++) {
                    assertEquals(expected[b], result.get(2L * b), chunks + " chunks, row " + b);
                    assertEquals(0, result.get(2L * b + 1), "all logits are finite");
                    assertEquals(0, arrivals.get(b), "the row's arrivals are reset for the next launch");
                }
                // and moving each row's step on to its token for the next replay: token and position, both rows
                I32Buffer step = I32Buffer.allocate(arena, (long) rows * Step.SIZE), onwardResult = I32Buffer.allocate(arena, 2 * rows);
                for (int b = 0; b < rows; b++) {
                    step.set((long) b * Step.SIZE + Step.TOKEN, 7 + b);
                    step.set((long) b * Step.SIZE + Step.POSITION, 40 + 9 * b);
                }
                Emulator.launch(VectorKernels.class, "argmaxOnward", grid, logits, partialValues, partialInts, arrivals, onwardResult, step, vocab);
                for (int b = 0; b < rows; b++) {
                    assertEquals(expected[b], onwardResult.get(2L * b), chunks + " chunks, row " + b + ", moving on");
                    assertEquals(expected[b], step.get((long) b * Step.SIZE + Step.TOKEN), "row " + b + "'s next token");
                    assertEquals(41 + 9 * b, step.get((long) b * Step.SIZE + Step.POSITION), "row " + b + "'s next position");
                }
                logits.set(vocab + random.nextInt(vocab), Float.NaN);
                logits.set(vocab + random.nextInt(vocab), Float.POSITIVE_INFINITY);
                Emulator.launch(VectorKernels.class, "argmax", grid, logits, partialValues, partialInts, arrivals, result, vocab);
                assertEquals(0, result.get(1), "row 0 is finite");
                assertTrue(result.get(3) > 0, "a NaN and an Inf in row 1 are flagged");
                Emulator.launch(VectorKernels.class, "argmaxOnward", grid, logits, partialValues, partialInts, arrivals, onwardResult, step, vocab);
                assertEquals(expected[0], step.get(Step.TOKEN), "row 0 is finite: its step moves on");
                assertEquals(42, step.get(Step.POSITION));
                assertEquals(expected[1], step.get(Step.SIZE + Step.TOKEN), "row 1 is not finite: its step stays where it was");
                assertEquals(50, step.get(Step.SIZE + Step.POSITION));
                // after a draw: a row drawn moves on, one left to the host (-1) or not finite stays
                I32Buffer drawn = I32Buffer.allocate(arena, 6), steps3 = I32Buffer.allocate(arena, 3L * Step.SIZE);
                int[] chosenInts = {123, 0, -1, 0, 77, 2};
                for (int i = 0; i < 6; i++) drawn.set(i, chosenInts[i]);
                for (int b = 0; b < 3; b++) {
                    steps3.set((long) b * Step.SIZE + Step.TOKEN, 5);
                    steps3.set((long) b * Step.SIZE + Step.POSITION, 60 + b);
                }
                Emulator.launch(VectorKernels.class, "stepOnward", Grid.covering(3, VectorKernels.ROW_GROUP), drawn, steps3, 3);
                int[] expectedSteps = {123, 61, 5, 61, 5, 62};
                for (int i = 0; i < 6; i++) assertEquals(expectedSteps[i], steps3.get(i), "step int " + i + " after the draws");
            }
        }
    }

    @Test
    void halfPrecisionMatVecWarpPerRow() {
        halfPrecisionMatVec(101 + 2 * random.nextInt(30)); // odd: one weight per load
        halfPrecisionMatVec(8 * (20 + random.nextInt(15))); // multiple of 8: eight weights per 16-byte load
    }

    void halfPrecisionMatVec(int cols) {
        try (Arena arena = Arena.ofShared()) {
            int rows = 37;
            Half16Buffer bf = Half16Buffer.allocate(arena, (long) rows * cols), f16 = Half16Buffer.allocate(arena, (long) rows * cols);
            for (long i = 0; i < (long) rows * cols; i++) {
                float v = (float) random.nextGaussian();
                bf.set(i, (short) (Float.floatToIntBits(v) >>> 16));
                f16.set(i, Float.floatToFloat16(v));
            }
            F32Buffer x = randomBuffer(arena, cols), out = F32Buffer.allocate(arena, rows), out16 = F32Buffer.allocate(arena, rows);
            Grid grid = Grid.covering(rows, MatVecKernels.ROWS_PER_GROUP);
            Emulator.launch(MatVecKernels.class, "bf16", new Grid(grid.groupsX(), 1, 1, MatVecKernels.GROUP), bf, x, out, rows, cols);
            Emulator.launch(MatVecKernels.class, "f16", new Grid(grid.groupsX(), 1, 1, MatVecKernels.GROUP), f16, x, out16, rows, cols);
            for (int r = 0; r < rows; r++) {
                double s = 0, s16 = 0;
                for (int c = 0; c < cols; c++) {
                    s += KernelContext.bf16ToFloat(bf.get((long) r * cols + c)) * (double) x.get(c);
                    s16 += Float.float16ToFloat(f16.get((long) r * cols + c)) * (double) x.get(c);
                }
                assertEquals(s, out.get(r), 1e-4 * Math.max(1, Math.abs(s)));
                assertEquals(s16, out16.get(r), 1e-4 * Math.max(1, Math.abs(s16)));
            }
        }
    }

    @Test
    void warpsARowAreChosenForLlama1bShapesAndChecked() {
        assertEquals(2, MatVecKernels.parts(2048, 2048), "output projection");
        assertEquals(4, MatVecKernels.parts(2048, 8192), "down projection");
        assertEquals(1, MatVecKernels.parts(16384, 2048), "gate/up: warps enough");
        assertEquals(1, MatVecKernels.parts(128256, 2048), "output head");
        assertEquals(1, MatVecKernels.parts(2048, 2052), "rows not whole 16-byte loads");
        assertEquals(2, NormedMatVecKernels.parts(1536, 2048), "q/k/v pairs");
        assertEquals(1, NormedMatVecKernels.parts(8192, 2048), "gate/up pairs");
        assertEquals(2, MatVecKernels.batchParts(2048, 2048, 4), "four sessions: one pass");
        assertEquals(1, MatVecKernels.batchParts(2048, 2048, 32), "32 sessions: eight passes, warps enough");
        for (int parts : new int[] {0, 3, 16}) {
            assertThrows(IllegalArgumentException.class, () -> MatVecKernels.grid(10, parts), "parts " + parts);
            assertThrows(IllegalArgumentException.class, () -> NormedMatVecKernels.grid(10, parts), "parts " + parts);
        }
    }

    @Test
    void matVecEpiloguesAddBiasAndResidualForEveryFormat() {
        try (Arena arena = Arena.ofShared()) {
            for (String format : new String[] {"bf16", "f16", "f32"}) {
                for (int cols : new int[] {8 * (5 + random.nextInt(20)), 4 * (5 + random.nextInt(20)) + 2, 33 + 2 * random.nextInt(40)}) {
                    int rows = 1 + random.nextInt(40);
                    float[][] w = new float[rows][cols];
                    Half16Buffer half = Half16Buffer.allocate(arena, (long) rows * cols);
                    F32Buffer full = F32Buffer.allocate(arena, (long) rows * cols);
                    for (int r = 0; r < rows; r++) {
                        for (int c = 0; c < cols; c++) {
                            float v = (float) random.nextGaussian();
                            short bits = format.equals("bf16") ? KernelContext.floatToBf16(v) : KernelContext.floatToF16(v);
                            w[r][c] = format.equals("bf16") ? KernelContext.bf16ToFloat(bits) : format.equals("f16") ? KernelContext.f16ToFloat(bits) : v;
                            half.set((long) r * cols + c, bits);
                            full.set((long) r * cols + c, v);
                        }
                    }
                    F32Buffer x = randomBuffer(arena, cols), bias = randomBuffer(arena, rows);
                    // 16-bit rows with their columns shared by 1, 2, 4 and 8 warps (each rows count a partial last group)
                    for (int parts = 1; parts <= (format.equals("f32") ? 1 : MatVecKernels.ROWS_PER_GROUP); parts *= 2) {
                        for (int epilogue = 0; epilogue < 4; epilogue++) {
                            F32Buffer out = randomBuffer(arena, rows + 3);
                            float[] before = out.toArray();
                            if (format.equals("f32")) {
                                Emulator.launch(MatVecKernels.class, "f32Into", MatVecKernels.grid(rows), full, x, bias, out, rows, cols, epilogue);
                            } else {
                                Emulator.launch(MatVecKernels.class, format + "Into", MatVecKernels.grid(rows, parts), half, x, bias, out, rows, cols, epilogue,
                                        parts);
                            }
                            for (int r = 0; r < rows; r++) {
                                double expected = 0;
                                for (int c = 0; c < cols; c++) expected += w[r][c] * (double) x.get(c);
                                if ((epilogue & MatVecKernels.BIAS) != 0) expected += bias.get(r);
                                if ((epilogue & MatVecKernels.ACCUMULATE) != 0) expected += before[r];
                                assertEquals(expected, out.get(r), 1e-4 * Math.max(1, Math.abs(expected)),
                                        format + " cols " + cols + " parts " + parts + " epilogue " + epilogue + " row " + r);
                            }
                            for (int r = rows; r < rows + 3; r++) assertEquals(before[r], out.get(r), "no write past the rows");
                        }
                    }
                    // the batched kernel: every vector of a batch (passes of 4, the last one partial) through each epilogue, 16-bit
                    // rows shared by 1, 2, 4 or 8 warps (one count each epilogue)
                    int batch = 2 + random.nextInt(8);
                    F32Buffer xs = randomBuffer(arena, batch * cols);
                    for (int epilogue = 0; epilogue < 4; epilogue++) {
                        F32Buffer out = randomBuffer(arena, batch * rows + 3);
                        float[] before = out.toArray();
                        int parts = 1 << epilogue;
                        if (format.equals("f32")) {
                            Emulator.launch(MatVecKernels.class, "f32BatchInto", MatVecKernels.batchGrid(rows, batch), full, xs, bias, out, rows, cols, batch, epilogue);
                        } else {
                            Emulator.launch(MatVecKernels.class, "halfBatchInto", MatVecKernels.batchGrid(rows, batch, parts), half, xs, bias, out, rows, cols,
                                    batch, epilogue, format.equals("f16") ? 1 : 0, parts);
                        }
                        for (int v = 0; v < batch; v++) {
                            for (int r = 0; r < rows; r++) {
                                double expected = 0;
                                for (int c = 0; c < cols; c++) expected += w[r][c] * (double) xs.get((long) v * cols + c);
                                if ((epilogue & MatVecKernels.BIAS) != 0) expected += bias.get(r);
                                if ((epilogue & MatVecKernels.ACCUMULATE) != 0) expected += before[v * rows + r];
                                assertEquals(expected, out.get((long) v * rows + r), 1e-4 * Math.max(1, Math.abs(expected)),
                                        format + " batch " + batch + " cols " + cols + " epilogue " + epilogue + " vector " + v + " row " + r);
                            }
                        }
                        for (int r = batch * rows; r < batch * rows + 3; r++) assertEquals(before[r], out.get(r), "no write past the batch");
                    }
                }
            }
        }
    }

    @Test
    void embeddingGatherReadsTheStepsTokenRow() {
        try (Arena arena = Arena.ofShared()) {
            int vocab = 37, dim = 300 + random.nextInt(50), token = random.nextInt(vocab);
            Half16Buffer bf = Half16Buffer.allocate(arena, (long) vocab * dim), f16 = Half16Buffer.allocate(arena, (long) vocab * dim);
            F32Buffer f32 = randomBuffer(arena, vocab * dim);
            for (long i = 0; i < f32.length(); i++) {
                bf.set(i, KernelContext.floatToBf16(f32.get(i)));
                f16.set(i, KernelContext.floatToF16(f32.get(i)));
            }
            I32Buffer step = I32Buffer.allocate(arena, Step.SIZE);
            step.set(Step.TOKEN, token);
            step.set(Step.POSITION, 12345);
            for (String kernel : new String[] {"embedBf16", "embedF16", "embedF32"}) {
                F32Buffer out = F32Buffer.allocate(arena, dim + 5);
                Object table = kernel.equals("embedBf16") ? bf : kernel.equals("embedF16") ? f16 : f32;
                Emulator.launch(VectorKernels.class, kernel, Grid.covering(dim, 256), table, step, out, dim);
                for (int i = 0; i < dim; i++) {
                    long at = (long) token * dim + i;
                    float expected = kernel.equals("embedBf16") ? KernelContext.bf16ToFloat(bf.get(at))
                            : kernel.equals("embedF16") ? KernelContext.f16ToFloat(f16.get(at)) : f32.get(at);
                    assertEquals(expected, out.get(i), 0f, kernel + " element " + i);
                }
                for (int i = dim; i < dim + 5; i++) assertEquals(0f, out.get(i), "no write past the row");
            }
        }
    }

    @Test
    void swiGluOverTheFusedGateUpOutput() {
        try (Arena arena = Arena.ofShared()) {
            int n = 500 + random.nextInt(100);
            F32Buffer gateUp = randomBuffer(arena, 2 * n), out = F32Buffer.allocate(arena, n);
            Emulator.launch(VectorKernels.class, "swiGlu", Grid.covering(n, 256), gateUp, out, n);
            for (int i = 0; i < n; i++) {
                double g = gateUp.get(i);
                assertEquals(g / (1 + Math.exp(-g)) * gateUp.get(n + i), out.get(i), 1e-5);
            }
        }
    }

    /**
     * The norm and SwiGLU written as BF16 parts: each value's parts are {@link PipelinedGemm#splitRows}'s of what the
     * float kernels write (the prompt's products then get the bits they got from floats); one part, the rounding alone.
     */
    @Test
    void partsProducersWriteThePartsOfTheFloatKernelsValues() {
        try (Arena arena = Arena.ofShared()) {
            int rows = 3, dim = 300 + random.nextInt(50);
            F32Buffer x = randomBuffer(arena, rows * dim), w = randomBuffer(arena, dim), normed = F32Buffer.allocate(arena, rows * dim);
            F32Buffer gateUp = randomBuffer(arena, 2 * rows * dim), activation = F32Buffer.allocate(arena, rows * dim);
            Grid perRow = Grid.of(rows, VectorKernels.ROW_GROUP), perValue = Grid.of((dim + 255) / 256, rows, 256);
            Emulator.launch(VectorKernels.class, "rmsNorm", perRow, x, w, normed, dim, 1e-5f);
            Emulator.launch(VectorKernels.class, "swiGlu", perValue, gateUp, activation, dim);
            for (int parts = 1; parts <= 2; parts++) {
                Half16Buffer[] expected = {Half16Buffer.allocate(arena, rows * dim), Half16Buffer.allocate(arena, rows * dim)};
                Half16Buffer[] actual = {Half16Buffer.allocate(arena, rows * dim), Half16Buffer.allocate(arena, rows * dim)};
                Emulator.launch(PipelinedGemm.class, "splitRows", perValue, normed, expected[0], expected[1], dim, parts);
                Emulator.launch(VectorKernels.class, "rmsNormParts", perRow, x, w, actual[0], actual[1], dim, 1e-5f, parts);
                assertSameParts(expected, actual, parts, "rmsNorm");
                Emulator.launch(PipelinedGemm.class, "splitRows", perValue, activation, expected[0], expected[1], dim, parts);
                Emulator.launch(VectorKernels.class, "swiGluParts", perValue, gateUp, actual[0], actual[1], dim, parts);
                assertSameParts(expected, actual, parts, "swiGlu");
            }
        }
    }

    static void assertSameParts(Half16Buffer[] expected, Half16Buffer[] actual, int parts, String what) {
        for (long i = 0; i < expected[0].length(); i++) {
            assertEquals(expected[0].get(i), actual[0].get(i), what + " high part " + i);
            if (parts == 2) assertEquals(expected[1].get(i), actual[1].get(i), what + " low part " + i);
            else assertEquals(0, actual[1].get(i), what + ": one part writes no second");
        }
    }

    static void failing(KernelContext ctx, F32Buffer a) {
        if (ctx.localId() == 5) throw new ArithmeticException("boom");
        ctx.barrier();
    }

    @Test
    void aFailingWorkItemFailsTheLaunchInsteadOfHangingTheBarrier() {
        try (Arena arena = Arena.ofShared()) {
            var e = assertThrows(IllegalStateException.class,
                    () -> Emulator.launch(KernelEmulationTest.class, "failing", Grid.of(1, 64), F32Buffer.allocate(arena, 1)));
            assertTrue(e.getMessage().contains("boom"), e.getMessage());
        }
    }

    /** Half a warp waits at a group barrier, the other half at a shuffle: a wait no GPU could release. */
    static void divergentBarrier(KernelContext ctx, F32Buffer out) {
        if (ctx.localId() < 16) {
            ctx.barrier();
        } else {
            out.set(ctx.localId(), ctx.shuffleXor(1f, 1));
        }
    }

    @Test
    void aWaitThatCanNeverEndIsReportedNotHung() {
        try (Arena arena = Arena.ofShared()) {
            F32Buffer out = F32Buffer.allocate(arena, 32);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> Emulator.launch(KernelEmulationTest.class, "divergentBarrier", Grid.of(1, 32), out));
            String message = e.getMessage() + (e.getCause() == null ? "" : " / " + e.getCause().getMessage());
            assertTrue(message.contains("barrier in divergent code"), message);
        }
    }
}
