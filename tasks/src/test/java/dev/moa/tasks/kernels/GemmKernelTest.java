package dev.moa.tasks.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The prefill GEMM against a plain loop in doubles: odd and tile-sized shapes, both 16-bit formats, every epilogue. */
class GemmKernelTest {
    final Random random = new Random();
    final Arena arena = Arena.ofShared();

    @Test
    void tiledProductEqualsThePlainLoop() {
        // (tokens, rows, cols): one token; every edge ragged; exact tiles; 16-byte loads with a partial last step
        int[][] shapes = {{1, 5, 8}, {70, 37, 45}, {64, 64, 64}, {130, 100, 40}, {3, 129, 33}};
        for (int[] shape : shapes) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            for (int ieee = 0; ieee < 2; ieee++) {
                Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
                double[][] wv = new double[rows][cols];
                for (int r = 0; r < rows; r++) {
                    for (int c = 0; c < cols; c++) {
                        float v = (float) random.nextGaussian();
                        short bits = ieee != 0 ? KernelContext.floatToF16(v) : KernelContext.floatToBf16(v);
                        w.set((long) r * cols + c, bits);
                        wv[r][c] = ieee != 0 ? KernelContext.f16ToFloat(bits) : KernelContext.bf16ToFloat(bits);
                    }
                }
                F32Buffer x = random(tokens * cols), bias = random(rows);
                for (int epilogue = 0; epilogue < 4; epilogue++) {
                    F32Buffer out = random(tokens * rows + 5);
                    float[] before = out.toArray();
                    Emulator.launch(GemmKernels.class, "half", GemmKernels.grid(tokens, rows), w, x, bias, out, tokens, rows, cols, epilogue, ieee);
                    for (int t = 0; t < tokens; t++) {
                        for (int r = 0; r < rows; r++) {
                            double expected = 0;
                            for (int c = 0; c < cols; c++) expected += x.get((long) t * cols + c) * wv[r][c];
                            if ((epilogue & MatVecKernels.BIAS) != 0) expected += bias.get(r);
                            if ((epilogue & MatVecKernels.ACCUMULATE) != 0) expected += before[t * rows + r];
                            assertEquals(expected, out.get((long) t * rows + r), 1e-4 * Math.max(1, Math.abs(expected)),
                                    tokens + "x" + rows + "x" + cols + " ieee " + ieee + " epilogue " + epilogue + " token " + t + " row " + r);
                        }
                    }
                    for (int i = tokens * rows; i < tokens * rows + 5; i++) assertEquals(before[i], out.get(i), "no write past the output");
                }
            }
        }
    }

    F32Buffer random(int n) {
        F32Buffer b = F32Buffer.allocate(arena, n);
        for (int i = 0; i < n; i++) b.set(i, (float) random.nextGaussian());
        return b;
    }

    /** The tensor-core kernel (BF16 weights, activations split into two BF16 parts, weights double-buffered) within 1e-4 of the F32 product. */
    @Test
    void tensorCoreProductEqualsThePlainLoop() {
        // five double-buffered steps; last steps of 8, 16 and 24 columns; ragged tiles of tokens and of rows
        int[][] shapes = {{1, 5, 8}, {70, 37, 40}, {64, 64, 64}, {130, 100, 40}, {3, 129, 56}, {20, 70, 160}, {9, 66, 104}};
        for (int[] shape : shapes) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            double[][] wv = new double[rows][cols];
            Half16Buffer w = bf16Weights(wv);
            F32Buffer x = random(tokens * cols), bias = random(rows);
            for (int epilogue = 0; epilogue < 4; epilogue++) {
                F32Buffer out = random(tokens * rows + 5);
                float[] before = out.toArray();
                Emulator.launch(GemmKernels.class, "bf16Tensor", GemmKernels.tensorGrid(tokens, rows), w, x, bias, out, tokens, rows, cols, epilogue);
                assertProduct(x, wv, bias, before, out, tokens, epilogue, tokens + "x" + rows + "x" + cols + " epilogue " + epilogue);
            }
        }
    }

    /**
     * The tensor-core GEMMs copy 16-byte pieces of rows, so they take widths of whole pieces only ({@link
     * GemmKernels#tensorTakes}); the emulator refuses another width in one sentence, as the copy would be misaligned.
     */
    @Test
    void tensorCoresTakeRowsOfWholeSixteenBytePieces() {
        assertTrue(GemmKernels.tensorTakes(2048) && GemmKernels.tensorTakes(8) && GemmKernels.tensorTakes(40));
        assertFalse(GemmKernels.tensorTakes(45) || GemmKernels.tensorTakes(97) || GemmKernels.tensorTakes(4));
        int tokens = 3, rows = 5, cols = 45;
        Half16Buffer w = bf16Weights(new double[rows][cols]);
        F32Buffer x = random(tokens * cols), bias = random(rows), out = random(tokens * rows);
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> Emulator.launch(GemmKernels.class, "bf16Tensor",
                GemmKernels.tensorGrid(tokens, rows), w, x, bias, out, tokens, rows, cols, 0));
        assertTrue(String.valueOf(e.getMessage()).contains("16-byte aligned"), e.getMessage());
    }

    /** F32 weights through the FFMA tiles: the plain loop, on shapes with 16-byte rows and without. */
    @Test
    void f32WeightsEqualThePlainLoop() {
        for (int[] shape : new int[][] {{1, 5, 8}, {70, 37, 45}, {65, 64, 64}, {9, 130, 97}, {3, 3, 40}}) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            double[][] wv = new double[rows][cols];
            F32Buffer w = F32Buffer.allocate(arena, (long) rows * cols);
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    wv[r][c] = (float) random.nextGaussian();
                    w.set((long) r * cols + c, (float) wv[r][c]);
                }
            }
            F32Buffer x = random(tokens * cols), bias = random(rows);
            for (int epilogue = 0; epilogue < 4; epilogue++) {
                F32Buffer out = random(tokens * rows + 5);
                float[] before = out.toArray();
                Emulator.launch(GemmKernels.class, "f32", GemmKernels.grid(tokens, rows), w, Half16Buffer.allocate(arena, 8), x, bias, out, tokens, rows,
                        cols, epilogue);
                assertProduct(x, wv, bias, before, out, tokens, epilogue, tokens + "x" + rows + "x" + cols + " F32, epilogue " + epilogue);
            }
        }
    }

    /** 128 × 128 tiles of eight warps give the 64 × 64 kernel's bits: each element sums its columns in the same order. */
    @Test
    void largeTilesGiveTheSameBitsAsSmallOnes() {
        int[][] shapes = {{1, 5, 8}, {70, 37, 40}, {130, 200, 104}, {129, 129, 64}, {300, 150, 40}, {5, 260, 56}};
        for (int[] shape : shapes) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            Half16Buffer w = bf16Weights(new double[rows][cols]);
            F32Buffer x = random(tokens * cols), bias = random(rows);
            for (int epilogue = 0; epilogue < 4; epilogue++) {
                F32Buffer small = random(tokens * rows + 5), large = F32Buffer.allocate(arena, small.length());
                for (long i = 0; i < small.length(); i++) large.set(i, small.get(i));
                Emulator.launch(GemmKernels.class, "bf16Tensor", GemmKernels.tensorGrid(tokens, rows), w, x, bias, small, tokens, rows, cols, epilogue);
                Emulator.launch(GemmKernels.class, "bf16TensorLarge", GemmKernels.largeGrid(tokens, rows), w, x, bias, large, tokens, rows, cols, epilogue);
                for (long i = 0; i < small.length(); i++) {
                    assertEquals(Float.floatToRawIntBits(small.get(i)), Float.floatToRawIntBits(large.get(i)),
                            tokens + "x" + rows + "x" + cols + " epilogue " + epilogue + " element " + i);
                }
            }
        }
    }

    /** Large tiles where they make two groups per SM of a 132-SM GPU, not for few tokens or a narrow matrix. */
    @Test
    void largeTilesOnlyWhereTheyFillTheGpu() {
        assertTrue(GemmKernels.large(4096, 2048), "a 4096-token chunk's 2048-row product: 32 x 16 = 512 tiles");
        assertTrue(GemmKernels.large(4096, 1152), "32 x 9 = 288");
        assertFalse(GemmKernels.large(4096, 1024), "32 x 8 = 256");
        assertTrue(GemmKernels.large(512, 16384), "4 x 128 = 512");
        assertFalse(GemmKernels.large(512, 2048), "4 x 16 = 64");
        assertFalse(GemmKernels.large(100, 128256), "fewer tokens than a large tile: half of it or more would be padding");
    }

    /**
     * With the activations rounded to BF16 once: the plain loop over the rounded activations (the split's second part
     * would miss it); on the large tiles the 64 × 64 kernel's bits.
     */
    @Test
    void roundedTensorCoreProductIsThePlainLoopOfRoundedActivations() {
        for (int[] shape : new int[][] {{1, 5, 8}, {70, 37, 40}, {9, 66, 104}, {64, 64, 64}, {130, 140, 72}}) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            double[][] wv = new double[rows][cols];
            Half16Buffer w = bf16Weights(wv);
            F32Buffer x = random(tokens * cols), rounded = F32Buffer.allocate(arena, (long) tokens * cols), bias = random(rows);
            for (long i = 0; i < x.length(); i++) rounded.set(i, KernelContext.bf16ToFloat(KernelContext.floatToBf16(x.get(i))));
            int epilogue = MatVecKernels.BIAS | MatVecKernels.ACCUMULATE;
            F32Buffer out = random(tokens * rows + 5);
            float[] before = out.toArray();
            F32Buffer large = F32Buffer.allocate(arena, out.length());
            for (long i = 0; i < out.length(); i++) large.set(i, out.get(i));
            Emulator.launch(GemmKernels.class, "bf16TensorRounded", GemmKernels.tensorGrid(tokens, rows), w, x, bias, out, tokens, rows, cols, epilogue);
            assertProduct(rounded, wv, bias, before, out, tokens, epilogue, tokens + "x" + rows + "x" + cols + " rounded");
            Emulator.launch(GemmKernels.class, "bf16TensorLargeRounded", GemmKernels.largeGrid(tokens, rows), w, x, bias, large, tokens, rows, cols,
                    epilogue);
            for (long i = 0; i < out.length(); i++) {
                assertEquals(Float.floatToRawIntBits(out.get(i)), Float.floatToRawIntBits(large.get(i)), tokens + "x" + rows + "x" + cols + " element " + i);
            }
        }
    }

    /**
     * The column-split product (a batched decode step's): each split's partial sums, then the splits added in order
     * with the epilogue, against the plain loop; one split, splits that divide the steps and ones that do not (the
     * last split short or past the columns' end), and the splits {@link GemmKernels#splits} chooses.
     */
    @Test
    void splitProductEqualsThePlainLoop() {
        int[][] shapes = {{1, 5, 8}, {5, 37, 40}, {33, 70, 200}, {70, 9, 104}, {8, 64, 256}};
        for (int[] shape : shapes) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            double[][] wv = new double[rows][cols];
            Half16Buffer w = bf16Weights(wv);
            F32Buffer x = random(tokens * cols), bias = random(rows);
            for (int splits : new int[] {1, 2, 3, GemmKernels.splits(tokens, rows, cols)}) {
                int splitCols = GemmKernels.splitCols(cols, splits);
                int used = (cols + splitCols - 1) / splitCols; // a split past the columns' end adds nothing
                F32Buffer partial = random(splits * tokens * rows);
                Emulator.launch(GemmKernels.class, "bf16TensorSplit", GemmKernels.tensorSplitGrid(tokens, rows, used), w, x, partial, tokens, rows,
                        cols, splitCols);
                for (int epilogue = 0; epilogue < 4; epilogue++) {
                    F32Buffer out = random(tokens * rows + 5);
                    float[] before = out.toArray();
                    Emulator.launch(GemmKernels.class, "sumSplits", GemmKernels.sumGrid(tokens, rows), partial, bias, out, tokens, rows, used, epilogue);
                    assertProduct(x, wv, bias, before, out, tokens, epilogue, tokens + "x" + rows + "x" + cols + " in " + used + " splits, epilogue " + epilogue);
                }
            }
        }
    }

    /** How many splits: whole steps each, every column in exactly one, at least four steps a split, none when the tiles suffice. */
    @Test
    void splitsCoverTheColumnsInWholeSteps() {
        for (int[] shape : new int[][] {{32, 3072, 2048}, {32, 2048, 8192}, {8, 16384, 2048}, {32, 128256, 2048}, {64, 100, 33}, {1, 64, 100_000}}) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            int splits = GemmKernels.splits(tokens, rows, cols), each = GemmKernels.splitCols(cols, splits);
            long tiles = (long) ((rows + 63) / 64) * ((tokens + 63) / 64);
            String what = tokens + "x" + rows + "x" + cols + ": " + splits + " splits of " + each;
            assertEquals(0, each % GemmKernels.STEP, what);
            assertEquals(true, (long) splits * each >= cols && (long) (splits - 1) * each < cols, what);
            assertEquals(true, splits == 1 || each >= GemmKernels.SPLIT_MIN_STEPS * GemmKernels.STEP, what);
            if (tiles >= GemmKernels.SPLIT_TARGET_GROUPS) assertEquals(1, splits, what);
            // below the target, it splits as far as the columns allow
            if (tiles < GemmKernels.SPLIT_TARGET_GROUPS && cols >= 2 * GemmKernels.SPLIT_MIN_STEPS * GemmKernels.STEP) assertEquals(true, splits > 1, what);
        }
        assertEquals(11, GemmKernels.splits(32, 3072, 2048)); // Llama-3.2-1B's q/k/v at 32 sessions: 48 tiles × 11 = 528 groups
        assertEquals(1, GemmKernels.splits(32, 128256, 2048)); // its output head: 2004 tiles
    }

    /** Random BF16 weights, {@code wv.length} rows of {@code wv[0].length}, their values also into {@code wv}. */
    Half16Buffer bf16Weights(double[][] wv) {
        int rows = wv.length, cols = wv[0].length;
        Half16Buffer w = Half16Buffer.allocate(arena, (long) rows * cols);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                short bits = KernelContext.floatToBf16((float) random.nextGaussian());
                w.set((long) r * cols + c, bits);
                wv[r][c] = KernelContext.bf16ToFloat(bits);
            }
        }
        return w;
    }

    /**
     * {@code out} (which held {@code before}) against {@code x · wvᵀ} through the epilogue, each element within 1e-4 of
     * the sum of its products' magnitudes (the tensor cores' split activations), and nothing written past it.
     */
    static void assertProduct(F32Buffer x, double[][] wv, F32Buffer bias, float[] before, F32Buffer out, int tokens, int epilogue, String what) {
        int rows = wv.length, cols = wv[0].length;
        for (int t = 0; t < tokens; t++) {
            for (int r = 0; r < rows; r++) {
                double expected = 0, magnitude = 0;
                for (int c = 0; c < cols; c++) {
                    double p = x.get((long) t * cols + c) * wv[r][c];
                    expected += p;
                    magnitude += Math.abs(p);
                }
                if ((epilogue & MatVecKernels.BIAS) != 0) expected += bias.get(r);
                if ((epilogue & MatVecKernels.ACCUMULATE) != 0) expected += before[t * rows + r];
                assertEquals(expected, out.get((long) t * rows + r), 1e-4 * Math.max(1, Math.max(magnitude, Math.abs(expected))),
                        what + " token " + t + " row " + r);
            }
        }
        for (int i = tokens * rows; i < tokens * rows + 5; i++) assertEquals(before[i], out.get(i), "no write past the output");
    }
}
