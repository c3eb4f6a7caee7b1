package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernels.MatVecKernels;
import dev.moa.tasks.kernels.NormedMatVecKernels;
import dev.moa.tasks.kernels.Step;
import dev.moa.tasks.kernels.VectorKernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The generated PTX, executed by a test-only interpreter, computes what the Java kernel computes in the emulator:
 * the translation is checked, not just the kernel's idea. A deliberately broken translation must be caught.
 */
class TranslationFidelityTest {
    final Random random = new Random();
    final Arena arena = Arena.ofShared();

    F32Buffer randomBuffer(int n) {
        F32Buffer b = F32Buffer.allocate(arena, n);
        for (int i = 0; i < n; i++) b.set(i, (float) random.nextGaussian());
        return b;
    }

    F32Buffer copy(F32Buffer b) {
        F32Buffer c = F32Buffer.allocate(arena, b.length());
        MemorySegment.copy(b.memory(), 0, c.memory(), 0, b.memory().byteSize());
        return c;
    }

    static void assertClose(F32Buffer expected, F32Buffer actual, double tolerance) {
        for (long i = 0; i < expected.length(); i++) {
            assertEquals(expected.get(i), actual.get(i), tolerance * Math.max(1, Math.abs(expected.get(i))), "element " + i);
        }
    }

    /** {@code b}'s floats rounded to BF16 bits: a BF16 KV cache holding them. */
    Half16Buffer bf16Of(F32Buffer b) {
        Half16Buffer h = Half16Buffer.allocate(arena, b.length());
        for (long i = 0; i < b.length(); i++) h.set(i, dev.moa.tasks.kernel.KernelContext.floatToBf16(b.get(i)));
        return h;
    }

    Half16Buffer copy(Half16Buffer b) {
        Half16Buffer c = Half16Buffer.allocate(arena, b.length());
        MemorySegment.copy(b.memory(), 0, c.memory(), 0, b.memory().byteSize());
        return c;
    }

    /** The same bits: a 16-bit cache the emulator and the PTX wrote (the rounding is cvt.rn on one side, Java on the other). */
    static void assertSame(Half16Buffer expected, Half16Buffer actual) {
        for (long i = 0; i < expected.length(); i++) assertEquals(expected.get(i), actual.get(i), "element " + i);
    }

    /** BF16 values that may round a step apart (their F32 sources differing in the last bits). */
    static void assertWithinABf16Step(Half16Buffer expected, Half16Buffer actual) {
        for (long i = 0; i < expected.length(); i++) {
            float a = dev.moa.tasks.kernel.KernelContext.bf16ToFloat(expected.get(i)), b = dev.moa.tasks.kernel.KernelContext.bf16ToFloat(actual.get(i));
            assertEquals(a, b, Math.max(1, Math.abs(a)) / 128, "element " + i);
        }
    }

    static void assertClose(I32Buffer expected, I32Buffer actual) {
        for (long i = 0; i < expected.length(); i++) assertEquals(expected.get(i), actual.get(i), "element " + i);
    }

    /**
     * The target the kernels are compared at: the lent GPUs' (Hopper), whose PTX also waits for the kernels before it
     * and prefetches ({@link dev.moa.tasks.kernel.KernelContext#awaitPriorKernels}) — the interpreter refuses a kernel
     * touching global memory before its wait. Earlier targets differ by those instructions alone.
     */
    static final String TARGET = "sm_90";

    PtxInterpreter ptx(Class<?> owner, String method) {
        return new PtxInterpreter(PtxCompiler.compile(owner, method, TARGET).ptx());
    }

    @Test
    void elementwiseKernels() {
        int n = 900 + random.nextInt(200);
        F32Buffer a = randomBuffer(n), b = randomBuffer(n), c1 = F32Buffer.allocate(arena, n), c2 = F32Buffer.allocate(arena, n);
        Emulator.launch(VectorKernels.class, "add", Grid.covering(n, 128), a, b, c1, n);
        ptx(VectorKernels.class, "add").launch(Grid.covering(n, 128), a.memory(), b.memory(), c2.memory(), n);
        assertClose(c1, c2, 0);
        Emulator.launch(VectorKernels.class, "siluTimes", Grid.covering(n, 128), a, b, c1, n);
        ptx(VectorKernels.class, "siluTimes").launch(Grid.covering(n, 128), a.memory(), b.memory(), c2.memory(), n);
        assertClose(c1, c2, 1e-5);
    }

    @Test
    void decodeStepKernels() {
        int n = 300 + random.nextInt(100), vocab = 11;
        F32Buffer gateUp = randomBuffer(2 * n), o1 = F32Buffer.allocate(arena, n), o2 = F32Buffer.allocate(arena, n);
        Emulator.launch(VectorKernels.class, "swiGlu", Grid.covering(n, 128), gateUp, o1, n);
        ptx(VectorKernels.class, "swiGlu").launch(Grid.covering(n, 128), gateUp.memory(), o2.memory(), n);
        assertClose(o1, o2, 1e-5);

        I32Buffer step = I32Buffer.of(arena, 1 + random.nextInt(vocab - 1), 99);
        F32Buffer f32 = randomBuffer(vocab * n);
        Half16Buffer half = Half16Buffer.allocate(arena, (long) vocab * n);
        for (long i = 0; i < half.length(); i++) half.set(i, (short) random.nextInt(0x4000)); // finite, moderate bf16 and f16 bit patterns
        for (String kernel : new String[] {"embedBf16", "embedF16", "embedF32"}) {
            F32Buffer e1 = F32Buffer.allocate(arena, n), e2 = F32Buffer.allocate(arena, n);
            var table = kernel.equals("embedF32") ? f32 : half;
            Emulator.launch(VectorKernels.class, kernel, Grid.covering(n, 128), table, step, e1, n);
            ptx(VectorKernels.class, kernel).launch(Grid.covering(n, 128), table.memory(), step.memory(), e2.memory(), n);
            assertClose(e1, e2, 0);
        }

        int rows = 19, cols = 4 * (20 + random.nextInt(10));
        F32Buffer x = randomBuffer(cols), bias = randomBuffer(rows);
        int epilogue = MatVecKernels.BIAS | MatVecKernels.ACCUMULATE;
        F32Buffer w32 = randomBuffer(rows * cols), r1 = randomBuffer(rows), r2 = copy(r1);
        Emulator.launch(MatVecKernels.class, "f32Into", MatVecKernels.grid(rows), w32, x, bias, r1, rows, cols, epilogue);
        ptx(MatVecKernels.class, "f32Into").launch(MatVecKernels.grid(rows), w32.memory(), x.memory(), bias.memory(), r2.memory(), rows, cols, epilogue);
        assertClose(r1, r2, 1e-5);
        for (String kernel : new String[] {"bf16Into", "f16Into"}) {
            for (int parts : new int[] {1, 4}) { // a warp per row, and four sharing each row's columns (a partial last group)
                F32Buffer s1 = randomBuffer(rows), s2 = copy(s1);
                Emulator.launch(MatVecKernels.class, kernel, MatVecKernels.grid(rows, parts), half, x, bias, s1, rows, cols, epilogue, parts);
                ptx(MatVecKernels.class, kernel).launch(MatVecKernels.grid(rows, parts), half.memory(), x.memory(), bias.memory(), s2.memory(), rows, cols,
                        epilogue, parts);
                assertClose(s1, s2, 1e-5);
            }
        }
    }

    @Test
    void rowKernelsWithSharedMemoryAndBarriers() {
        int rows = 2, dim = 300 + random.nextInt(100);
        F32Buffer x = randomBuffer(rows * dim), w = randomBuffer(dim);
        F32Buffer out1 = F32Buffer.allocate(arena, rows * dim), out2 = F32Buffer.allocate(arena, rows * dim);
        Grid grid = Grid.of(rows, VectorKernels.ROW_GROUP);
        Emulator.launch(VectorKernels.class, "rmsNorm", grid, x, w, out1, dim, 1e-5f);
        ptx(VectorKernels.class, "rmsNorm").launch(grid, x.memory(), w.memory(), out2.memory(), dim, 1e-5f);
        assertClose(out1, out2, 1e-5);

        F32Buffer s1 = copy(x), s2 = copy(x);
        Emulator.launch(VectorKernels.class, "softmax", grid, s1, dim);
        ptx(VectorKernels.class, "softmax").launch(grid, s2.memory(), dim);
        assertClose(s1, s2, 1e-5);

        F32Buffer logits = randomBuffer(2000);
        int chunks = 5;
        Grid argmaxGrid = Grid.of(chunks, VectorKernels.ROW_GROUP);
        F32Buffer values = F32Buffer.allocate(arena, chunks);
        I32Buffer ints = I32Buffer.allocate(arena, 2 * chunks), arrivals = I32Buffer.allocate(arena, 1);
        I32Buffer r1 = I32Buffer.allocate(arena, 2), r2 = I32Buffer.allocate(arena, 2);
        Emulator.launch(VectorKernels.class, "argmax", argmaxGrid, logits, values, ints, arrivals, r1, 2000);
        PtxInterpreter argmax = ptx(VectorKernels.class, "argmax");
        argmax.launch(argmaxGrid, logits.memory(), values.memory(), ints.memory(), arrivals.memory(), r2.memory(), 2000);
        assertEquals(r1.get(0), r2.get(0));
        assertEquals(0, r2.get(1));
        assertEquals(0, arrivals.get(0), "the last group resets the count");
        logits.set(random.nextInt(2000), Float.NEGATIVE_INFINITY);
        argmax.launch(argmaxGrid, logits.memory(), values.memory(), ints.memory(), arrivals.memory(), r2.memory(), 2000);
        assertEquals(1, r2.get(1), "the PTX flags an infinite logit");
        // moving the step on: the finite row's token and position, none for a row that is not finite
        I32Buffer step1 = I32Buffer.allocate(arena, 2 * Step.SIZE), step2 = I32Buffer.allocate(arena, 2 * Step.SIZE);
        F32Buffer twoRows = randomBuffer(4000);
        twoRows.set(2000 + random.nextInt(2000), Float.NaN);
        for (I32Buffer s : new I32Buffer[] {step1, step2}) {
            for (int b = 0; b < 2; b++) {
                s.set(b * Step.SIZE + Step.TOKEN, 3);
                s.set(b * Step.SIZE + Step.POSITION, 17 + b);
            }
        }
        Grid twoRowGrid = Grid.of(chunks, 2, VectorKernels.ROW_GROUP);
        F32Buffer values2 = F32Buffer.allocate(arena, 2 * chunks);
        I32Buffer ints2 = I32Buffer.allocate(arena, 4 * chunks), arrivals2 = I32Buffer.allocate(arena, 2);
        I32Buffer o1 = I32Buffer.allocate(arena, 4), o2 = I32Buffer.allocate(arena, 4);
        Emulator.launch(VectorKernels.class, "argmaxOnward", twoRowGrid, twoRows, values2, ints2, arrivals2, o1, step1, 2000);
        ptx(VectorKernels.class, "argmaxOnward").launch(twoRowGrid, twoRows.memory(), values2.memory(), ints2.memory(), arrivals2.memory(),
                o2.memory(), step2.memory(), 2000);
        for (int i = 0; i < 4; i++) assertEquals(o1.get(i), o2.get(i), "result " + i);
        for (int i = 0; i < 2 * Step.SIZE; i++) assertEquals(step1.get(i), step2.get(i), "step int " + i);
        assertEquals(o1.get(0), step2.get(Step.TOKEN), "row 0 moves on to its token");
        assertEquals(18, step2.get(Step.POSITION));
        assertEquals(3, step2.get(Step.SIZE + Step.TOKEN), "row 1, not finite, stays");
        assertEquals(18, step2.get(Step.SIZE + Step.POSITION));
        // and after a draw, for rows of every kind (drawn, left to the host, not finite), past a group's worth of rows
        int drawRows = VectorKernels.ROW_GROUP + 3;
        I32Buffer drawn = I32Buffer.allocate(arena, 2L * drawRows), steps1 = I32Buffer.allocate(arena, (long) drawRows * Step.SIZE),
                steps2 = I32Buffer.allocate(arena, (long) drawRows * Step.SIZE);
        for (int b = 0; b < drawRows; b++) {
            drawn.set(2L * b, b % 3 == 1 ? -1 : random.nextInt(1000));
            drawn.set(2L * b + 1, b % 3 == 2 ? 1 : 0);
            for (I32Buffer s : new I32Buffer[] {steps1, steps2}) {
                s.set((long) b * Step.SIZE + Step.TOKEN, 4);
                s.set((long) b * Step.SIZE + Step.POSITION, b);
            }
        }
        Grid onwardGrid = Grid.covering(drawRows, VectorKernels.ROW_GROUP);
        Emulator.launch(VectorKernels.class, "stepOnward", onwardGrid, drawn, steps1, drawRows);
        ptx(VectorKernels.class, "stepOnward").launch(onwardGrid, drawn.memory(), steps2.memory(), drawRows);
        for (int i = 0; i < drawRows * Step.SIZE; i++) assertEquals(steps1.get(i), steps2.get(i), "step int " + i);
        assertEquals(drawn.get(0), steps2.get(Step.TOKEN), "row 0, drawn, moves on");
        assertEquals(1, steps2.get(Step.POSITION));
        assertEquals(1, steps2.get(Step.SIZE + Step.POSITION), "row 1, left to the host, stays");
    }

    /**
     * The device's draw: rows of one launch over the same logits in each way it draws (top-p alone, none, top-k with a
     * bisected threshold, greedy), the PTX's tokens the emulator's (its fixed-point sums leave no order to differ in).
     */
    @Test
    void samplingDraw() {
        int n = 1700 + random.nextInt(200), rows = 5;
        F32Buffer logits = F32Buffer.allocate(arena, (long) rows * n);
        for (int i = 0; i < n; i++) {
            float v = (float) random.nextGaussian() * (i % 3 == 0 ? 3 : 1);
            for (int b = 0; b < rows; b++) logits.set((long) b * n + i, v);
        }
        float[] temperature = {0.8f, 1f, 2f, 0.7f, 0f};
        int[] topK = {0, 0, 60, 40, 0};
        float[] topP = {0.9f, 1f, 1f, 0.95f, 0.9f};
        I32Buffer draws = I32Buffer.allocate(arena, (long) rows * dev.moa.tasks.kernels.SamplingKernels.DRAW_SIZE);
        I32Buffer c1 = I32Buffer.allocate(arena, 2L * rows), c2 = I32Buffer.allocate(arena, 2L * rows);
        for (int b = 0; b < rows; b++) {
            dev.moa.tasks.kernels.SamplingKernels.setDraw(draws, b, temperature[b], topK[b], topP[b], random.nextInt());
            int argmax = 0;
            for (int i = 1; i < n; i++) if (logits.get(i) > logits.get(argmax)) argmax = i;
            c1.set(2L * b, argmax);
            c2.set(2L * b, argmax);
        }
        Grid grid = Grid.of(rows, dev.moa.tasks.kernels.SamplingKernels.GROUP);
        Emulator.launch(dev.moa.tasks.kernels.SamplingKernels.class, "sample", grid, logits, draws, c1, n);
        ptx(dev.moa.tasks.kernels.SamplingKernels.class, "sample").launch(grid, logits.memory(), draws.memory(), c2.memory(), n);
        assertClose(c1, c2);
    }

    /**
     * The draw of nuclei too wide for shared memory ({@code sampleWide} after {@code sample}): flat rows with top-p
     * alone, top-k alone, both, and a row of few values each shared by hundreds of tokens (the search over ids), the
     * PTX's tokens the emulator's.
     */
    @Test
    void wideDraw() {
        int n = 1750 + random.nextInt(100), rows = 4; // (past the 1536 candidates sample holds)
        F32Buffer logits = F32Buffer.allocate(arena, (long) rows * n);
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < n; i++) {
                float v = b < 3 ? (float) random.nextGaussian() * 0.01f : Math.round(random.nextGaussian() * 2) / 8f;
                logits.set((long) b * n + i, v);
            }
        }
        float[] temperature = {1.3f, 1.3f, 1f, 1f};
        int[] topK = {0, 1600, 1650, 1600};
        float[] topP = {0.99f, 1f, 0.9f, 0.95f};
        I32Buffer draws = I32Buffer.allocate(arena, (long) rows * dev.moa.tasks.kernels.SamplingKernels.DRAW_SIZE);
        I32Buffer c1 = I32Buffer.allocate(arena, 2L * rows), c2 = I32Buffer.allocate(arena, 2L * rows);
        for (int b = 0; b < rows; b++) {
            dev.moa.tasks.kernels.SamplingKernels.setDraw(draws, b, temperature[b], topK[b], topP[b], random.nextInt());
            int argmax = 0;
            for (int i = 1; i < n; i++) if (logits.get((long) b * n + i) > logits.get((long) b * n + argmax)) argmax = i;
            c1.set(2L * b, argmax);
            c2.set(2L * b, argmax);
        }
        Grid grid = Grid.of(rows, dev.moa.tasks.kernels.SamplingKernels.GROUP), wide = Grid.of(rows, dev.moa.tasks.kernels.SamplingKernels.WIDE);
        Emulator.launch(dev.moa.tasks.kernels.SamplingKernels.class, "sample", grid, logits, draws, c1, n);
        for (int b = 0; b < rows; b++) assertEquals(-1, c1.get(2L * b), "row " + b + " is too wide for sample");
        Emulator.launch(dev.moa.tasks.kernels.SamplingKernels.class, "sampleWide", wide, logits, draws, c1, n);
        ptx(dev.moa.tasks.kernels.SamplingKernels.class, "sample").launch(grid, logits.memory(), draws.memory(), c2.memory(), n);
        ptx(dev.moa.tasks.kernels.SamplingKernels.class, "sampleWide").launch(wide, logits.memory(), draws.memory(), c2.memory(), n);
        for (int b = 0; b < rows; b++) assertTrue(c1.get(2L * b) >= 0, "row " + b + " drawn");
        assertClose(c1, c2);
    }

    @Test
    void warpShuffleMatVec() {
        warpShuffleMatVec(77 + 2 * random.nextInt(25), "bf16");
        warpShuffleMatVec(8 * (10 + random.nextInt(10)), "bf16");
        warpShuffleMatVec(8 * (10 + random.nextInt(10)), "f16");
    }

    void warpShuffleMatVec(int cols, String kernel) {
        int rows = 21;
        Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
        for (long i = 0; i < w.length(); i++) {
            float v = (float) random.nextGaussian();
            w.set(i, kernel.equals("bf16") ? (short) (Float.floatToIntBits(v) >>> 16) : Float.floatToFloat16(v));
        }
        F32Buffer x = randomBuffer(cols), o1 = F32Buffer.allocate(arena, rows), o2 = F32Buffer.allocate(arena, rows);
        Grid grid = Grid.of((rows + MatVecKernels.ROWS_PER_GROUP - 1) / MatVecKernels.ROWS_PER_GROUP, MatVecKernels.GROUP);
        Emulator.launch(MatVecKernels.class, kernel, grid, w, x, o1, rows, cols);
        ptx(MatVecKernels.class, kernel).launch(grid, w.memory(), x.memory(), o2.memory(), rows, cols);
        assertClose(o1, o2, 1e-5);
    }

    /** The batched matvecs (one weight load for up to four vectors), F32 and both 16-bit formats, a partial last pass. */
    @Test
    void batchedMatVec() {
        int rows = 19, batch = 6;
        for (int cols : new int[] {8 * (5 + random.nextInt(10)), 37}) {
            Half16Buffer half = Half16Buffer.allocate(arena, (long) rows * cols);
            for (long i = 0; i < half.length(); i++) half.set(i, (short) random.nextInt(0x4000));
            F32Buffer full = randomBuffer(rows * cols), x = randomBuffer(batch * cols), bias = randomBuffer(rows);
            Grid grid = MatVecKernels.batchGrid(rows, batch);
            for (int ieee = 0; ieee < 2; ieee++) {
                int parts = 1 + ieee; // a warp a row, and two sharing each row
                Grid shared = MatVecKernels.batchGrid(rows, batch, parts);
                F32Buffer o1 = randomBuffer(batch * rows), o2 = copy(o1);
                Emulator.launch(MatVecKernels.class, "halfBatchInto", shared, half, x, bias, o1, rows, cols, batch, 3, ieee, parts);
                ptx(MatVecKernels.class, "halfBatchInto").launch(shared, half.memory(), x.memory(), bias.memory(), o2.memory(), rows, cols, batch, 3, ieee,
                        parts);
                assertClose(o1, o2, 1e-5);
            }
            F32Buffer o1 = randomBuffer(batch * rows), o2 = copy(o1);
            Emulator.launch(MatVecKernels.class, "f32BatchInto", grid, full, x, bias, o1, rows, cols, batch, 1);
            ptx(MatVecKernels.class, "f32BatchInto").launch(grid, full.memory(), x.memory(), bias.memory(), o2.memory(), rows, cols, batch, 1);
            assertClose(o1, o2, 1e-5);
        }
    }

    /** The normed matvecs: RMSNorm inside the matvec, bias and SwiGLU epilogues, and RoPE + cache write, both 16-bit formats. */
    @Test
    void normedMatVec() {
        int rows = 23, cols = 8 * (5 + random.nextInt(10));
        Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
        for (long i = 0; i < w.length(); i++) w.set(i, (short) (0x3000 + random.nextInt(0x0fff) | (random.nextBoolean() ? 0x8000 : 0)));
        F32Buffer x = randomBuffer(cols), g = randomBuffer(cols), bias = randomBuffer(rows);
        for (int ieee = 0; ieee < 2; ieee++) {
            for (int epilogue : new int[] {MatVecKernels.BIAS, NormedMatVecKernels.GLU}) {
                int n = (epilogue & NormedMatVecKernels.GLU) != 0 ? rows - 1 : rows; // gate/up: an even row count
                int parts = 1 + 3 * ieee; // a warp a pair, and four sharing each pair's columns
                Grid grid = NormedMatVecKernels.grid(NormedMatVecKernels.pairs(n, epilogue), parts);
                F32Buffer o1 = randomBuffer(rows), o2 = copy(o1);
                Emulator.launch(NormedMatVecKernels.class, "half", grid, w, x, g, bias, o1, n, cols, 1e-5f, epilogue, ieee, parts);
                ptx(NormedMatVecKernels.class, "half").launch(grid, w.memory(), x.memory(), g.memory(), bias.memory(), o2.memory(), n, cols, 1e-5f, epilogue, ieee,
                        parts);
                assertClose(o1, o2, 1e-5);
            }
        }
        // q/k/v with RoPE into a cache: 3 query heads, 1 KV head of 4 dims (10 pairs: shared by 2 warps, the last of the
        // 3 groups has two past the last pair); a sink of 2 slots and a ring of 3
        int heads = 3, kvHeads = 1, headDim = 4, position = 7, slots = 5;
        int qkvRows = (heads + 2 * kvHeads) * headDim;
        F32Buffer cos = randomBuffer(8 * headDim / 2), sin = randomBuffer(8 * headDim / 2);
        I32Buffer step = I32Buffer.allocate(arena, 4), sinkSlots = I32Buffer.of(arena, 2), offsets = I32Buffer.of(arena, 0), rings = I32Buffer.of(arena, 3);
        step.set(dev.moa.tasks.kernels.Step.POSITION, position);
        F32Buffer q1 = F32Buffer.allocate(arena, qkvRows), q2 = F32Buffer.allocate(arena, qkvRows);
        F32Buffer k1 = randomBuffer(slots * headDim), k2 = copy(k1), v1 = randomBuffer(slots * headDim), v2 = copy(v1);
        I32Buffer p1 = I32Buffer.of(arena, 0, 1, 4, 5, 6), p2 = I32Buffer.of(arena, 0, 1, 4, 5, 6);
        Half16Buffer placeholder = Half16Buffer.allocate(arena, 8);
        Grid grid = NormedMatVecKernels.grid(qkvRows / 2, 1), shared = NormedMatVecKernels.grid(qkvRows / 2, 2);
        Emulator.launch(NormedMatVecKernels.class, "halfRope", grid, w, x, g, bias, q1, cos, sin, k1, v1, placeholder, placeholder, p1, offsets, rings,
                step, sinkSlots, heads, kvHeads, headDim, cols, 1e-5f, MatVecKernels.BIAS | NormedMatVecKernels.PREFETCH_KV, 0,
                dev.moa.tasks.kernels.KvStore.F32, 1);
        ptx(NormedMatVecKernels.class, "halfRope").launch(shared, w.memory(), x.memory(), g.memory(), bias.memory(), q2.memory(), cos.memory(),
                sin.memory(), k2.memory(), v2.memory(), placeholder.memory(), placeholder.memory(), p2.memory(), offsets.memory(), rings.memory(),
                step.memory(), sinkSlots.memory(), heads, kvHeads, headDim, cols, 1e-5f, MatVecKernels.BIAS | NormedMatVecKernels.PREFETCH_KV, 0,
                dev.moa.tasks.kernels.KvStore.F32, 2);
        assertClose(q1, q2, 1e-5);
        assertClose(k1, k2, 1e-5);
        assertClose(v1, v2, 1e-5);
        assertClose(p1, p2);
        assertEquals(position, p1.get(2 + (position - 2) % 3), "the slot of position 7 holds it");
        // the same into a BF16 cache (k1, v1 as placeholders now): cvt.rn.bf16.f32 rounds as the emulator's Java does
        Half16Buffer k3 = bf16Of(randomBuffer(slots * headDim)), k4 = copy(k3), v3 = bf16Of(randomBuffer(slots * headDim)), v4 = copy(v3);
        Emulator.launch(NormedMatVecKernels.class, "halfRope", shared, w, x, g, bias, q1, cos, sin, k1, v1, k3, v3, p1, offsets, rings,
                step, sinkSlots, heads, kvHeads, headDim, cols, 1e-5f, MatVecKernels.BIAS | NormedMatVecKernels.PREFETCH_KV, 0,
                dev.moa.tasks.kernels.KvStore.BF16, 2);
        ptx(NormedMatVecKernels.class, "halfRope").launch(grid, w.memory(), x.memory(), g.memory(), bias.memory(), q2.memory(), cos.memory(),
                sin.memory(), k1.memory(), v1.memory(), k4.memory(), v4.memory(), p2.memory(), offsets.memory(), rings.memory(),
                step.memory(), sinkSlots.memory(), heads, kvHeads, headDim, cols, 1e-5f, MatVecKernels.BIAS, 0, dev.moa.tasks.kernels.KvStore.BF16, 1);
        assertWithinABf16Step(k3, k4); // the two sides' F32 dot products may differ in the last bit
        assertWithinABf16Step(v3, v4);
    }

    /**
     * The prefill GEMM: ragged tiles with one-element loads, and 16-byte loads with a partial last step; bias and
     * residual; each kernel as written and as the variant its width and epilogue select ({@code @Specialize}).
     */
    @Test
    void prefillGemm() {
        for (int[] shape : new int[][] {{20, 9, 37, 0}, {10, 70, 40, 0}, {12, 66, 96, 0}, {20, 9, 37, 1}, {12, 66, 96, 1}}) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            boolean specialized = shape[3] == 1;
            Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
            for (long i = 0; i < w.length(); i++) w.set(i, (short) (0x3000 + random.nextInt(0x0fff) | (random.nextBoolean() ? 0x8000 : 0)));
            F32Buffer x = randomBuffer(tokens * cols), bias = randomBuffer(rows), o1 = randomBuffer(tokens * rows), o2 = copy(o1);
            Grid grid = dev.moa.tasks.kernels.GemmKernels.grid(tokens, rows);
            int epilogue = MatVecKernels.BIAS | MatVecKernels.ACCUMULATE;
            Emulator.launch(dev.moa.tasks.kernels.GemmKernels.class, "half", grid, w, x, bias, o1, tokens, rows, cols, epilogue, 0);
            ptxRun(dev.moa.tasks.kernels.GemmKernels.class, "half", specialized, grid, w.memory(), x.memory(), bias.memory(), o2.memory(), tokens, rows, cols, epilogue, 0);
            assertClose(o1, o2, 1e-5);
            // F32 weights through the same tiles
            F32Buffer w32 = randomBuffer(rows * cols), f1 = randomBuffer(tokens * rows), f2 = copy(f1);
            Half16Buffer none = Half16Buffer.allocate(arena, 8);
            Emulator.launch(dev.moa.tasks.kernels.GemmKernels.class, "f32", grid, w32, none, x, bias, f1, tokens, rows, cols, epilogue);
            ptxRun(dev.moa.tasks.kernels.GemmKernels.class, "f32", specialized, grid, w32.memory(), none.memory(), x.memory(), bias.memory(), f2.memory(), tokens, rows, cols, epilogue);
            assertClose(f1, f2, 1e-5);
            if (!dev.moa.tasks.kernels.GemmKernels.tensorTakes(cols)) continue; // (rows not 16-byte aligned: the FFMA tiles' alone)
            // the tensor-core kernel on the same shapes
            F32Buffer t1 = randomBuffer(tokens * rows), t2 = copy(t1);
            Grid tensor = dev.moa.tasks.kernels.GemmKernels.tensorGrid(tokens, rows);
            Emulator.launch(dev.moa.tasks.kernels.GemmKernels.class, "bf16Tensor", tensor, w, x, bias, t1, tokens, rows, cols, epilogue);
            ptxRun(dev.moa.tasks.kernels.GemmKernels.class, "bf16Tensor", specialized, tensor, w.memory(), x.memory(), bias.memory(), t2.memory(), tokens, rows, cols, epilogue);
            assertClose(t1, t2, 1e-5);
            F32Buffer r1 = randomBuffer(tokens * rows), r2 = copy(r1); // with the activations rounded once
            Emulator.launch(dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorRounded", tensor, w, x, bias, r1, tokens, rows, cols, epilogue);
            ptxRun(dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorRounded", specialized, tensor, w.memory(), x.memory(), bias.memory(), r2.memory(), tokens, rows, cols, epilogue);
            assertClose(r1, r2, 1e-5);
            F32Buffer lr1 = randomBuffer(tokens * rows), lr2 = copy(lr1); // and over 128 x 128 tiles
            Grid largeRounded = dev.moa.tasks.kernels.GemmKernels.largeGrid(tokens, rows);
            Emulator.launch(dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorLargeRounded", largeRounded, w, x, bias, lr1, tokens, rows, cols, epilogue);
            ptxRun(dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorLargeRounded", specialized, largeRounded, w.memory(), x.memory(), bias.memory(),
                    lr2.memory(), tokens, rows, cols, epilogue);
            assertClose(lr1, lr2, 1e-5);
            F32Buffer l1 = randomBuffer(tokens * rows), l2 = copy(l1); // over 128 x 128 tiles
            Grid large = dev.moa.tasks.kernels.GemmKernels.largeGrid(tokens, rows);
            Emulator.launch(dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorLarge", large, w, x, bias, l1, tokens, rows, cols, epilogue);
            ptxRun(dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorLarge", specialized, large, w.memory(), x.memory(), bias.memory(), l2.memory(), tokens, rows, cols, epilogue);
            assertClose(l1, l2, 1e-5);
            // and split over the columns (a batched decode step's product), the splits then added with the epilogue
            int splits = 2, splitCols = dev.moa.tasks.kernels.GemmKernels.splitCols(cols, splits);
            F32Buffer p1 = randomBuffer(splits * tokens * rows), p2 = copy(p1), s1 = randomBuffer(tokens * rows), s2 = copy(s1);
            Grid split = dev.moa.tasks.kernels.GemmKernels.tensorSplitGrid(tokens, rows, splits), sum = dev.moa.tasks.kernels.GemmKernels.sumGrid(tokens, rows);
            Emulator.launch(dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorSplit", split, w, x, p1, tokens, rows, cols, splitCols);
            Emulator.launch(dev.moa.tasks.kernels.GemmKernels.class, "sumSplits", sum, p1, bias, s1, tokens, rows, splits, epilogue);
            ptxRun(dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorSplit", specialized, split, w.memory(), x.memory(), p2.memory(), tokens, rows, cols, splitCols);
            ptxRun(dev.moa.tasks.kernels.GemmKernels.class, "sumSplits", specialized, sum, p2.memory(), bias.memory(), s2.memory(), tokens, rows, splits, epilogue);
            assertClose(p1, p2, 1e-5);
            assertClose(s1, s2, 1e-5);
        }
    }

    /**
     * The pipelined GEMMs' PTX (activations in BF16 parts, a ring of three stages) against the emulator: both tile
     * sizes, one part and two, steps fewer than the stages and more, a partial last step; as written and specialized.
     */
    @Test
    void pipelinedGemm() {
        Class<?> k = dev.moa.tasks.kernels.PipelinedGemm.class;
        for (int[] shape : new int[][] {{12, 66, 8, 0}, {65, 70, 104, 1}}) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            boolean specialized = shape[3] == 1;
            Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
            for (long i = 0; i < w.length(); i++) w.set(i, (short) (0x3000 + random.nextInt(0x0fff) | (random.nextBoolean() ? 0x8000 : 0)));
            F32Buffer x = randomBuffer(tokens * cols), bias = randomBuffer(rows);
            Grid rowsGrid = Grid.of((cols + 255) / 256, tokens, 256);
            for (int parts = 1; parts <= 2; parts++) {
                Half16Buffer h1 = Half16Buffer.allocate(arena, (long) tokens * cols), l1 = Half16Buffer.allocate(arena, (long) tokens * cols);
                Half16Buffer h2 = Half16Buffer.allocate(arena, (long) tokens * cols), l2 = Half16Buffer.allocate(arena, (long) tokens * cols);
                Emulator.launch(k, "splitRows", rowsGrid, x, h1, l1, cols, parts);
                ptxRun(k, "splitRows", specialized, rowsGrid, x.memory(), h2.memory(), l2.memory(), cols, parts);
                for (long i = 0; i < h1.length(); i++) {
                    assertEquals(h1.get(i), h2.get(i), "high part " + i);
                    if (parts == 2) assertEquals(l1.get(i), l2.get(i), "low part " + i);
                }
                int epilogue = MatVecKernels.BIAS | MatVecKernels.ACCUMULATE;
                for (String entry : new String[] {"tile", "large"}) {
                    Grid grid = entry.equals("tile") ? dev.moa.tasks.kernels.PipelinedGemm.grid(tokens, rows, parts)
                            : dev.moa.tasks.kernels.PipelinedGemm.largeGrid(tokens, rows, parts);
                    F32Buffer o1 = randomBuffer(tokens * rows), o2 = copy(o1);
                    Emulator.launch(k, entry, grid, w, h1, l1, bias, o1, tokens, rows, cols, parts, epilogue);
                    ptxRun(k, entry, specialized, grid, w.memory(), h1.memory(), l1.memory(), bias.memory(), o2.memory(), tokens, rows, cols, parts, epilogue);
                    assertClose(o1, o2, 0);
                }
                int splits = 2, splitCols = dev.moa.tasks.kernels.GemmKernels.splitCols(cols, splits); // and split over the columns
                Grid split = dev.moa.tasks.kernels.PipelinedGemm.splitGrid(tokens, rows, splits, parts);
                F32Buffer p1 = randomBuffer(splits * tokens * rows), p2 = copy(p1);
                Emulator.launch(k, "split", split, w, h1, l1, p1, tokens, rows, cols, splitCols, parts);
                ptxRun(k, "split", specialized, split, w.memory(), h1.memory(), l1.memory(), p2.memory(), tokens, rows, cols, splitCols, parts);
                assertClose(p1, p2, 0);
                { // and the 64 x 64 warps
                    Grid grid = dev.moa.tasks.kernels.PipelinedGemm.wideGrid(tokens, rows, parts);
                    F32Buffer o1 = randomBuffer(tokens * rows), o2 = copy(o1);
                    Emulator.launch(k, "wide", grid, w, h1, l1, bias, o1, tokens, rows, cols, parts, epilogue);
                    ptxRun(k, "wide", specialized, grid, w.memory(), h1.memory(), l1.memory(), bias.memory(), o2.memory(), tokens, rows, cols, parts, epilogue);
                    assertClose(o1, o2, 0);
                }
                // the gate/up products with SwiGLU as their epilogue (rows: gate then up), the down product's parts out; the
                // PTX's exponential is ex2's, the emulator's Math.exp: the parts agree to within their last bits
                for (String entry : specialized ? new String[] {"tileGlu", "largeGlu", "wideGlu"} : new String[] {"tileGlu"}) {
                    Grid grid = switch (entry) {
                        case "tileGlu" -> dev.moa.tasks.kernels.PipelinedGemm.grid(tokens, rows, parts);
                        case "largeGlu" -> dev.moa.tasks.kernels.PipelinedGemm.largeGrid(tokens, rows, parts);
                        default -> dev.moa.tasks.kernels.PipelinedGemm.wideGrid(tokens, rows, parts);
                    };
                    long outputs = (long) tokens * rows / 2;
                    Half16Buffer eh = Half16Buffer.allocate(arena, outputs), el = Half16Buffer.allocate(arena, outputs);
                    Half16Buffer ph = Half16Buffer.allocate(arena, outputs), pl = Half16Buffer.allocate(arena, outputs);
                    Emulator.launch(k, entry, grid, w, h1, l1, eh, el, tokens, rows, cols, parts);
                    ptxRun(k, entry, specialized, grid, w.memory(), h1.memory(), l1.memory(), ph.memory(), pl.memory(), tokens, rows, cols, parts);
                    for (long i = 0; i < outputs; i++) {
                        float e = dev.moa.tasks.kernel.KernelContext.bf16ToFloat(eh.get(i)) + (parts == 2 ? dev.moa.tasks.kernel.KernelContext.bf16ToFloat(el.get(i)) : 0f);
                        float q = dev.moa.tasks.kernel.KernelContext.bf16ToFloat(ph.get(i)) + (parts == 2 ? dev.moa.tasks.kernel.KernelContext.bf16ToFloat(pl.get(i)) : 0f);
                        // two BF16 parts hold about 16 bits: sources a last bit apart may round a step of the second part apart
                        assertEquals(e, q, Math.abs(e) * (parts == 2 ? 4e-5 : 1 / 128f) + 1e-6, entry + ", " + parts + " part(s), output " + i);
                    }
                }
            }
        }
    }

    /**
     * Per multiply-add, the pipelined GEMM (parts staged by asynchronous copies alone, one barrier a step) executes
     * well under the F32-staging kernel's PTX instructions for the same bits (2026-12-05, 128×128×256: 0.312 against 0.213;
     * 2026-12-06, once branch diamonds became selects, which the staging kernel's splits had more of: 0.296 against 0.208).
     */
    @Test
    void thePipelinedGemmDoesLessWorkPerProduct() {
        int tokens = 128, rows = 128, cols = 256;
        Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
        F32Buffer x = randomBuffer(tokens * cols), bias = randomBuffer(rows), o1 = F32Buffer.allocate(arena, tokens * rows), o2 = copy(o1);
        Half16Buffer xh = Half16Buffer.allocate(arena, (long) tokens * cols), xl = Half16Buffer.allocate(arena, (long) tokens * cols);
        Emulator.launch(dev.moa.tasks.kernels.PipelinedGemm.class, "splitRows", Grid.of((cols + 255) / 256, tokens, 256), x, xh, xl, cols, 2);
        PtxInterpreter staging = ptx(dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorLarge");
        PtxInterpreter pipelined = ptx(dev.moa.tasks.kernels.PipelinedGemm.class, "large");
        staging.launch(dev.moa.tasks.kernels.GemmKernels.largeGrid(tokens, rows), w.memory(), x.memory(), bias.memory(), o1.memory(), tokens, rows, cols, 0);
        pipelined.launch(dev.moa.tasks.kernels.PipelinedGemm.largeGrid(tokens, rows, 2), w.memory(), xh.memory(), xl.memory(), bias.memory(), o2.memory(),
                tokens, rows, cols, 2, 0);
        assertClose(o1, o2, 0);
        double macs = (double) tokens * rows * cols;
        System.out.printf("PTX instructions per multiply-add without moves, 128x128 tiles: F32 staging %.3f, pipelined parts %.3f%n",
                staging.executedWithoutMoves() / macs, pipelined.executedWithoutMoves() / macs);
        assertTrue(pipelined.executedWithoutMoves() < 0.75 * staging.executedWithoutMoves(), pipelined.executedWithoutMoves() + " vs " + staging.executedWithoutMoves());
    }

    /**
     * The work each prefill GEMM's PTX does, counted by the interpreter (deterministic, unlike a timing): the
     * tensor-core kernel must execute well under a quarter of the FFMA kernel's instructions for the same product.
     * (2026-12-04: 1.06 against 7.72 PTX instructions per multiply-add at 64×64×256.)
     */
    @Test
    void theTensorCoreGemmDoesAFractionOfTheFfmaGemmsWork() {
        int tokens = 64, rows = 64, cols = 256;
        Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
        F32Buffer x = randomBuffer(tokens * cols), bias = randomBuffer(rows), out = F32Buffer.allocate(arena, tokens * rows);
        PtxInterpreter ffma = ptx(dev.moa.tasks.kernels.GemmKernels.class, "half"), tensor = ptx(dev.moa.tasks.kernels.GemmKernels.class, "bf16Tensor");
        ffma.launch(dev.moa.tasks.kernels.GemmKernels.grid(tokens, rows), w.memory(), x.memory(), bias.memory(), out.memory(), tokens, rows, cols, 0, 0);
        tensor.launch(dev.moa.tasks.kernels.GemmKernels.tensorGrid(tokens, rows), w.memory(), x.memory(), bias.memory(), out.memory(), tokens, rows, cols, 0);
        double macs = (double) tokens * rows * cols;
        System.out.printf("PTX instructions per multiply-add: FFMA GEMM %.2f, tensor-core GEMM %.2f%n", ffma.executed() / macs, tensor.executed() / macs);
        assertTrue(tensor.executed() < 0.25 * ffma.executed(), tensor.executed() + " vs " + ffma.executed());
    }

    /** Per multiply-add, 128 × 128 tiles (a B fragment for two A fragments) execute well under the 64 × 64 tiles' instructions. */
    @Test
    void largeTensorTilesDoLessWorkPerProduct() {
        int tokens = 128, rows = 128, cols = 128;
        Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
        F32Buffer x = randomBuffer(tokens * cols), bias = randomBuffer(rows), o1 = F32Buffer.allocate(arena, tokens * rows), o2 = copy(o1);
        PtxInterpreter small = ptx(dev.moa.tasks.kernels.GemmKernels.class, "bf16Tensor"), large = ptx(dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorLarge");
        small.launch(dev.moa.tasks.kernels.GemmKernels.tensorGrid(tokens, rows), w.memory(), x.memory(), bias.memory(), o1.memory(), tokens, rows, cols, 0);
        large.launch(dev.moa.tasks.kernels.GemmKernels.largeGrid(tokens, rows), w.memory(), x.memory(), bias.memory(), o2.memory(), tokens, rows, cols, 0);
        assertClose(o1, o2, 0);
        double macs = (double) tokens * rows * cols;
        System.out.printf("PTX instructions per multiply-add without moves: 64x64 tiles %.3f, 128x128 tiles %.3f%n",
                small.executedWithoutMoves() / macs, large.executedWithoutMoves() / macs);
        assertTrue(large.executedWithoutMoves() < 0.8 * small.executedWithoutMoves(), large.executedWithoutMoves() + " vs " + small.executedWithoutMoves());
    }

    /**
     * The same count for a batched decode step's product (32 sessions): the tensor-core GEMM split over the columns
     * and summed, against the batched matvec (four sessions per weight read, so eight passes over each weight), per
     * multiply-add; the tensor path must execute under a quarter of the matvec's instructions.
     */
    @Test
    void aBatchedDecodeProductOnTheTensorCoresDoesAFractionOfTheMatvecsWork() {
        int batch = 32, rows = 128, cols = 512;
        Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
        for (long i = 0; i < w.length(); i++) w.set(i, (short) (0x3000 + random.nextInt(0x0fff)));
        F32Buffer x = randomBuffer(batch * cols), bias = randomBuffer(rows), o1 = F32Buffer.allocate(arena, batch * rows), o2 = copy(o1);
        PtxInterpreter matvec = ptx(MatVecKernels.class, "halfBatchInto");
        matvec.launch(MatVecKernels.batchGrid(rows, batch), w.memory(), x.memory(), bias.memory(), o1.memory(), rows, cols, batch, 0, 0, 1);
        int splits = dev.moa.tasks.kernels.GemmKernels.splits(batch, rows, cols);
        F32Buffer partial = F32Buffer.allocate(arena, (long) splits * batch * rows);
        PtxInterpreter split = ptx(dev.moa.tasks.kernels.GemmKernels.class, "bf16TensorSplit"), sum = ptx(dev.moa.tasks.kernels.GemmKernels.class, "sumSplits");
        split.launch(dev.moa.tasks.kernels.GemmKernels.tensorSplitGrid(batch, rows, splits), w.memory(), x.memory(), partial.memory(), batch, rows, cols,
                dev.moa.tasks.kernels.GemmKernels.splitCols(cols, splits));
        sum.launch(dev.moa.tasks.kernels.GemmKernels.sumGrid(batch, rows), partial.memory(), bias.memory(), o2.memory(), batch, rows, splits, 0);
        assertClose(o1, o2, 1e-4);
        double macs = (double) batch * rows * cols;
        long tensor = split.executedWithoutMoves() + sum.executedWithoutMoves();
        System.out.printf("PTX instructions per multiply-add at %d sessions (%d splits): batched matvec %.2f, tensor cores split + sum %.2f (without moves)%n",
                batch, splits, matvec.executedWithoutMoves() / macs, tensor / macs);
        assertTrue(tensor < 0.25 * matvec.executedWithoutMoves(), tensor + " vs " + matvec.executedWithoutMoves());
    }

    /**
     * The same count for prefill attention: the tensor-core kernel against the FFMA kernel on a 128-token prompt
     * (dense, causal, head_dim 64, the 1B model's), per multiply-add of the visible scores and their weighted values.
     */
    @Test
    void theTensorCoreAttentionDoesAFractionOfTheFfmaAttentionsWork() {
        int tokens = 128, heads = 1, kvHeads = 1, headDim = 64, stride = heads * headDim;
        F32Buffer q = randomBuffer(tokens * stride), kv = randomBuffer(tokens * 2 * kvHeads * headDim), out = F32Buffer.allocate(arena, tokens * stride);
        I32Buffer bands = I32Buffer.of(arena, 100);
        PtxInterpreter ffma = ptx(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparse");
        PtxInterpreter tensor = ptx(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparseTensor");
        I32Buffer ffmaOrder = I32Buffer.of(arena, dev.moa.tasks.kernels.PrefillKernels.longestFirst(0, tokens, tokens, heads, new int[] {100},
                dev.moa.tasks.kernels.PrefillKernels.QUERIES));
        Object[] args = {q.memory(), kv.memory(), out.memory(), bands.memory(), ffmaOrder.memory(), 0, 0, tokens, tokens, heads, kvHeads, headDim, stride,
                0.125f};
        ffma.launch(dev.moa.tasks.kernels.PrefillKernels.grid(tokens, heads), args);
        Half16Buffer kv16 = split(kv, tokens, 2 * kvHeads * headDim); // (split once a chunk: not the attention's work)
        tensor.launch(dev.moa.tasks.kernels.PrefillKernels.tensorGrid(tokens, heads, headDim), q.memory(), kv16.memory(), kv16.length() / 2, out.memory(),
                bands.memory(), schedule(0, tokens, tokens, heads, 100).memory(), 0, 0, tokens, tokens, heads, kvHeads, headDim, stride, 0.125f);
        double macs = 2.0 * headDim * tokens * (tokens + 1) / 2;
        System.out.printf("PTX instructions per multiply-add: FFMA attention %.2f (%.2f without moves), tensor-core attention %.2f (%.2f)%n",
                ffma.executed() / macs, ffma.executedWithoutMoves() / macs, tensor.executed() / macs, tensor.executedWithoutMoves() / macs);
        assertTrue(tensor.executedWithoutMoves() < 0.25 * ffma.executedWithoutMoves(), tensor.executedWithoutMoves() + " vs " + ffma.executedWithoutMoves());
    }

    /**
     * {@code ropeSplit}: the chunk's keys and values staged as the tensor-core attention's BF16 parts are, bit for bit,
     * {@code splitKeysValues} of what {@code rope} stages as floats, with the same rotated queries and the same cache;
     * rows outside the chunk untouched; its PTX as the emulator (parts within a BF16 step of each other, as rope's PTX
     * and emulator agree within 1e-6). F32 and BF16 caches.
     */
    @Test
    void prefillRopeSplit() {
        int tokens = 9, start = 3, count = tokens - start, heads = 2, kvHeads = 1, headDim = 8, stride = (heads + 2 * kvHeads) * headDim;
        int kvRow = 2 * kvHeads * headDim;
        Class<?> k = dev.moa.tasks.kernels.PrefillKernels.class;
        Grid grid = Grid.of(heads + kvHeads, count, dev.moa.tasks.kernels.PrefillKernels.GROUP);
        F32Buffer q = randomBuffer(count * stride), cos = randomBuffer(tokens * headDim / 2), sin = randomBuffer(tokens * headDim / 2);
        I32Buffer offsets = I32Buffer.of(arena, 0), rings = I32Buffer.of(arena, 3), firstKept = I32Buffer.of(arena, tokens - 3);
        long part = dev.moa.tasks.kernels.PrefillKernels.splitPart(tokens, kvRow);
        for (int format : new int[] {dev.moa.tasks.kernels.KvStore.F32, dev.moa.tasks.kernels.KvStore.BF16}) {
            F32Buffer qa = copy(q), qb = copy(q), qc = copy(q), staged = F32Buffer.allocate(arena, (long) tokens * kvRow);
            F32Buffer[] keys = {F32Buffer.allocate(arena, 5 * headDim), F32Buffer.allocate(arena, 5 * headDim), F32Buffer.allocate(arena, 5 * headDim)};
            F32Buffer[] values = {F32Buffer.allocate(arena, 5 * headDim), F32Buffer.allocate(arena, 5 * headDim), F32Buffer.allocate(arena, 5 * headDim)};
            Half16Buffer[] keys16 = {Half16Buffer.allocate(arena, 5 * headDim), Half16Buffer.allocate(arena, 5 * headDim), Half16Buffer.allocate(arena, 5 * headDim)};
            Half16Buffer[] values16 = {Half16Buffer.allocate(arena, 5 * headDim), Half16Buffer.allocate(arena, 5 * headDim),
                    Half16Buffer.allocate(arena, 5 * headDim)};
            Half16Buffer want = Half16Buffer.allocate(arena, 2 * part), got = Half16Buffer.allocate(arena, 2 * part), ptx = Half16Buffer.allocate(arena, 2 * part);
            for (Half16Buffer b : new Half16Buffer[] {want, got, ptx}) for (long i = 0; i < b.length(); i++) b.set(i, (short) 0x4242);
            Emulator.launch(k, "rope", grid, qa, cos, sin, keys[0], values[0], keys16[0], values16[0], staged, offsets, rings, firstKept, 2, heads, kvHeads,
                    headDim, stride, start, format);
            Emulator.launch(k, "splitKeysValues", Grid.covering((long) count * kvRow, dev.moa.tasks.kernels.PrefillKernels.GROUP), staged, want, part,
                    (long) start * kvRow, count * kvRow);
            Emulator.launch(k, "ropeSplit", grid, qb, cos, sin, keys[1], values[1], keys16[1], values16[1], got, part, offsets, rings, firstKept, 2, heads,
                    kvHeads, headDim, stride, start, format);
            ptxRun(k, "ropeSplit", format == dev.moa.tasks.kernels.KvStore.BF16, grid, qc.memory(), cos.memory(), sin.memory(), keys[2].memory(),
                    values[2].memory(), keys16[2].memory(), values16[2].memory(), ptx.memory(), part, offsets.memory(), rings.memory(), firstKept.memory(),
                    2, heads, kvHeads, headDim, stride, start, format);
            assertSame(want, got); // (rows before the chunk's: untouched in both, as the filler says)
            assertWithinABf16Step(want, ptx);
            assertClose(qa, qb, 0);
            assertClose(qa, qc, 1e-6);
            for (int i = 0; i < 2; i++) {
                assertClose(keys[0], keys[i + 1], i == 0 ? 0 : 1e-6);
                assertClose(values[0], values[i + 1], i == 0 ? 0 : 1e-6);
            }
            assertSame(keys16[0], keys16[1]);
            assertSame(values16[0], values16[1]);
            assertEquals((short) 0x4242, got.get(0), "a row before the chunk");
        }
    }

    /**
     * Prefill RoPE in place with the kept keys and values into a cache and every key and value into the layer's staged
     * prompt: a 2-slot sink and a 3-slot ring over a 9-token prompt, the chunk of its positions 3..8 (so {@code start}
     * moves the angles, the staged rows and the kept slots); into an F32 cache, then a BF16 one (whose staged prompt
     * holds the rounded keys and values).
     */
    @Test
    void prefillRope() {
        int tokens = 9, start = 3, count = tokens - start, heads = 2, kvHeads = 1, headDim = 8, stride = (heads + 2 * kvHeads) * headDim;
        F32Buffer q1 = randomBuffer(count * stride), q2 = copy(q1), cos = randomBuffer(tokens * headDim / 2), sin = randomBuffer(tokens * headDim / 2);
        F32Buffer q3 = copy(q1), q4 = copy(q1), q0 = copy(q1);
        F32Buffer k1 = F32Buffer.allocate(arena, 5 * headDim), k2 = F32Buffer.allocate(arena, 5 * headDim);
        F32Buffer v1 = F32Buffer.allocate(arena, 5 * headDim), v2 = F32Buffer.allocate(arena, 5 * headDim);
        Half16Buffer k3 = Half16Buffer.allocate(arena, 5 * headDim), k4 = Half16Buffer.allocate(arena, 5 * headDim);
        Half16Buffer v3 = Half16Buffer.allocate(arena, 5 * headDim), v4 = Half16Buffer.allocate(arena, 5 * headDim);
        int kvRow = 2 * kvHeads * headDim;
        F32Buffer s1 = F32Buffer.allocate(arena, tokens * kvRow), s2 = F32Buffer.allocate(arena, tokens * kvRow);
        F32Buffer s3 = F32Buffer.allocate(arena, tokens * kvRow), s4 = F32Buffer.allocate(arena, tokens * kvRow);
        I32Buffer offsets = I32Buffer.of(arena, 0), rings = I32Buffer.of(arena, 3), firstKept = I32Buffer.of(arena, tokens - 3);
        Grid grid = Grid.of(heads + kvHeads, count, dev.moa.tasks.kernels.PrefillKernels.GROUP);
        for (int format : new int[] {dev.moa.tasks.kernels.KvStore.F32, dev.moa.tasks.kernels.KvStore.BF16}) {
            boolean bf16 = format == dev.moa.tasks.kernels.KvStore.BF16;
            F32Buffer a = bf16 ? q3 : q1, b = bf16 ? q4 : q2, sa = bf16 ? s3 : s1, sb = bf16 ? s4 : s2;
            Emulator.launch(dev.moa.tasks.kernels.PrefillKernels.class, "rope", grid, a, cos, sin, k1, v1, k3, v3, sa, offsets, rings, firstKept, 2,
                    heads, kvHeads, headDim, stride, start, format);
            // as written for the F32 cache, and as the variant (@Specialize) for the BF16 one
            ptxRun(dev.moa.tasks.kernels.PrefillKernels.class, "rope", bf16, grid, b.memory(), cos.memory(), sin.memory(), k2.memory(), v2.memory(),
                    k4.memory(), v4.memory(), sb.memory(), offsets.memory(), rings.memory(), firstKept.memory(), 2, heads, kvHeads, headDim, stride,
                    start, format);
            assertClose(a, b, 1e-6);
            assertClose(sa, sb, 1e-6);
        }
        assertClose(k1, k2, 1e-6);
        assertClose(v1, v2, 1e-6);
        assertSame(k3, k4);
        assertSame(v3, v4);
        // position 8 (the chunk's row 5; kept, the ring's last) sits in slot 2 + (8 - 2) % 3 = 2 with its value as the
        // projection wrote it, and in row 8 of the staged prompt
        long value8 = 5L * stride + (heads + kvHeads) * headDim;
        assertEquals(q1.get(value8), v1.get(2L * headDim), 0f);
        assertEquals(q1.get(value8), s1.get(8L * kvRow + kvHeads * headDim), 0f);
        // position 8's key rotated by position 8's angles (not row 5's), staged in row 8 and cached in slot 2
        long key8 = 5L * stride + heads * headDim;
        float c = cos.get(8L * headDim / 2), sn = sin.get(8L * headDim / 2);
        assertEquals(q0.get(key8) * c - q0.get(key8 + headDim / 2) * sn, s1.get(8L * kvRow), 1e-6f);
        assertEquals(q1.get(key8), s1.get(8L * kvRow), 0f);
        assertEquals(q1.get(key8), k1.get(2L * headDim), 0f);
        assertEquals(0f, s1.get(2L * kvRow), 0f, "positions before the chunk are not staged by it");
        // a BF16 cache holds the value rounded, and so does the staged prompt (what prefill attends to)
        assertEquals(dev.moa.tasks.kernels.KvStore.round(q1.get(value8)), dev.moa.tasks.kernel.KernelContext.bf16ToFloat(v3.get(2L * headDim)), 0f);
        assertEquals(dev.moa.tasks.kernels.KvStore.round(q1.get(value8)), s3.get(8L * kvRow + kvHeads * headDim), 0f);
        assertEquals(q1.get(0), q3.get(0), 0f, "query heads are not rounded");
    }

    /** The tensor-core tile product: the PTX's mma.sync, as the interpreter runs it, against the emulator. */
    @Test
    void tensorCoreTile() {
        Half16Buffer a = Half16Buffer.allocate(arena, 256), b = Half16Buffer.allocate(arena, 128);
        for (long i = 0; i < 256; i++) a.set(i, dev.moa.tasks.kernel.KernelContext.floatToBf16((float) random.nextGaussian()));
        for (long i = 0; i < 128; i++) b.set(i, dev.moa.tasks.kernel.KernelContext.floatToBf16((float) random.nextGaussian()));
        F32Buffer c = randomBuffer(128), d1 = F32Buffer.allocate(arena, 128), d2 = F32Buffer.allocate(arena, 128);
        Emulator.launch(dev.moa.tasks.kernels.TensorCoreKernels.class, "tile", Grid.of(1, 32), a, b, c, d1);
        String ptx = PtxCompiler.compile(dev.moa.tasks.kernels.TensorCoreKernels.class, "tile").ptx();
        assertTrue(ptx.contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"), "the product is one tensor-core instruction");
        new PtxInterpreter(ptx).launch(Grid.of(1, 32), a.memory(), b.memory(), c.memory(), d2.memory());
        assertClose(d1, d2, 1e-6);
    }

    /**
     * Block-sparse prefill attention: a sink block, bands of one block and dense, a partial last query group; the
     * 150-token prompt's chunk of positions 64..149 (queries from the chunk, keys from the staged prompt).
     */
    @Test
    void prefillAttention() {
        prefillAttention(false);
        prefillAttention(true); // the variants for these head counts, head_dim and row stride (@Specialize)
    }

    /** The tensor-core attention's order of a chunk's items ({@code PrefillKernels.longestFirst}), every head of band {@code band}. */
    I32Buffer schedule(int start, int count, int tokens, int heads, int band) {
        int[] bands = new int[heads];
        java.util.Arrays.fill(bands, band);
        return I32Buffer.of(arena, dev.moa.tasks.kernels.PrefillKernels.longestFirst(start, count, tokens, heads, bands));
    }

    /** The keys and values {@code kv} split for the tensor-core attention by the emulator (second parts after the first). */
    Half16Buffer split(F32Buffer kv, int tokens, int kvRow) {
        long part = dev.moa.tasks.kernels.PrefillKernels.splitPart(tokens, kvRow);
        Half16Buffer kv16 = Half16Buffer.allocate(arena, 2 * part);
        Emulator.launch(dev.moa.tasks.kernels.PrefillKernels.class, "splitKeysValues", Grid.covering(kv.length(), dev.moa.tasks.kernels.PrefillKernels.GROUP),
                kv, kv16, part, 0L, (int) kv.length());
        return kv16;
    }

    void prefillAttention(boolean specialized) {
        int tokens = 150, start = 64, count = tokens - start, heads = 2, kvHeads = 1, headDim = 8, stride = heads * headDim;
        F32Buffer q = randomBuffer(count * stride), kv = randomBuffer(tokens * 2 * kvHeads * headDim);
        F32Buffer o1 = F32Buffer.allocate(arena, count * heads * headDim), o2 = F32Buffer.allocate(arena, count * heads * headDim);
        I32Buffer bands = I32Buffer.of(arena, 1, 100);
        Grid grid = dev.moa.tasks.kernels.PrefillKernels.grid(count, heads);
        I32Buffer ffmaOrder = I32Buffer.of(arena, dev.moa.tasks.kernels.PrefillKernels.longestFirst(start, count, tokens, heads, new int[] {1, 100},
                dev.moa.tasks.kernels.PrefillKernels.QUERIES));
        Emulator.launch(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparse", grid, q, kv, o1, bands, ffmaOrder, 0, start, count, tokens, heads,
                kvHeads, headDim, stride, 0.35f);
        ptxRun(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparse", specialized, grid, q.memory(), kv.memory(), o2.memory(), bands.memory(),
                ffmaOrder.memory(), 0, start, count, tokens, heads, kvHeads, headDim, stride, 0.35f);
        assertClose(o1, o2, 1e-5);
        // the tensor-core kernel: its keys and values split (as PTX too), then ldmatrix (plain and transposed), cp.async,
        // mma.sync and the dynamic shared words as the interpreter runs them
        Half16Buffer kv16 = split(kv, tokens, 2 * kvHeads * headDim), kv16ptx = Half16Buffer.allocate(arena, kv16.length());
        long part = kv16.length() / 2;
        ptx(dev.moa.tasks.kernels.PrefillKernels.class, "splitKeysValues").launch(Grid.covering(kv.length(), dev.moa.tasks.kernels.PrefillKernels.GROUP),
                kv.memory(), kv16ptx.memory(), part, 0L, (int) kv.length());
        assertSame(kv16, kv16ptx);
        F32Buffer o3 = F32Buffer.allocate(arena, count * heads * headDim), o4 = F32Buffer.allocate(arena, count * heads * headDim);
        Grid tensor = dev.moa.tasks.kernels.PrefillKernels.tensorGrid(count, heads, headDim);
        I32Buffer sched = I32Buffer.of(arena, dev.moa.tasks.kernels.PrefillKernels.longestFirst(start, count, tokens, heads, new int[] {1, 100}));
        Emulator.launch(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparseTensor", tensor, q, kv16, part, o3, bands, sched, 0, start, count, tokens,
                heads, kvHeads, headDim, stride, 0.35f);
        String ptx = PtxCompiler.compile(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparseTensor").ptx();
        assertTrue(ptx.contains("mma.sync.aligned.m16n8k16") && ptx.contains("ldmatrix") && ptx.contains(".trans"), "scores and outputs on the tensor cores");
        ptxRun(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparseTensor", specialized, tensor, q.memory(), kv16.memory(), part, o4.memory(),
                bands.memory(), sched.memory(), 0, start, count, tokens, heads, kvHeads, headDim, stride, 0.35f);
        assertClose(o3, o4, 1e-5); // as the FFMA pair: the emulator's exp and ex2.approx differ in the last bits
        assertClose(o1, o3, 1e-4); // and the two kernels agree
        // the operands rounded to BF16 once (--prompt-precision bf16): its PTX as the emulator, a third of the products
        F32Buffer o5 = F32Buffer.allocate(arena, count * heads * headDim), o6 = F32Buffer.allocate(arena, count * heads * headDim);
        Emulator.launch(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparseTensorRounded", tensor, q, kv16, part, o5, bands, sched, 0, start, count, tokens,
                heads, kvHeads, headDim, stride, 0.35f);
        ptxRun(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparseTensorRounded", specialized, tensor, q.memory(), kv16.memory(), part,
                o6.memory(), bands.memory(), sched.memory(), 0, start, count, tokens, heads, kvHeads, headDim, stride, 0.35f);
        assertClose(o5, o6, 1e-5);
        String rounded = PtxCompiler.compile(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparseTensorRounded").ptx();
        assertEquals(ptx.split("mma.sync", -1).length - 1, 3 * (rounded.split("mma.sync", -1).length - 1), "three products a term where the split takes them");
        // the output written as the output projection's BF16 parts: two parts sum to the float output, one is its rounding
        long outputs = (long) count * heads * headDim;
        Half16Buffer high = Half16Buffer.allocate(arena, outputs), low = Half16Buffer.allocate(arena, outputs);
        ptxRun(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparseTensorParts", specialized, tensor, q.memory(), kv16.memory(), part,
                high.memory(), low.memory(), bands.memory(), sched.memory(), 0, start, count, tokens, heads, kvHeads, headDim, stride, 0.35f);
        for (long i = 0; i < outputs; i++) {
            float sum = dev.moa.tasks.kernel.KernelContext.bf16ToFloat(high.get(i)) + dev.moa.tasks.kernel.KernelContext.bf16ToFloat(low.get(i));
            assertEquals(o3.get(i), sum, 4e-5 * Math.abs(o3.get(i)) + 1e-6, "split parts of output " + i); // (two parts: about 16 bits)
        }
        ptxRun(dev.moa.tasks.kernels.PrefillKernels.class, "blockSparseTensorRoundedParts", specialized, tensor, q.memory(), kv16.memory(), part,
                high.memory(), bands.memory(), sched.memory(), 0, start, count, tokens, heads, kvHeads, headDim, stride, 0.35f);
        for (long i = 0; i < outputs; i++) {
            assertEquals(o5.get(i), dev.moa.tasks.kernel.KernelContext.bf16ToFloat(high.get(i)), Math.abs(o5.get(i)) / 128 + 1e-6, "rounded part of output " + i);
        }
    }

    /**
     * RoPE + MoA cache write and split-KV decode attention (GQA, ragged spans, sink + window masks), each kernel as
     * written and as the variant for its launch's {@code @Specialize} values (head counts, head_dim, cache format
     * constants inside it), both as PTX against the emulator.
     */
    @Test
    void moaDecodeAttention() {
        for (boolean specialized : new boolean[] {false, true}) {
            moaDecodeAttention(12, dev.moa.tasks.kernels.KvStore.F32, specialized); // value rows read one float per lane
            moaDecodeAttention(16, dev.moa.tasks.kernels.KvStore.F32, specialized); // value rows read 16 bytes per lane, eight rows per warp
            moaDecodeAttention(16, dev.moa.tasks.kernels.KvStore.BF16, specialized); // the cache in BF16: 8-byte loads (ld.global.v2), cvt.rn.bf16 writes
            moaDecodeAttention(12, dev.moa.tasks.kernels.KvStore.BF16, specialized);
            moaDecodeAttention(128, dev.moa.tasks.kernels.KvStore.F32, specialized); // staged in 32-row tiles, four work-items a key
        }
    }

    /** Runs {@code owner.method}'s PTX on {@code args}: the kernel as written, or the variant {@code args} select. */
    void ptxRun(Class<?> owner, String method, boolean specialized, Grid grid, Object... args) {
        Specialization fixed = specialized ? Specialization.of(owner, method, java.util.List.of(args)) : Specialization.NONE;
        if (specialized) assertTrue(!fixed.isEmpty(), method + " has @Specialize parameters");
        String ptx = PtxCompiler.compile(owner, method, TARGET, fixed).ptx();
        assertEquals(specialized, ptx.contains("// specialized: "), ptx.lines().limit(4).toList().toString());
        PtxInterpreter kernel = new PtxInterpreter(ptx);
        kernel.launch(grid, args);
        ran.put(method, kernel);
    }

    /** The interpreter of each kernel {@link #ptxRun} ran last, by method name. */
    final java.util.Map<String, PtxInterpreter> ran = new java.util.HashMap<>();

    /**
     * On the head dims of real models the decode attention kernels' shared-memory accesses take no extra wavefront
     * ({@link SharedBanks}): the warps' partial sums are written and added 16 bytes a lane ({@code store4}), where four
     * scalar accesses 16 bytes apart put lanes c and c + 8 in one bank (2-way at head_dim 64, 4-way at 128); the staged
     * kernel over a BF16 cache keeps a 2-way store of its partial sums (up to 7 % of its wavefronts at head_dim 128).
     */
    @Test
    void decodeAttentionSharedAccessesDoNotConflict() {
        for (int[] c : new int[][] {{64, dev.moa.tasks.kernels.KvStore.F32}, {64, dev.moa.tasks.kernels.KvStore.BF16}, {128, dev.moa.tasks.kernels.KvStore.BF16}}) {
            ran.clear();
            moaDecodeAttention(c[0], c[1], true);
            for (String kernel : new String[] {"decodeSplit", "decodeGrouped", "decodeStaged"}) {
                PtxInterpreter k = ran.get(kernel);
                String what = kernel + " at head_dim " + c[0] + ":\n" + k.bankConflicts();
                System.out.printf("%s, head_dim %d, format %d: %d shared wavefronts, %d ideal%n", kernel, c[0], c[1], k.sharedWavefronts(), k.sharedIdealWavefronts());
                if (kernel.equals("decodeStaged") && c[1] == dev.moa.tasks.kernels.KvStore.BF16) {
                    // a BF16 chunk's eight sums go out as two fours 32 bytes apart a lane: 2-way, once a split per four heads
                    assertTrue(k.sharedWavefronts() <= 1.07 * k.sharedIdealWavefronts(), what);
                } else {
                    assertEquals(k.sharedIdealWavefronts(), k.sharedWavefronts(), what);
                }
            }
            assertTrue(ran.containsKey("decodeGrouped") && ran.containsKey("decodeStaged"), ran.keySet().toString());
        }
    }

    void moaDecodeAttention(int headDim, int format, boolean specialized) {
        boolean bf16 = format == dev.moa.tasks.kernels.KvStore.BF16;
        int heads = 4, kvHeads = 2, position = 400, half = headDim / 2;
        // groups of 64 sink + 128 and 64 sink + 256 ring slots
        I32Buffer offsets = I32Buffer.of(arena, 0, 192), rings = I32Buffer.of(arena, 128, 256);
        int sinkSlots = 64;
        I32Buffer sinkSlotsOf = I32Buffer.of(arena, sinkSlots);
        I32Buffer sink = I32Buffer.of(arena, 64, 64, 64, 64), local = I32Buffer.of(arena, 128, 64, 256, 192);
        F32Buffer keys = randomBuffer(512 * headDim), values = randomBuffer(512 * headDim);
        Half16Buffer keys16 = bf16 ? bf16Of(keys) : Half16Buffer.allocate(arena, 8), values16 = bf16 ? bf16Of(values) : Half16Buffer.allocate(arena, 8);
        Half16Buffer keys16b = copy(keys16), values16b = copy(values16);
        I32Buffer positions = I32Buffer.allocate(arena, 512);
        for (int s = 0; s < 512; s++) positions.set(s, random.nextInt(10) == 0 ? -1 : random.nextInt(position));
        F32Buffer cos = randomBuffer((position + 3) * half), sin = randomBuffer((position + 3) * half); // a table per position
        F32Buffer q1 = randomBuffer((heads + 2 * kvHeads) * headDim), q2 = copy(q1); // fused q, k, v
        I32Buffer step = I32Buffer.of(arena, 7, position);
        F32Buffer keys2 = copy(keys), values2 = copy(values);
        I32Buffer positions2 = I32Buffer.allocate(arena, 512);
        for (int s = 0; s < 512; s++) positions2.set(s, positions.get(s));
        Grid ropeGrid = Grid.of(heads + kvHeads, dev.moa.tasks.kernels.AttentionKernels.GROUP);
        Emulator.launch(dev.moa.tasks.kernels.AttentionKernels.class, "ropeAndCache", ropeGrid, q1, cos, sin, keys, values, keys16, values16,
                positions, offsets, rings, step, sinkSlotsOf, heads, kvHeads, headDim, format);
        ptxRun(dev.moa.tasks.kernels.AttentionKernels.class, "ropeAndCache", specialized, ropeGrid, q2.memory(), cos.memory(), sin.memory(),
                keys2.memory(), values2.memory(), keys16b.memory(), values16b.memory(), positions2.memory(), offsets.memory(), rings.memory(),
                step.memory(), sinkSlotsOf.memory(), heads, kvHeads, headDim, format);
        assertClose(positions, positions2);
        assertClose(q1, q2, 1e-6);
        assertClose(keys, keys2, 1e-6);
        assertClose(values, values2, 0);
        assertSame(values16, values16b);
        assertWithinABf16Step(keys16, keys16b); // rotated keys: the two sides' F32 may differ in the last bit

        int splits = 2;
        F32Buffer[] partial = {F32Buffer.allocate(arena, heads * splits * headDim), F32Buffer.allocate(arena, heads * splits),
                F32Buffer.allocate(arena, heads * splits), F32Buffer.allocate(arena, heads * splits * headDim),
                F32Buffer.allocate(arena, heads * splits), F32Buffer.allocate(arena, heads * splits)};
        Grid splitGrid = Grid.of(heads, splits, dev.moa.tasks.kernels.AttentionKernels.GROUP);
        float scale = 0.3f;
        Emulator.launch(dev.moa.tasks.kernels.AttentionKernels.class, "decodeSplit", splitGrid, q1, keys, values, keys16, values16, positions,
                offsets, rings, sink, local, partial[0], partial[1], partial[2], step, sinkSlotsOf, heads, kvHeads, headDim, scale, format);
        ptxRun(dev.moa.tasks.kernels.AttentionKernels.class, "decodeSplit", specialized, splitGrid, q2.memory(), keys2.memory(),
                values2.memory(), keys16b.memory(), values16b.memory(), positions2.memory(), offsets.memory(), rings.memory(), sink.memory(),
                local.memory(), partial[3].memory(), partial[4].memory(), partial[5].memory(), step.memory(), sinkSlotsOf.memory(), heads, kvHeads,
                headDim, scale, format);
        assertClose(partial[1], partial[4], 1e-5);
        assertClose(partial[2], partial[5], 1e-4);
        assertClose(partial[0], partial[3], 1e-4);

        F32Buffer out1 = F32Buffer.allocate(arena, heads * headDim), out2 = F32Buffer.allocate(arena, heads * headDim);
        Grid combineGrid = Grid.of(heads, dev.moa.tasks.kernels.AttentionKernels.GROUP);
        Emulator.launch(dev.moa.tasks.kernels.AttentionKernels.class, "combine", combineGrid, partial[0], partial[1], partial[2], out1, splits, headDim);
        ptxRun(dev.moa.tasks.kernels.AttentionKernels.class, "combine", specialized, combineGrid, partial[3].memory(), partial[4].memory(),
                partial[5].memory(), out2.memory(), splits, headDim);
        assertClose(out1, out2, 1e-4);

        // the grouped kernel: all query heads of a KV group at once, in smaller splits; PTX against the emulator,
        // and after the combine the same attention as the per-head kernel's
        int groupedSplits = dev.moa.tasks.kernels.AttentionKernels.splits(320, true);
        F32Buffer[] grouped = {F32Buffer.allocate(arena, heads * groupedSplits * headDim), F32Buffer.allocate(arena, heads * groupedSplits),
                F32Buffer.allocate(arena, heads * groupedSplits), F32Buffer.allocate(arena, heads * groupedSplits * headDim),
                F32Buffer.allocate(arena, heads * groupedSplits), F32Buffer.allocate(arena, heads * groupedSplits)};
        Grid groupedGrid = Grid.of(kvHeads, groupedSplits, dev.moa.tasks.kernels.AttentionKernels.GROUPED);
        I32Buffer arrivals1 = I32Buffer.allocate(arena, kvHeads), arrivals2 = I32Buffer.allocate(arena, kvHeads);
        F32Buffer out3 = F32Buffer.allocate(arena, heads * headDim), out4 = F32Buffer.allocate(arena, heads * headDim);
        Emulator.launch(dev.moa.tasks.kernels.AttentionKernels.class, "decodeGrouped", groupedGrid, q1, keys, values, keys16, values16, positions,
                offsets, rings, sink, local, grouped[0], grouped[1], grouped[2], arrivals1, out3, step, sinkSlotsOf, heads, kvHeads, headDim, scale, format);
        ptxRun(dev.moa.tasks.kernels.AttentionKernels.class, "decodeGrouped", specialized, groupedGrid, q2.memory(), keys2.memory(),
                values2.memory(), keys16b.memory(), values16b.memory(), positions2.memory(), offsets.memory(), rings.memory(), sink.memory(),
                local.memory(), grouped[3].memory(), grouped[4].memory(), grouped[5].memory(), arrivals2.memory(), out4.memory(), step.memory(),
                sinkSlotsOf.memory(), heads, kvHeads, headDim, scale, format);
        assertClose(grouped[1], grouped[4], 1e-5);
        assertClose(grouped[2], grouped[5], 1e-4);
        assertClose(grouped[0], grouped[3], 1e-4);
        // the last split merged the group's splits: the per-head kernel's attention after its combine; counters reset
        assertClose(out1, out3, 1e-4);
        assertClose(out3, out4, 1e-5);
        assertClose(arrivals1, I32Buffer.allocate(arena, kvHeads));
        assertClose(arrivals2, I32Buffer.allocate(arena, kvHeads));
        if (!dev.moa.tasks.kernels.AttentionKernels.staged(headDim, format)) return;

        // the grouped kernel with its keys and values staged in shared memory by cp.async: the same statistics, partial
        // outputs and attention (the same sums, in another order), PTX against the emulator
        Grid stagedGrid = groupedGrid.withSharedBytes(dev.moa.tasks.kernels.AttentionKernels.stagedSharedBytes(heads / kvHeads, headDim, format));
        F32Buffer[] staged = {F32Buffer.allocate(arena, heads * groupedSplits * headDim), F32Buffer.allocate(arena, heads * groupedSplits),
                F32Buffer.allocate(arena, heads * groupedSplits), F32Buffer.allocate(arena, heads * groupedSplits * headDim),
                F32Buffer.allocate(arena, heads * groupedSplits), F32Buffer.allocate(arena, heads * groupedSplits)};
        F32Buffer out5 = F32Buffer.allocate(arena, heads * headDim), out6 = F32Buffer.allocate(arena, heads * headDim);
        Emulator.launch(dev.moa.tasks.kernels.AttentionKernels.class, "decodeStaged", stagedGrid, q1, keys, values, keys16, values16, positions,
                offsets, rings, sink, local, staged[0], staged[1], staged[2], arrivals1, out5, step, sinkSlotsOf, heads, kvHeads, headDim, scale, format);
        ptxRun(dev.moa.tasks.kernels.AttentionKernels.class, "decodeStaged", specialized, stagedGrid, q2.memory(), keys2.memory(),
                values2.memory(), keys16b.memory(), values16b.memory(), positions2.memory(), offsets.memory(), rings.memory(), sink.memory(),
                local.memory(), staged[3].memory(), staged[4].memory(), staged[5].memory(), arrivals2.memory(), out6.memory(), step.memory(),
                sinkSlotsOf.memory(), heads, kvHeads, headDim, scale, format);
        for (int i = 0; i < 3; i++) {
            assertClose(grouped[i], staged[i], 1e-4);
            assertClose(staged[i], staged[i + 3], 1e-5);
        }
        assertClose(out3, out5, 1e-5);
        assertClose(out5, out6, 1e-5);
        assertClose(arrivals2, I32Buffer.allocate(arena, kvHeads));
        // both kernels' output written as the output projection's two BF16 parts (a batched tensor-core step's): they
        // sum to the float output (two parts hold about 16 bits)
        for (String kernel : new String[] {"decodeGroupedParts", "decodeStagedParts"}) {
            Half16Buffer high = Half16Buffer.allocate(arena, heads * headDim), low = Half16Buffer.allocate(arena, heads * headDim);
            ptxRun(dev.moa.tasks.kernels.AttentionKernels.class, kernel, specialized, kernel.startsWith("decodeStaged") ? stagedGrid : groupedGrid,
                    q2.memory(), keys2.memory(), values2.memory(), keys16b.memory(), values16b.memory(), positions2.memory(), offsets.memory(),
                    rings.memory(), sink.memory(), local.memory(), staged[3].memory(), staged[4].memory(), staged[5].memory(), arrivals2.memory(),
                    high.memory(), low.memory(), step.memory(), sinkSlotsOf.memory(), heads, kvHeads, headDim, scale, format);
            for (int i = 0; i < heads * headDim; i++) {
                float sum = dev.moa.tasks.kernel.KernelContext.bf16ToFloat(high.get(i)) + dev.moa.tasks.kernel.KernelContext.bf16ToFloat(low.get(i));
                assertEquals(out5.get(i), sum, 4e-5 * Math.abs(out5.get(i)) + 1e-5, kernel + ", parts of output " + i);
            }
            assertClose(arrivals2, I32Buffer.allocate(arena, kvHeads));
        }
    }

    /** Rounds each float to BF16 and to F16 (the KV cache's storage formats). One work-item per element. */
    static void narrow(dev.moa.tasks.kernel.KernelContext ctx, F32Buffer x, Half16Buffer bf, Half16Buffer half, int n) {
        int i = ctx.globalId();
        if (i < n) {
            bf.set(i, dev.moa.tasks.kernel.KernelContext.floatToBf16(x.get(i)));
            half.set(i, dev.moa.tasks.kernel.KernelContext.floatToF16(x.get(i)));
        }
    }

    static void packPairs(dev.moa.tasks.kernel.KernelContext ctx, F32Buffer x, I32Buffer packed, int n) {
        int i = ctx.globalId();
        if (2 * i + 1 < n) packed.set(i, dev.moa.tasks.kernel.KernelContext.packBf16(x.get(2L * i), x.get(2L * i + 1)));
    }

    static void exponentsOfTwo(dev.moa.tasks.kernel.KernelContext ctx, F32Buffer x, F32Buffer y, int n) {
        int i = ctx.globalId();
        if (i < n) y.set(i, dev.moa.tasks.kernel.KernelContext.exp2(x.get(i)));
    }

    /**
     * exp2 is one ex2.approx.ftz (no multiplication by log2(e) as Math.exp has, no subnormal handling): 2^x, and 0
     * where that is below the smallest normal float, in the emulator and the PTX alike.
     */
    @Test
    void exp2IsOneFlushingEx2() {
        int n = 1024;
        F32Buffer x = F32Buffer.allocate(arena, n);
        for (int i = 0; i < n; i++) x.set(i, (float) (random.nextDouble() * 300 - 150));
        float[] edges = {0f, -0f, 1f, -1f, -126f, -126.5f, -127f, -149f, -150f, Float.NEGATIVE_INFINITY, 127.9f};
        for (int i = 0; i < edges.length; i++) x.set(i, edges[i]);
        F32Buffer y1 = F32Buffer.allocate(arena, n), y2 = F32Buffer.allocate(arena, n);
        Emulator.launch(TranslationFidelityTest.class, "exponentsOfTwo", Grid.covering(n, 128), x, y1, n);
        ptx(TranslationFidelityTest.class, "exponentsOfTwo").launch(Grid.covering(n, 128), x.memory(), y2.memory(), n);
        for (int i = 0; i < n; i++) {
            double exact = Math.pow(2, x.get(i));
            float expected = exact < Float.MIN_NORMAL ? 0f : (float) exact;
            assertEquals(expected, y1.get(i), "2^" + x.get(i));
            assertEquals(expected, y2.get(i), "PTX 2^" + x.get(i));
        }
        String ptx = PtxCompiler.compile(TranslationFidelityTest.class, "exponentsOfTwo").ptx();
        assertEquals(1, ptx.split("ex2\\.approx\\.ftz\\.f32", -1).length - 1, ptx);
        assertFalse(ptx.contains("mul.f32"), ptx);
    }

    /** packBf16 (one cvt.rn.bf16x2 on the GPU): the two roundings of floatToBf16, the first in the low half. */
    @Test
    void packedBf16PairsAreTwoRoundingsInOneWord() {
        int n = 2048;
        F32Buffer x = randomBuffer(n);
        for (int i = 0; i < n; i += 16) x.set(i, Float.intBitsToFloat((Float.floatToRawIntBits(x.get(i)) & 0xFFFF0000) | 0x8000)); // ties
        x.set(1, Float.NaN);
        x.set(2, Float.NEGATIVE_INFINITY);
        I32Buffer p1 = I32Buffer.allocate(arena, n / 2), p2 = I32Buffer.allocate(arena, n / 2);
        Emulator.launch(TranslationFidelityTest.class, "packPairs", Grid.covering(n / 2, 128), x, p1, n);
        ptx(TranslationFidelityTest.class, "packPairs").launch(Grid.covering(n / 2, 128), x.memory(), p2.memory(), n);
        for (int i = 0; i < n / 2; i++) {
            int expected = (dev.moa.tasks.kernel.KernelContext.floatToBf16(x.get(2L * i)) & 0xFFFF)
                    | (dev.moa.tasks.kernel.KernelContext.floatToBf16(x.get(2L * i + 1)) << 16);
            assertEquals(expected, p1.get(i), "pair " + i);
        }
        assertClose(p1, p2);
    }

    @Test
    void roundingToSixteenBitsMatchesAnIndependentRoundingAndThePtx() throws Exception {
        int n = 4096;
        F32Buffer x = F32Buffer.allocate(arena, n);
        for (int i = 0; i < n; i++) {
            float v = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(9) - 4));
            // every eighth value sits exactly halfway between two BF16 neighbours
            if (i % 8 == 0) v = Float.intBitsToFloat((Float.floatToRawIntBits(v) & 0xFFFF0000) | 0x8000);
            x.set(i, v);
        }
        Half16Buffer bf1 = Half16Buffer.allocate(arena, n), h1 = Half16Buffer.allocate(arena, n);
        Half16Buffer bf2 = Half16Buffer.allocate(arena, n), h2 = Half16Buffer.allocate(arena, n);
        Emulator.launch(TranslationFidelityTest.class, "narrow", Grid.covering(n, 256), x, bf1, h1, n);
        ptx(TranslationFidelityTest.class, "narrow").launch(Grid.covering(n, 256), x.memory(), bf2.memory(), h2.memory(), n);
        for (int i = 0; i < n; i++) {
            float v = x.get(i);
            int bits = Float.floatToRawIntBits(v), down = bits & 0xFFFF0000, up = down + 0x10000;
            double dDown = Math.abs((double) Float.intBitsToFloat(down) - v), dUp = Math.abs((double) Float.intBitsToFloat(up) - v);
            int nearest = dDown < dUp ? down : dUp < dDown ? up : ((down >>> 16) & 1) == 0 ? down : up;
            assertEquals((short) (nearest >>> 16), bf1.get(i), "bf16 of " + v);
            assertEquals(bf1.get(i), bf2.get(i), "PTX bf16 of " + v);
            assertEquals(Float.floatToFloat16(v), h1.get(i), "f16 of " + v);
            assertEquals(h1.get(i), h2.get(i), "PTX f16 of " + v);
        }
        Ptxas.Report r = Ptxas.available() ? Ptxas.assemble(PtxCompiler.compile(TranslationFidelityTest.class, "narrow", "sm_90").ptx(),
                "sm_90", java.nio.file.Files.createTempDirectory("narrow")) : null;
        if (r != null) assertEquals(0, r.spillStores() + r.spillLoads());
    }

    /** int8 weights times a per-row scale, and the rounded-back int8 (saturating) of the result. */
    static void dequantize(dev.moa.tasks.kernel.KernelContext ctx, dev.moa.tasks.kernel.I8Buffer q, F32Buffer scale,
                           F32Buffer out, dev.moa.tasks.kernel.I8Buffer requantized, int cols, int n) {
        int i = ctx.globalId();
        if (i < n) {
            float v = q.get(i) * scale.get(i / cols);
            out.set(i, v);
            int r = (int) (v / scale.get(i / cols) * 0.5f);
            requantized.set(i, (byte) Math.max(-128, Math.min(127, r)));
        }
    }

    @Test
    void int8Buffers() {
        int cols = 37, n = cols * 9;
        var q = dev.moa.tasks.kernel.I8Buffer.allocate(arena, n);
        for (int i = 0; i < n; i++) q.set(i, (byte) (random.nextInt(256) - 128));
        F32Buffer scale = randomBuffer(9), o1 = F32Buffer.allocate(arena, n), o2 = F32Buffer.allocate(arena, n);
        var r1 = dev.moa.tasks.kernel.I8Buffer.allocate(arena, n);
        var r2 = dev.moa.tasks.kernel.I8Buffer.allocate(arena, n);
        Emulator.launch(TranslationFidelityTest.class, "dequantize", Grid.covering(n, 64), q, scale, o1, r1, cols, n);
        ptx(TranslationFidelityTest.class, "dequantize").launch(Grid.covering(n, 64), q.memory(), scale.memory(), o2.memory(),
                r2.memory(), cols, n);
        for (int i = 0; i < n; i++) {
            assertEquals(q.get(i) * scale.get(i / cols), o1.get(i), 0f);
            assertEquals(o1.get(i), o2.get(i), 0f);
            assertEquals(r1.get(i), r2.get(i), "requantized " + i);
        }
    }

    /**
     * Every loop shape {@code unroll} accepts: a variable limit with a stride, {@code <=} against a computed local,
     * a {@code break}, a constant limit, and an unrolled loop inside an unrolled loop. Each thread also gets its own
     * trip counts, so every remainder (0 to n-1 iterations after the unrolled copies) is exercised.
     */
    static void unrolled(dev.moa.tasks.kernel.KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        int t = ctx.globalId();
        if (t < n) {
            float strided = 0f;
            dev.moa.tasks.kernel.KernelContext.unroll(4);
            for (int i = t; i < n; i += 3) strided += x.get(i);
            float inclusive = 0f;
            int last = t % 11;
            dev.moa.tasks.kernel.KernelContext.unroll(3);
            for (int i = 0; i <= last; i++) inclusive += x.get(i) * 2f;
            float untilLarge = 0f;
            dev.moa.tasks.kernel.KernelContext.unroll(4);
            for (int i = t; i < n; i++) {
                if (x.get(i) > 1.5f) break;
                untilLarge += x.get(i);
            }
            float nested = 0f;
            dev.moa.tasks.kernel.KernelContext.unroll(2);
            for (int r = 0; r < 5; r++) {
                dev.moa.tasks.kernel.KernelContext.unroll(4);
                for (int c = r + t; c < n; c += 7) nested += x.get(c) * r;
            }
            out.set(4L * t, strided);
            out.set(4L * t + 1, inclusive);
            out.set(4L * t + 2, untilLarge);
            out.set(4L * t + 3, nested);
        }
    }

    static void unrolledOnce(dev.moa.tasks.kernel.KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        float sum = 0f;
        dev.moa.tasks.kernel.KernelContext.unroll(4);
        for (int i = ctx.globalId(); i < n; i += 5) sum += x.get(i);
        out.set(ctx.globalId(), sum);
    }

    static void constantTrips(dev.moa.tasks.kernel.KernelContext ctx, F32Buffer x, F32Buffer out, int n) {
        float sum = 0f;
        dev.moa.tasks.kernel.KernelContext.unroll(4);
        for (int i = 1; i <= 7; i += 2) sum += x.get(i) * i; // four iterations, all known
        out.set(ctx.globalId(), sum);
    }

    /** A loop whose trip count is a constant within the unroll factor becomes straight-line copies: no loop left. */
    @Test
    void loopsWithKnownTripCountsUnrollCompletely() {
        F32Buffer x = randomBuffer(8), o1 = F32Buffer.allocate(arena, 1), o2 = F32Buffer.allocate(arena, 1);
        Emulator.launch(TranslationFidelityTest.class, "constantTrips", Grid.of(1, 1), x, o1, 8);
        String ptx = PtxCompiler.compile(TranslationFidelityTest.class, "constantTrips").ptx();
        new PtxInterpreter(ptx).launch(Grid.of(1, 1), x.memory(), o2.memory(), 8);
        assertClose(o1, o2, 0);
        assertEquals(x.get(1) + 3 * x.get(3) + 5 * x.get(5) + 7 * x.get(7), o1.get(0), 1e-5);
        assertEquals(4, ptx.split("ld\\.global\\.nc\\.f32", -1).length - 1, "four copies and no loop body left to load:\n" + ptx);
    }

    @Test
    void unrolledLoopsComputeWhatTheLoopsCompute() {
        for (int n : new int[] {1, 2, 3, 5, 8, 13, 40 + random.nextInt(30)}) {
            F32Buffer x = randomBuffer(n), o1 = F32Buffer.allocate(arena, 4L * n), o2 = F32Buffer.allocate(arena, 4L * n);
            Emulator.launch(TranslationFidelityTest.class, "unrolled", Grid.covering(n, 32), x, o1, n);
            ptx(TranslationFidelityTest.class, "unrolled").launch(Grid.covering(n, 32), x.memory(), o2.memory(), n);
            assertClose(o1, o2, 1e-6);
            float expected = 0f; // thread 0's strided sum, written out as plain Java
            for (int i = 0; i < n; i += 3) expected += x.get(i);
            assertEquals(expected, o1.get(0), 1e-5f * Math.max(1f, Math.abs(expected)));
        }
        // four copies of the body plus the loop for the remainder: five loads where the plain loop has one, and one
        // more in the narrow copy of the loop kept for limits near Integer.MAX_VALUE (widenedLoopCounters...)
        String ptx = PtxCompiler.compile(TranslationFidelityTest.class, "unrolledOnce").ptx();
        assertEquals(6, ptx.split("ld\\.global\\.nc\\.f32", -1).length - 1, ptx);
    }

    /**
     * Records a loop's int counter and {@code (long) (i + 3)} for up to eight iterations: with {@code limit} at
     * {@code Integer.MAX_VALUE} the counter wraps negative (Java goes on; so must the PTX), below it nothing wraps.
     */
    static void wideCounter(dev.moa.tasks.kernel.KernelContext ctx, I32Buffer out, int start, int limit) {
        int n = 0;
        for (int i = start; i < limit; i += 4) {
            out.set(n, i);
            out.set(n + 8, (int) ((long) (i + 3) >> 1));
            n++;
            if (n == 8) break;
        }
        out.set(16, n);
    }

    /**
     * A loop counter kept in 64 bits (so addresses become pointer increments) computes Java's int results: the
     * widened copy where no step can overflow, the narrow copy where the limit is within a step of
     * {@code Integer.MAX_VALUE}. Without the test that picks the narrow copy, the wrapping case differs.
     */
    @Test
    void widenedLoopCountersKeepJavaIntSemantics() {
        String ptx = PtxCompiler.compile(TranslationFidelityTest.class, "wideCounter").ptx();
        String guard = "setp.gt.s32 %t0, %k0_iL3, " + (Integer.MAX_VALUE - 3) + ";";
        assertTrue(ptx.contains(guard), ptx);
        for (int[] range : new int[][] {{5, 30}, {-7, 9}, {Integer.MAX_VALUE - 9, Integer.MAX_VALUE}, {Integer.MAX_VALUE - 13, Integer.MAX_VALUE - 3}}) {
            I32Buffer o1 = I32Buffer.allocate(arena, 17), o2 = I32Buffer.allocate(arena, 17), o3 = I32Buffer.allocate(arena, 17);
            Emulator.launch(TranslationFidelityTest.class, "wideCounter", Grid.of(1, 1), o1, range[0], range[1]);
            new PtxInterpreter(ptx).launch(Grid.of(1, 1), o2.memory(), range[0], range[1]);
            assertClose(o1, o2);
            if (range[1] == Integer.MAX_VALUE) {
                assertTrue(o1.get(3) < 0 && o1.get(8 + 2) < 0 && o1.get(16) == 8, "the counter wraps in Java");
                new PtxInterpreter(ptx.replace(guard, "setp.gt.s32 %t0, %k0_iL3, 2147483647;")).launch(Grid.of(1, 1), o3.memory(), range[0], range[1]);
                boolean same = true;
                for (int i = 0; i < 17; i++) same &= o1.get(i) == o3.get(i);
                assertTrue(!same, "always taking the widened copy must be caught");
            }
        }
    }

    /** Divisions and remainders by powers of two (and by a negative one), of any int and of thread indices. */
    static void powersOfTwo(dev.moa.tasks.kernel.KernelContext ctx, I32Buffer in, I32Buffer out, int n) {
        int t = ctx.globalId();
        if (t < n) {
            int x = in.get(t);
            out.set(6L * t, x / 32);
            out.set(6L * t + 1, x % 8);
            out.set(6L * t + 2, x / 2);
            out.set(6L * t + 3, x % 1073741824);
            out.set(6L * t + 4, ctx.localId() / 32 + ctx.localId() % 4 * 1000);
            out.set(6L * t + 5, x / -4);
        }
    }

    /** Java's truncating division survives the shifts that replace it, for negative numbers and the extremes too. */
    @Test
    void divisionsByPowersOfTwoTruncateTowardZero() {
        int[] xs = {Integer.MIN_VALUE, Integer.MIN_VALUE + 1, -33, -32, -31, -9, -8, -7, -2, -1, 0, 1, 7, 8, 9, 31, 32, 33,
                Integer.MAX_VALUE - 1, Integer.MAX_VALUE, 1 << 30, -(1 << 30), random.nextInt(), random.nextInt()};
        int n = xs.length;
        I32Buffer in = I32Buffer.of(arena, xs), o1 = I32Buffer.allocate(arena, 6L * n), o2 = I32Buffer.allocate(arena, 6L * n);
        Emulator.launch(TranslationFidelityTest.class, "powersOfTwo", Grid.covering(n, 64), in, o1, n);
        String ptx = PtxCompiler.compile(TranslationFidelityTest.class, "powersOfTwo").ptx();
        new PtxInterpreter(ptx).launch(Grid.covering(n, 64), in.memory(), o2.memory(), n);
        assertClose(o1, o2);
        for (int t = 0; t < n; t++) {
            assertEquals(xs[t] / 32, o2.get(6L * t), "x / 32 of " + xs[t]);
            assertEquals(xs[t] % 8, o2.get(6L * t + 1), "x % 8 of " + xs[t]);
            assertEquals(xs[t] % 1073741824, o2.get(6L * t + 3), "x % 2^30 of " + xs[t]);
            assertEquals(t / 32 + t % 4 * 1000, o2.get(6L * t + 4));
        }
        for (int t = 0; t < n; t++) assertEquals(xs[t] / -4, o2.get(6L * t + 5), "x / -4 of " + xs[t]);
        assertTrue(ptx.contains("shr.s32") && !ptx.contains("div.") && !ptx.contains("rem."), "no division left (-4 too):\n" + ptx);
    }

    static void warpReductions(dev.moa.tasks.kernel.KernelContext ctx, F32Buffer in, F32Buffer out, int n) {
        int t = ctx.globalId();
        float v = in.get(t);
        float sum = ctx.warpSum(v), max = ctx.warpMax(v);
        out.set(t, sum);
        out.set(n + t, max);
    }

    /** KernelContext's warp sum and maximum: every lane of each warp gets its warp's, in the emulator and as PTX. */
    @Test
    void warpReductionsGiveEveryLaneItsWarpsResult() {
        int n = 96;
        F32Buffer in = randomBuffer(n), o1 = F32Buffer.allocate(arena, 2L * n), o2 = F32Buffer.allocate(arena, 2L * n);
        Emulator.launch(TranslationFidelityTest.class, "warpReductions", Grid.of(1, n), in, o1, n);
        ptx(TranslationFidelityTest.class, "warpReductions").launch(Grid.of(1, n), in.memory(), o2.memory(), n);
        assertClose(o1, o2, 0);
        for (int t = 0; t < n; t++) {
            double sum = 0;
            float max = Float.NEGATIVE_INFINITY;
            for (int lane = t / 32 * 32; lane < t / 32 * 32 + 32; lane++) {
                sum += in.get(lane);
                max = Math.max(max, in.get(lane));
            }
            assertEquals(sum, o1.get(t), 1e-5, "sum, lane " + t);
            assertEquals(max, o1.get(n + t), "max, lane " + t);
        }
    }

    /** Four 8×8 matrices in shared memory, rows 8 words apart and matrices 64 apart; one warp loads them as fragments. */
    static void matrixLoad(dev.moa.tasks.kernel.KernelContext ctx, I32Buffer out) {
        int[] s = ctx.sharedI32(256);
        int lane = ctx.laneId();
        for (int i = lane; i < 256; i += 32) s[i] = i / 64 * 1000 + i % 64 / 8 * 10 + i % 8; // matrix, row, word
        ctx.barrier();
        dev.moa.tasks.kernel.Vec16 v = ctx.loadMatrix(s, lane / 8 * 64 + lane % 8 * 8);
        out.set(4L * lane, v.word(0));
        out.set(4L * lane + 1, v.word(1));
        out.set(4L * lane + 2, v.word(2));
        out.set(4L * lane + 3, v.word(3));
    }

    /** ldmatrix: lane l's word j is word l % 4 of row l / 4 of matrix j, in the emulator and as PTX. */
    @Test
    void matrixLoadsHandEachLaneItsFragmentWords() {
        I32Buffer o1 = I32Buffer.allocate(arena, 128), o2 = I32Buffer.allocate(arena, 128);
        Emulator.launch(TranslationFidelityTest.class, "matrixLoad", Grid.of(1, 32), o1);
        ptx(TranslationFidelityTest.class, "matrixLoad").launch(Grid.of(1, 32), o2.memory());
        for (int lane = 0; lane < 32; lane++) {
            for (int j = 0; j < 4; j++) assertEquals(j * 1000 + lane / 4 * 10 + lane % 4, o1.get(4L * lane + j), "lane " + lane + " word " + j);
        }
        assertClose(o1, o2);
    }

    /** The 16-bit element of matrix m, row r, column c in {@link #transposedMatrixLoad}: all distinct. */
    static int element(int m, int r, int c) {
        return m * 256 + r * 16 + c;
    }

    /** Four 8×8 matrices of 16-bit elements, rows 8 words apart and matrices 64 apart; one warp loads them transposed. */
    static void transposedMatrixLoad(dev.moa.tasks.kernel.KernelContext ctx, I32Buffer out) {
        int[] s = ctx.sharedI32(256);
        int lane = ctx.laneId();
        for (int i = lane; i < 256; i += 32) {
            int m = i / 64, r = i % 64 / 8, w = i % 8;
            s[i] = w < 4 ? element(m, r, 2 * w) | element(m, r, 2 * w + 1) << 16 : -1; // (words 4..7 of a row: not read)
        }
        ctx.barrier();
        dev.moa.tasks.kernel.Vec16 v = ctx.loadMatrixTransposed(s, lane / 8 * 64 + lane % 8 * 8);
        for (int j = 0; j < 4; j++) out.set(4L * lane + j, v.word(j));
    }

    /** ldmatrix .trans: lane l's word j holds column l / 4 of rows 2(l % 4) and 2(l % 4) + 1 of matrix j, in the emulator and as PTX. */
    @Test
    void transposedMatrixLoadsHandEachLaneAColumnPair() {
        I32Buffer o1 = I32Buffer.allocate(arena, 128), o2 = I32Buffer.allocate(arena, 128);
        Emulator.launch(TranslationFidelityTest.class, "transposedMatrixLoad", Grid.of(1, 32), o1);
        String ptx = PtxCompiler.compile(TranslationFidelityTest.class, "transposedMatrixLoad", TARGET).ptx();
        assertTrue(ptx.contains("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"), ptx);
        new PtxInterpreter(ptx).launch(Grid.of(1, 32), o2.memory());
        for (int lane = 0; lane < 32; lane++) {
            for (int j = 0; j < 4; j++) {
                int expected = element(j, 2 * (lane % 4), lane / 4) | element(j, 2 * (lane % 4) + 1, lane / 4) << 16;
                assertEquals(expected, o1.get(4L * lane + j), "lane " + lane + " word " + j);
            }
        }
        assertClose(o1, o2);
    }

    /** Each work-item copies two 16-byte pieces in two groups and looks at the words before and after each wait. */
    static void asyncCopies(dev.moa.tasks.kernel.KernelContext ctx, Half16Buffer source, I32Buffer out) {
        int[] s = ctx.sharedI32(256);
        int t = ctx.localId();
        ctx.copyAsync(s, 4 * t, source, 8L * t);
        ctx.commitCopies();
        ctx.copyAsync(s, 128 + 4 * t, source, 256 + 8L * t);
        ctx.commitCopies();
        int early = s[4 * t];
        ctx.waitCopies(1); // the older group is done; the newer may still fly
        int first = s[4 * t + 1], secondEarly = s[128 + 4 * t + 1];
        ctx.waitCopies(0);
        int second = s[128 + 4 * t + 3];
        out.set(4L * t, early);
        out.set(4L * t + 1, first);
        out.set(4L * t + 2, secondEarly);
        out.set(4L * t + 3, second);
    }

    /**
     * cp.async: a copy's words are there after the wait that covers its group, and not before (the emulator and the
     * interpreter copy at the wait, so a kernel reading too early is caught); waitCopies(1) leaves the newest group.
     */
    @Test
    void asynchronousCopiesLandAtTheWaitThatCoversThem() {
        Half16Buffer source = Half16Buffer.allocate(arena, 512);
        for (int i = 0; i < 512; i++) source.set(i, (short) (1 + i * 7));
        I32Buffer o1 = I32Buffer.allocate(arena, 128), o2 = I32Buffer.allocate(arena, 128);
        Emulator.launch(TranslationFidelityTest.class, "asyncCopies", Grid.of(1, 32), source, o1);
        ptx(TranslationFidelityTest.class, "asyncCopies").launch(Grid.of(1, 32), source.memory(), o2.memory());
        for (int t = 0; t < 32; t++) {
            int piece = 8 * t, later = 256 + 8 * t;
            assertEquals(-1, o1.get(4L * t), "nothing before a wait (the word as shared memory starts: every bit set)");
            assertEquals((source.get(piece + 2) & 0xFFFF) | (source.get(piece + 3) << 16), o1.get(4L * t + 1), "first group after waitCopies(1)");
            assertEquals(-1, o1.get(4L * t + 2), "the newest group not yet");
            assertEquals((source.get(later + 6) & 0xFFFF) | (source.get(later + 7) << 16), o1.get(4L * t + 3), "second group after waitCopies(0)");
        }
        assertClose(o1, o2);
        String ptx = PtxCompiler.compile(TranslationFidelityTest.class, "asyncCopies").ptx();
        assertTrue(ptx.contains("cp.async.cg.shared.global") && ptx.contains("cp.async.wait_group 1;"), ptx);
    }

    /**
     * Lane t copies 16 bytes of 16-bit elements and 16 bytes of floats from piece t, each only where t is even: odd
     * lanes' words come out zero (cp.async reading 0 bytes and filling), after the shared words held other values.
     */
    static void zeroFilledCopies(dev.moa.tasks.kernel.KernelContext ctx, Half16Buffer halves, F32Buffer floats, I32Buffer out) {
        int[] s = ctx.sharedI32(256);
        int t = ctx.localId();
        for (int k = 0; k < 8; k++) s[8 * t + k] = -1;
        ctx.copyAsync(s, 8 * t, halves, 8L * t, t % 2 == 0);
        ctx.copyAsync(s, 8 * t + 4, floats, 4L * t, t % 2 == 0);
        ctx.commitCopies();
        ctx.waitCopies(0);
        for (int k = 0; k < 8; k++) out.set(8L * t + k, s[8 * t + k]);
    }

    @Test
    void copiesOutsideAreZerosWithoutAReadOrABranch() throws Exception {
        Half16Buffer halves = Half16Buffer.allocate(arena, 256);
        for (int i = 0; i < 256; i++) halves.set(i, (short) (3 + i * 5));
        F32Buffer floats = randomBuffer(128);
        I32Buffer o1 = I32Buffer.allocate(arena, 256), o2 = I32Buffer.allocate(arena, 256);
        Emulator.launch(TranslationFidelityTest.class, "zeroFilledCopies", Grid.of(1, 32), halves, floats, o1);
        for (int t = 0; t < 32; t++) {
            for (int k = 0; k < 4; k++) {
                int copied = (halves.get(8 * t + 2 * k) & 0xFFFF) | (halves.get(8 * t + 2 * k + 1) << 16);
                assertEquals(t % 2 == 0 ? copied : 0, o1.get(8L * t + k), "lane " + t + " word " + k);
                assertEquals(t % 2 == 0 ? Float.floatToRawIntBits(floats.get(4L * t + k)) : 0, o1.get(8L * t + 4 + k), "lane " + t + " float " + k);
            }
        }
        String ptx = PtxCompiler.compile(TranslationFidelityTest.class, "zeroFilledCopies", TARGET).ptx();
        new PtxInterpreter(ptx).launch(Grid.of(1, 32), halves.memory(), floats.memory(), o2.memory());
        assertClose(o1, o2);
        assertTrue(java.util.regex.Pattern.compile("cp\\.async\\.cg\\.shared\\.global \\[[^\\]]+\\], \\[[^\\]]+\\], 16, %").matcher(ptx).find(),
                "the source size travels as an operand:\n" + ptx);
        if (Ptxas.available()) assertEquals(0, Ptxas.assemble(ptx, TARGET, java.nio.file.Files.createTempDirectory("zfill")).spillStores());
    }

    /** Dynamic shared memory past 48 KB: the emulator and the PTX agree; a launch that gives too little is refused. */
    @Test
    void dynamicSharedMemoryIsSizedByTheLaunch() throws Exception {
        int n = 20_000; // 80 KB
        F32Buffer x = randomBuffer(n), o1 = F32Buffer.allocate(arena, n), o2 = F32Buffer.allocate(arena, n);
        Grid grid = Grid.of(1, 256).withSharedBytes(4 * n);
        Emulator.launch(SharedMemoryKernels.class, "dynamicShared", grid, x, o1, n);
        for (int i = 0; i < n; i++) assertEquals(2f * x.get(n - 1 - i) - i % 8, o1.get(i), "element " + i);
        String ptx = PtxCompiler.compile(SharedMemoryKernels.class, "dynamicShared").ptx();
        assertTrue(ptx.contains(".extern .shared .align 16 .b8 moa_dynamic[];"), ptx);
        new PtxInterpreter(ptx).launch(grid, x.memory(), o2.memory(), n);
        assertClose(o1, o2, 0);
        var refused = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class,
                () -> Emulator.launch(SharedMemoryKernels.class, "dynamicShared", Grid.of(1, 256), x, o1, n));
        assertTrue(String.valueOf(refused.getMessage()).contains("needs bytes 0..80000 of the dynamic shared memory; the launch gives 0"), String.valueOf(refused));
        if (Ptxas.available()) {
            Ptxas.Report r = Ptxas.assemble(PtxCompiler.compile(SharedMemoryKernels.class, "dynamicShared", "sm_90").ptx(), "sm_90",
                    java.nio.file.Files.createTempDirectory("dynamic"));
            assertEquals(0, r.spillStores() + r.spillLoads());
        }
    }

    /** Flipping one emitted instruction (add.f32 → sub.f32, or a loop condition inverted) is caught. */
    @Test
    void aWrongTranslationIsCaught() {
        int n = 300;
        F32Buffer a = randomBuffer(n), b = randomBuffer(n), c1 = F32Buffer.allocate(arena, n), c2 = F32Buffer.allocate(arena, n);
        Emulator.launch(VectorKernels.class, "add", Grid.covering(n, 128), a, b, c1, n);
        String good = PtxCompiler.compile(VectorKernels.class, "add").ptx();
        String broken = good.replace("add.f32", "sub.f32");
        assertNotEquals(good, broken);
        new PtxInterpreter(broken).launch(Grid.covering(n, 128), a.memory(), b.memory(), c2.memory(), n);
        assertTrue(differs(c1, c2), "sub instead of add must change the result");

        int rows = 1, dim = 333;
        F32Buffer x = randomBuffer(dim), w = randomBuffer(dim), o1 = F32Buffer.allocate(arena, dim), o2 = F32Buffer.allocate(arena, dim);
        Emulator.launch(VectorKernels.class, "rmsNorm", Grid.of(rows, VectorKernels.ROW_GROUP), x, w, o1, dim, 1e-5f);
        String norm = PtxCompiler.compile(VectorKernels.class, "rmsNorm").ptx();
        String inverted = norm.replaceFirst("setp\\.ge\\.s32", "setp.lt.s32");
        assertNotEquals(norm, inverted);
        new PtxInterpreter(inverted).launch(Grid.of(rows, VectorKernels.ROW_GROUP), x.memory(), w.memory(), o2.memory(), dim, 1e-5f);
        assertTrue(differs(o1, o2), "an inverted loop condition must change the result");
    }

    static boolean differs(F32Buffer a, F32Buffer b) {
        for (long i = 0; i < a.length(); i++) if (Math.abs(a.get(i) - b.get(i)) > 1e-4 * Math.max(1, Math.abs(a.get(i)))) return true;
        return false;
    }
}
