package dev.moa.tasks.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/** Every storage format's SIMD matmul against a naive double-precision loop, on shapes that exercise every tail. */
class WeightMatrixTest {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Random weights in the given format; also returns their exact F32 values. */
    static WeightMatrix randomMatrix(WeightFormat format, int rows, int cols, Random random, float[] exact) {
        MemorySegment data = Arena.ofAuto().allocate((long) rows * cols * format.byteSize());
        for (int i = 0; i < rows * cols; i++) {
            float value = (float) random.nextGaussian();
            switch (format) {
                case F32 -> { data.setAtIndex(FLOAT, i, value); exact[i] = value; }
                case BF16 -> {
                    short bits = (short) (Float.floatToRawIntBits(value) >>> 16);
                    data.setAtIndex(SHORT, i, bits);
                    exact[i] = Float.intBitsToFloat(bits << 16);
                }
                case F16 -> {
                    short bits = Float.floatToFloat16(value);
                    data.setAtIndex(SHORT, i, bits);
                    exact[i] = Float.float16ToFloat(bits);
                }
            }
        }
        return WeightMatrix.of(format, data, rows, cols);
    }

    @ParameterizedTest
    @EnumSource(WeightFormat.class)
    void multiplyMatchesNaiveLoopOnOddShapes(WeightFormat format) {
        Random random = new Random(42);
        int[][] shapes = {{1, 1}, {3, 7}, {5, 31}, {17, 32}, {16, 33}, {9, 64}, {33, 100}, {64, 172}, {31, 257}, {128, 512}};
        for (int[] shape : shapes) {
            for (int tokens : new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9}) {
                int rows = shape[0], cols = shape[1];
                float[] exact = new float[rows * cols];
                WeightMatrix w = randomMatrix(format, rows, cols, random, exact);
                float[] x = new float[tokens * cols];
                for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
                float[] out = new float[tokens * rows];
                w.multiply(x, tokens, out);
                for (int t = 0; t < tokens; t++) {
                    for (int r = 0; r < rows; r++) {
                        double expected = 0, magnitude = 0;
                        for (int c = 0; c < cols; c++) {
                            expected += (double) exact[r * cols + c] * x[t * cols + c];
                            magnitude += Math.abs((double) exact[r * cols + c] * x[t * cols + c]);
                        }
                        // F32 accumulation error grows with the sum of |terms|, not with the result.
                        double tolerance = 1e-6 * magnitude + 1e-7 * cols;
                        assertEquals(expected, out[t * rows + r], tolerance,
                                format + " [" + rows + "x" + cols + "] tokens=" + tokens + " t=" + t + " r=" + r);
                    }
                }
            }
        }
    }

    /**
     * Below the panels' threshold a batch of BF16 tokens streams the rows, two tokens per widened block, and each
     * token's outputs are bit for bit its product alone: a session stepped with up to seven others decodes exactly as
     * alone. (F16's and F32's streamed paths are not held to this.) Compared with the loops compiled, as a loaded
     * model has them ({@link WeightMatrix#warmUp}): the Vector API's lane sum may add in another order while a loop is
     * still interpreted (this test, run cold after another format's, once failed so).
     */
    @Test
    void streamedBf16TokensAreEachTokensProductAloneBitForBit() {
        WeightFormat format = WeightFormat.BF16;
        Random random = new Random(7);
        randomMatrix(format, 64, 256, random, new float[64 * 256]).warmUp();
        for (int[] shape : new int[][] {{9, 64}, {33, 100}, {64, 172}, {31, 257}}) {
            int rows = shape[0], cols = shape[1];
            WeightMatrix w = randomMatrix(format, rows, cols, random, new float[rows * cols]);
            for (int tokens = 2; tokens < w.panelTokens(); tokens++) {
                float[] x = new float[tokens * cols], out = new float[tokens * rows];
                for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
                w.multiply(x, tokens, out);
                for (int t = 0; t < tokens; t++) {
                    float[] one = new float[rows];
                    w.multiply(java.util.Arrays.copyOfRange(x, t * cols, (t + 1) * cols), 1, one);
                    for (int r = 0; r < rows; r++) {
                        assertEquals(Float.floatToRawIntBits(one[r]), Float.floatToRawIntBits(out[t * rows + r]),
                                format + " [" + rows + "x" + cols + "] tokens=" + tokens + " t=" + t + " r=" + r);
                    }
                }
            }
        }
        assertEquals(8, randomMatrix(format, 4, 8, random, new float[32]).panelTokens());
    }

    @ParameterizedTest
    @EnumSource(WeightFormat.class)
    void getAndCopyRowWidenExactly(WeightFormat format) {
        Random random = new Random(7);
        float[] exact = new float[5 * 37];
        WeightMatrix w = randomMatrix(format, 5, 37, random, exact);
        float[] row = new float[37];
        w.copyRow(3, row, 0);
        for (int c = 0; c < 37; c++) {
            assertEquals(exact[3 * 37 + c], w.get(3, c));
            assertEquals(exact[3 * 37 + c], row[c]);
        }
    }

    /** F16 widening through the matmul, checked bit for bit on all 65,536 half values. */
    @Test
    void f16WideningIsExactForEveryBitPattern() {
        int cols = Bf16Matrix.BLOCK;
        int rows = 65536 / cols;
        MemorySegment data = Arena.ofAuto().allocate(65536L * 2);
        for (int i = 0; i < 65536; i++) data.setAtIndex(SHORT, i, (short) i);
        WeightMatrix w = WeightMatrix.of(WeightFormat.F16, data, rows, cols);
        float[] out = new float[rows];
        for (int j = 0; j < cols; j++) {
            float[] unit = new float[cols];
            unit[j] = 1f;
            w.multiply(unit, 1, out);
            for (int r = 0; r < rows; r++) {
                float expected = Float.float16ToFloat((short) (r * cols + j));
                float actual = out[r];
                boolean infinite = Float.isInfinite(expected);
                if (Float.isNaN(expected) || infinite) {
                    // inf·1 + 0·(others) stays inf; NaN stays NaN; other lanes add 0·x only.
                    assertTrue(Float.isNaN(actual) || (infinite && actual == expected), "bits " + (r * cols + j) + " -> " + actual);
                } else {
                    assertEquals(expected, actual, 0f, "half bits 0x" + Integer.toHexString(r * cols + j));
                }
            }
        }
    }

    /**
     * The vector widening itself, bit for bit {@link Float#float16ToFloat} on all 65,536 halves in both places of a
     * lane (low half: even element; high half: odd), NaN payloads and their quiet bit, infinities, subnormals and
     * signed zeros included — what the product above cannot see through its sums.
     */
    @Test
    void f16VectorWideningIsFloat16ToFloatForEveryBitPattern() {
        var species = jdk.incubator.vector.IntVector.SPECIES_PREFERRED;
        int n = species.length();
        for (int base = 0; base < 65536; base += n) {
            int[] lanes = new int[n];
            for (int j = 0; j < n; j++) lanes[j] = (base + j) | ((65535 - base - j) << 16); // each half both low and high
            var packed = jdk.incubator.vector.IntVector.fromArray(species, lanes, 0);
            float[] even = F16Matrix.even(packed).toArray(), odd = F16Matrix.odd(packed).toArray();
            for (int j = 0; j < n; j++) {
                int low = base + j, high = 65535 - base - j;
                assertEquals(Float.floatToRawIntBits(Float.float16ToFloat((short) low)), Float.floatToRawIntBits(even[j]),
                        "low half 0x" + Integer.toHexString(low));
                assertEquals(Float.floatToRawIntBits(Float.float16ToFloat((short) high)), Float.floatToRawIntBits(odd[j]),
                        "high half 0x" + Integer.toHexString(high));
            }
        }
    }

    @Test
    void rejectsWrongByteCountAndShapes() {
        MemorySegment data = Arena.ofAuto().allocate(10);
        assertThrows(IllegalArgumentException.class, () -> WeightMatrix.of(WeightFormat.F32, data, 2, 2));
        WeightMatrix w = WeightMatrix.of(WeightFormat.BF16, Arena.ofAuto().allocate(8), 2, 2);
        assertThrows(IllegalArgumentException.class, () -> w.multiply(new float[3], 2, new float[4]));
    }

    /** The backward pass's product: out[t][c] = Σ_r W[r][c]·dy[t][r], against the same naive loop over the exact weights. */
    @ParameterizedTest
    @EnumSource(WeightFormat.class)
    void multiplyTransposedMatchesNaiveLoopOnOddShapes(WeightFormat format) {
        Random random = new Random(7);
        int[][] shapes = {{1, 1}, {3, 7}, {5, 31}, {17, 32}, {16, 33}, {9, 64}, {33, 100}, {31, 257}, {130, 96}};
        for (int[] shape : shapes) {
            for (int tokens : new int[] {1, 2, 5, 16, 17, 40}) {
                int rows = shape[0], cols = shape[1];
                float[] exact = new float[rows * cols];
                WeightMatrix w = randomMatrix(format, rows, cols, random, exact);
                float[] dy = new float[tokens * rows];
                for (int i = 0; i < dy.length; i++) dy[i] = (float) random.nextGaussian();
                float[] out = new float[tokens * cols];
                java.util.Arrays.fill(out, Float.NaN); // every element must be written
                w.multiplyTransposed(dy, tokens, out);
                for (int t = 0; t < tokens; t++) {
                    for (int c = 0; c < cols; c++) {
                        double expected = 0, magnitude = 0;
                        for (int r = 0; r < rows; r++) {
                            expected += (double) exact[r * cols + c] * dy[t * rows + r];
                            magnitude += Math.abs((double) exact[r * cols + c] * dy[t * rows + r]);
                        }
                        assertEquals(expected, out[t * cols + c], 1e-5 * (1 + magnitude),
                                format + " " + rows + "x" + cols + " tokens " + tokens + " at " + t + "," + c);
                    }
                }
            }
        }
    }
}
