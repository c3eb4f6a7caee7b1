package dev.moa.tasks.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import org.junit.jupiter.api.Test;

/**
 * The pipelined GEMMs over activations in BF16 parts: the plain loop (split parts within 1e-4 of the F32 product,
 * one part exactly the loop over rounded activations), and the bits of {@link GemmKernels}' staging kernels, on
 * shapes with ragged tiles, steps fewer than the ring's stages, many steps around it, a partial last step.
 */
class PipelinedGemmTest {
    final GemmKernelTest helpers = new GemmKernelTest();
    // (tokens, rows, cols): one step (fewer than the stages); 8 steps (the ring turns); partial last steps of 8, 24 columns
    static final int[][] SHAPES = {{1, 5, 8}, {70, 37, 40}, {64, 64, 256}, {130, 100, 40}, {3, 129, 56}, {20, 70, 160}, {9, 66, 104}, {200, 140, 96}};

    @Test
    void splitPartsGiveTheStagingKernelsBitsAndThePlainLoop() {
        for (int[] shape : SHAPES) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            double[][] wv = new double[rows][cols];
            Half16Buffer w = helpers.bf16Weights(wv);
            F32Buffer x = helpers.random(tokens * cols), bias = helpers.random(rows);
            Half16Buffer xh = Half16Buffer.allocate(helpers.arena, (long) tokens * cols), xl = Half16Buffer.allocate(helpers.arena, (long) tokens * cols);
            Emulator.launch(PipelinedGemm.class, "splitRows", splitGrid(tokens, cols), x, xh, xl, cols, 2);
            for (int epilogue = 0; epilogue < 4; epilogue++) {
                String what = tokens + "x" + rows + "x" + cols + " epilogue " + epilogue;
                F32Buffer staged = helpers.random(tokens * rows + 5), small = copy(staged), large = copy(staged), wide = copy(staged);
                float[] before = staged.toArray();
                Emulator.launch(GemmKernels.class, "bf16Tensor", GemmKernels.tensorGrid(tokens, rows), w, x, bias, staged, tokens, rows, cols, epilogue);
                Emulator.launch(PipelinedGemm.class, "wide", PipelinedGemm.wideGrid(tokens, rows, 2), w, xh, xl, bias, wide, tokens, rows, cols, 2, epilogue);
                Emulator.launch(PipelinedGemm.class, "tile", PipelinedGemm.grid(tokens, rows, 2), w, xh, xl, bias, small, tokens, rows, cols, 2, epilogue);
                Emulator.launch(PipelinedGemm.class, "large", PipelinedGemm.largeGrid(tokens, rows, 2), w, xh, xl, bias, large, tokens, rows, cols, 2,
                        epilogue);
                GemmKernelTest.assertProduct(x, wv, bias, before, small, tokens, epilogue, what);
                assertSameBits(staged, small, what + ", 64 x 64 tiles");
                assertSameBits(staged, large, what + ", 128 x 128 tiles");
                assertSameBits(staged, wide, what + ", 128 x 128 tiles of 64 x 64 warps");
            }
        }
    }

    @Test
    void onePartIsTheRoundedProduct() {
        for (int[] shape : SHAPES) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            double[][] wv = new double[rows][cols];
            Half16Buffer w = helpers.bf16Weights(wv);
            F32Buffer x = helpers.random(tokens * cols), bias = helpers.random(rows), rounded = F32Buffer.allocate(helpers.arena, (long) tokens * cols);
            for (long i = 0; i < x.length(); i++) rounded.set(i, KernelContext.bf16ToFloat(KernelContext.floatToBf16(x.get(i))));
            Half16Buffer xh = Half16Buffer.allocate(helpers.arena, (long) tokens * cols);
            Emulator.launch(PipelinedGemm.class, "splitRows", splitGrid(tokens, cols), x, xh, xh, cols, 1);
            int epilogue = MatVecKernels.BIAS | MatVecKernels.ACCUMULATE;
            String what = tokens + "x" + rows + "x" + cols + " rounded";
            F32Buffer staged = helpers.random(tokens * rows + 5), small = copy(staged), large = copy(staged);
            float[] before = staged.toArray();
            Emulator.launch(GemmKernels.class, "bf16TensorRounded", GemmKernels.tensorGrid(tokens, rows), w, x, bias, staged, tokens, rows, cols, epilogue);
            Emulator.launch(PipelinedGemm.class, "tile", PipelinedGemm.grid(tokens, rows, 1), w, xh, xh, bias, small, tokens, rows, cols, 1, epilogue);
            Emulator.launch(PipelinedGemm.class, "large", PipelinedGemm.largeGrid(tokens, rows, 1), w, xh, xh, bias, large, tokens, rows, cols, 1, epilogue);
            F32Buffer wide = copy(before);
            Emulator.launch(PipelinedGemm.class, "wide", PipelinedGemm.wideGrid(tokens, rows, 1), w, xh, xh, bias, wide, tokens, rows, cols, 1, epilogue);
            GemmKernelTest.assertProduct(rounded, wv, bias, before, small, tokens, epilogue, what);
            assertSameBits(staged, small, what + ", 64 x 64 tiles");
            assertSameBits(staged, large, what + ", 128 x 128 tiles");
            assertSameBits(staged, wide, what + ", 128 x 128 tiles of 64 x 64 warps");
        }
    }

    /**
     * The launches' raster (token tiles walked together per row tile): plain order, walks that divide the token tiles,
     * ones that do not (the last walk's tiles past the tokens return), walks longer than the tiles — every tile
     * computed once, the same bits, for each entry.
     */
    @Test
    void everyWalkComputesEveryTileOnce() {
        int tokens = 300, rows = 200, cols = 40; // 5 x 4 tiles of 64; 3 x 2 of 128
        double[][] wv = new double[rows][cols];
        Half16Buffer w = helpers.bf16Weights(wv);
        F32Buffer x = helpers.random(tokens * cols), bias = helpers.random(rows);
        Half16Buffer xh = Half16Buffer.allocate(helpers.arena, (long) tokens * cols), xl = Half16Buffer.allocate(helpers.arena, (long) tokens * cols);
        Emulator.launch(PipelinedGemm.class, "splitRows", splitGrid(tokens, cols), x, xh, xl, cols, 2);
        int epilogue = MatVecKernels.BIAS | MatVecKernels.ACCUMULATE;
        F32Buffer start = helpers.random(tokens * rows + 5); // (and five past the output, which no walk may write)
        float[] before = start.toArray();
        for (String entry : new String[] {"tile", "large", "wide"}) {
            F32Buffer plain = null;
            for (int walk : new int[] {1, 2, 3, 8, 100}) {
                Grid grid = switch (entry) {
                    case "tile" -> PipelinedGemm.grid(tokens, rows, 2, walk);
                    case "large" -> PipelinedGemm.largeGrid(tokens, rows, 2, walk);
                    default -> PipelinedGemm.wideGrid(tokens, rows, 2, walk);
                };
                F32Buffer out = copy(start);
                Emulator.launch(PipelinedGemm.class, entry, grid, w, xh, xl, bias, out, tokens, rows, cols, 2, epilogue);
                if (plain == null) {
                    GemmKernelTest.assertProduct(x, wv, bias, before, out, tokens, epilogue, entry + " in plain order");
                    plain = out;
                } else {
                    assertSameBits(plain, out, entry + " walking " + walk + " token tiles");
                }
            }
        }
    }

    /**
     * What walking token tiles is for, by a model: the launch order (as {@link PipelinedGemm#rastered} lays it out) in
     * waves of 264 groups (two 128 × 128 tiles an SM of a 132-SM GPU), each wave reading from memory the weight and
     * token tiles it uses that a 50 MB LRU L2 does not hold. A 4096-token chunk of the 1B shapes, two parts: gate/up's
     * 64 MB of weights are read about ten times in plain order, under three walking eight token tiles; down, q/k/v and
     * the output projection, whose weights fit, read about what they did.
     */
    @Test
    void walkingTokenTilesReadsWeightsPastTheL2FewerTimes() {
        for (int[] shape : new int[][] {{16384, 2048}, {2048, 8192}, {3072, 2048}, {2048, 2048}}) {
            int rows = shape[0], cols = shape[1], tokens = 4096;
            long plain = waveTraffic(tokens, rows, cols, 1), walked = waveTraffic(tokens, rows, cols, PipelinedGemm.TOKEN_WALK);
            long compulsory = 2L * rows * cols + 4L * tokens * cols;
            System.out.printf("%d x %d x %d: %.2f GB read in plain order, %.2f walking %d token tiles (%.2f compulsory)%n", tokens, rows, cols, plain / 1e9,
                    walked / 1e9, PipelinedGemm.TOKEN_WALK, compulsory / 1e9);
            if (rows == 16384) org.junit.jupiter.api.Assertions.assertTrue(walked < 0.35 * plain, walked + " vs " + plain);
            else org.junit.jupiter.api.Assertions.assertTrue(walked < 1.1 * plain, walked + " vs " + plain);
        }
    }

    /** Bytes a large-tile launch reads from memory in the wave/LRU model above, activations in two parts. */
    static long waveTraffic(int tokens, int rows, int cols, int walk) {
        Grid grid = PipelinedGemm.largeGrid(tokens, rows, 2, walk);
        int rowTiles = (rows + 127) / 128, tokenTiles = (tokens + 127) / 128, w = grid.groupsX() / rowTiles;
        long weightTile = 128L * cols * 2, tokenTile = 2 * 128L * cols * 2, capacity = 50L << 20, used = 0, read = 0;
        java.util.LinkedHashMap<Long, Long> l2 = new java.util.LinkedHashMap<>(16, 0.75f, true); // access order: LRU
        java.util.List<Long> wave = new java.util.ArrayList<>();
        for (int y = 0; y < grid.groupsY(); y++) {
            for (int x = 0; x < grid.groupsX(); x++) {
                int token = y * w + x % w, row = x / w;
                if (token >= tokenTiles) continue; // returns at once
                wave.add((long) row); // weight tiles as row, token tiles as -1 - token
                wave.add(-1L - token);
                if (wave.size() == 2 * 264 || (y == grid.groupsY() - 1 && x == grid.groupsX() - 1)) {
                    for (long tileKey : new java.util.LinkedHashSet<>(wave)) {
                        if (l2.get(tileKey) != null) continue;
                        long size = tileKey >= 0 ? weightTile : tokenTile;
                        read += size;
                        used += size;
                        l2.put(tileKey, size);
                        for (var it = l2.entrySet().iterator(); used > capacity && it.hasNext(); ) {
                            used -= it.next().getValue();
                            it.remove();
                        }
                    }
                    wave.clear();
                }
            }
        }
        return read;
    }

    /**
     * The gate/up GEMMs with SwiGLU as their epilogue give, bit for bit, the product of the stacked matrix followed by
     * {@link VectorKernels#swiGluParts}, for one part and two, in every tile shape: features that do not fill a tile
     * (n of 4, 40, 100, 150), ragged tokens, one step and several, a partial last step; nothing is written past the
     * tokens' rows. And the SwiGLU parts are what the loop gives: silu of the gate row's product times the up row's.
     */
    @Test
    void gateUpWithSwiGluGivesTheProductThenSwiGlusBits() {
        for (int[] shape : new int[][] {{1, 4, 8}, {70, 40, 40}, {130, 100, 96}, {9, 150, 56}, {200, 64, 160}}) {
            int tokens = shape[0], n = shape[1], cols = shape[2], rows = 2 * n;
            double[][] wv = new double[rows][cols];
            Half16Buffer w = helpers.bf16Weights(wv);
            F32Buffer x = helpers.random(tokens * cols), noBias = F32Buffer.allocate(helpers.arena, 1);
            for (int parts = 1; parts <= 2; parts++) {
                Half16Buffer xh = Half16Buffer.allocate(helpers.arena, (long) tokens * cols), xl = parts == 2 ? Half16Buffer.allocate(helpers.arena,
                        (long) tokens * cols) : xh;
                Emulator.launch(PipelinedGemm.class, "splitRows", splitGrid(tokens, cols), x, xh, xl, cols, parts);
                F32Buffer gateUp = F32Buffer.allocate(helpers.arena, (long) tokens * rows);
                Emulator.launch(PipelinedGemm.class, "tile", PipelinedGemm.grid(tokens, rows, parts), w, xh, xl, noBias, gateUp, tokens, rows, cols, parts, 0);
                long outputs = (long) tokens * n;
                Half16Buffer wantH = Half16Buffer.allocate(helpers.arena, outputs), wantL = Half16Buffer.allocate(helpers.arena, outputs);
                Emulator.launch(VectorKernels.class, "swiGluParts", Grid.of((n + 255) / 256, tokens, 256), gateUp, wantH, wantL, n, parts);
                for (int t = 0; t < Math.min(tokens, 3); t++) { // the loop: silu(gate · x) · (up · x)
                    for (int f = 0; f < n; f++) {
                        double gate = 0, up = 0;
                        for (int c = 0; c < cols; c++) {
                            double xc = parts == 2 ? x.get((long) t * cols + c) : KernelContext.bf16ToFloat(xh.get((long) t * cols + c));
                            gate += wv[f][c] * xc;
                            up += wv[n + f][c] * xc;
                        }
                        double want = gate / (1 + Math.exp(-gate)) * up;
                        float got = KernelContext.bf16ToFloat(wantH.get((long) t * n + f)) + (parts == 2 ? KernelContext.bf16ToFloat(wantL.get((long) t * n + f)) : 0f);
                        // gate and up within 1e-4 as the split products are (assertProduct), an error SwiGLU carries into both factors
                        double tolerance = 1e-4 * (1 + Math.abs(gate)) * (1 + Math.abs(up)) + (parts == 1 ? Math.abs(want) / 256 : 0);
                        assertEquals(want, got, tolerance, parts + " part(s), token " + t + ", feature " + f);
                    }
                }
                for (String kernel : new String[] {"tileGlu", "largeGlu", "wideGlu"}) {
                    Grid grid = switch (kernel) {
                        case "tileGlu" -> PipelinedGemm.grid(tokens, rows, parts);
                        case "largeGlu" -> PipelinedGemm.largeGrid(tokens, rows, parts);
                        default -> PipelinedGemm.wideGrid(tokens, rows, parts);
                    };
                    Half16Buffer oh = Half16Buffer.allocate(helpers.arena, outputs + 8), ol = Half16Buffer.allocate(helpers.arena, outputs + 8);
                    for (long i = 0; i < outputs + 8; i++) {
                        oh.set(i, (short) 0x7FC1);
                        ol.set(i, (short) 0x7FC1);
                    }
                    Emulator.launch(PipelinedGemm.class, kernel, grid, w, xh, xl, oh, ol, tokens, rows, cols, parts);
                    String what = kernel + " " + tokens + " tokens x " + n + " features x " + cols + ", " + parts + " part(s)";
                    for (long i = 0; i < outputs; i++) {
                        assertEquals(wantH.get(i), oh.get(i), what + ": the first part of output " + i);
                        if (parts == 2) assertEquals(wantL.get(i), ol.get(i), what + ": the second part of output " + i);
                    }
                    for (long i = outputs; i < outputs + 8; i++) assertEquals((short) 0x7FC1, oh.get(i), what + ": written past the outputs");
                    if (parts == 1) for (long i = 0; i < outputs + 8; i++) assertEquals((short) 0x7FC1, ol.get(i), what + ": a second part written");
                }
            }
        }
    }

    /**
     * Split over the columns (a batched decode step's few tokens): each split's partial sums are the staging split
     * kernel's bits, for splits that divide the steps and ones that do not, and the splits summed are the plain loop.
     */
    @Test
    void columnSplitsGiveTheStagingSplitsBits() {
        for (int[] shape : new int[][] {{1, 5, 8}, {5, 37, 40}, {33, 70, 200}, {8, 64, 256}, {64, 130, 168}}) {
            int tokens = shape[0], rows = shape[1], cols = shape[2];
            double[][] wv = new double[rows][cols];
            Half16Buffer w = helpers.bf16Weights(wv);
            F32Buffer x = helpers.random(tokens * cols), bias = helpers.random(rows);
            Half16Buffer xh = Half16Buffer.allocate(helpers.arena, (long) tokens * cols), xl = Half16Buffer.allocate(helpers.arena, (long) tokens * cols);
            Emulator.launch(PipelinedGemm.class, "splitRows", splitGrid(tokens, cols), x, xh, xl, cols, 2);
            for (int splits : new int[] {1, 2, 3, GemmKernels.splits(tokens, rows, cols)}) {
                int splitCols = GemmKernels.splitCols(cols, splits), used = (cols + splitCols - 1) / splitCols;
                F32Buffer staged = helpers.random(used * tokens * rows), pipelined = helpers.random(used * tokens * rows);
                Emulator.launch(GemmKernels.class, "bf16TensorSplit", GemmKernels.tensorSplitGrid(tokens, rows, used), w, x, staged, tokens, rows, cols,
                        splitCols);
                Emulator.launch(PipelinedGemm.class, "split", PipelinedGemm.splitGrid(tokens, rows, used, 2), w, xh, xl, pipelined, tokens, rows, cols,
                        splitCols, 2);
                String what = tokens + "x" + rows + "x" + cols + " in " + used + " splits";
                assertSameBits(staged, pipelined, what);
                int epilogue = MatVecKernels.BIAS | MatVecKernels.ACCUMULATE;
                F32Buffer out = helpers.random(tokens * rows + 5);
                float[] before = out.toArray();
                Emulator.launch(GemmKernels.class, "sumSplits", GemmKernels.sumGrid(tokens, rows), pipelined, bias, out, tokens, rows, used, epilogue);
                GemmKernelTest.assertProduct(x, wv, bias, before, out, tokens, epilogue, what);
            }
        }
    }

    /** The parts are the rounding and the rounded remainder: together within BF16's square of each value, each part alone not. */
    @Test
    void partsAreTheRoundingAndWhatItLeft() {
        int n = 300;
        F32Buffer x = helpers.random(2 * n);
        Half16Buffer xh = Half16Buffer.allocate(helpers.arena, 2L * n), xl = Half16Buffer.allocate(helpers.arena, 2L * n);
        Emulator.launch(PipelinedGemm.class, "splitRows", splitGrid(2, n), x, xh, xl, n, 2);
        int lowMattered = 0;
        for (int i = 0; i < 2 * n; i++) {
            float v = x.get(i), high = KernelContext.bf16ToFloat(xh.get(i)), low = KernelContext.bf16ToFloat(xl.get(i));
            assertEquals(KernelContext.floatToBf16(v), xh.get(i), "element " + i);
            assertEquals(v, high + low, Math.abs(v) * 0x1p-16f, "element " + i);
            if (high != v) {
                assertNotEquals(0f, low, "element " + i);
                lowMattered++;
            }
        }
        assertEquals(true, lowMattered > n, "most Gaussian floats are not BF16 values: " + lowMattered);
    }

    static Grid splitGrid(int tokens, int cols) {
        return Grid.of((cols + 255) / 256, tokens, 256);
    }

    F32Buffer copy(F32Buffer from) {
        F32Buffer to = F32Buffer.allocate(helpers.arena, from.length());
        for (long i = 0; i < from.length(); i++) to.set(i, from.get(i));
        return to;
    }

    F32Buffer copy(float[] from) {
        F32Buffer to = F32Buffer.allocate(helpers.arena, from.length);
        for (int i = 0; i < from.length; i++) to.set(i, from[i]);
        return to;
    }

    static void assertSameBits(F32Buffer expected, F32Buffer actual, String what) {
        for (long i = 0; i < expected.length(); i++) {
            assertEquals(Float.floatToRawIntBits(expected.get(i)), Float.floatToRawIntBits(actual.get(i)), what + ", element " + i);
        }
    }
}
