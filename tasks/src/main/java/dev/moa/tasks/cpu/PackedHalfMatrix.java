package dev.moa.tasks.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * 16-bit weights (BF16 or F16), read as 32-bit lanes that each hold two neighbouring elements.
 *
 * <p>Widening the low and the high half of every lane gives the even and the odd elements of a block as two
 * F32 vectors with no shuffles. The activations are de-interleaved to match once per call ({@link #prepare}):
 * inside every block of {@code 2·L} columns, the even columns come first, then the odd ones. Columns past the
 * last full block stay in natural order and are handled by scalar code.
 */
public abstract sealed class PackedHalfMatrix extends WeightMatrix {
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Columns covered by one vector load of packed pairs. */
    static final int BLOCK = 2 * I.length();
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

    /** Branching on a final field (not a virtual call) keeps the widening inlined in the hot loops. */
    private final boolean bf16;
    private final int fullBlocksEnd;

    private PackedHalfMatrix(MemorySegment data, int rows, int cols, WeightFormat format) {
        super(data, rows, cols, format);
        this.bf16 = format == WeightFormat.BF16;
        this.fullBlocksEnd = cols / BLOCK * BLOCK;
    }

    /** Brain float: the top 16 bits of an F32. */
    public static final class Bf16 extends PackedHalfMatrix {
        Bf16(MemorySegment data, int rows, int cols) {
            super(data, rows, cols, WeightFormat.BF16);
        }

        @Override
        public WeightFormat format() {
            return WeightFormat.BF16;
        }

        @Override
        public float get(int row, int col) {
            return Float.intBitsToFloat(data.getAtIndex(LE_SHORT, (long) row * cols + col) << 16);
        }
    }

    /** IEEE half precision. */
    public static final class F16 extends PackedHalfMatrix {
        F16(MemorySegment data, int rows, int cols) {
            super(data, rows, cols, WeightFormat.F16);
        }

        @Override
        public WeightFormat format() {
            return WeightFormat.F16;
        }

        @Override
        public float get(int row, int col) {
            return Float.float16ToFloat(data.getAtIndex(LE_SHORT, (long) row * cols + col));
        }
    }

    @Override
    float[] prepare(float[] x, int tokens) {
        float[] xd = SCRATCH.get();
        if (xd.length < tokens * cols) {
            xd = new float[tokens * cols];
            SCRATCH.set(xd);
        }
        int half = I.length();
        for (int t = 0; t < tokens; t++) {
            int base = t * cols;
            for (int b = 0; b < fullBlocksEnd; b += BLOCK) {
                for (int j = 0; j < half; j++) {
                    xd[base + b + j] = x[base + b + 2 * j];
                    xd[base + b + half + j] = x[base + b + 2 * j + 1];
                }
            }
            System.arraycopy(x, base + fullBlocksEnd, xd, base + fullBlocksEnd, cols - fullBlocksEnd);
        }
        return xd;
    }

    private FloatVector even(IntVector packed) {
        return bf16 ? packed.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats()
                : halfToFloat(packed.lanewise(VectorOperators.AND, 0xFFFF));
    }

    private FloatVector odd(IntVector packed) {
        return bf16 ? packed.lanewise(VectorOperators.AND, 0xFFFF0000).reinterpretAsFloats()
                : halfToFloat(packed.lanewise(VectorOperators.LSHR, 16));
    }

    /**
     * IEEE half bits (in the low 16 bits of each lane) to F32: shift exponent and mantissa into place and
     * rescale by 2^112 (exact for normal and subnormal halves), force Inf/NaN exponents to all-ones, restore the sign.
     */
    private static FloatVector halfToFloat(IntVector h) {
        IntVector magnitude = h.lanewise(VectorOperators.AND, 0x7FFF).lanewise(VectorOperators.LSHL, 13);
        IntVector infOrNan = magnitude.or(0x7F800000);
        magnitude = magnitude.blend(infOrNan, magnitude.compare(VectorOperators.GE, 0x0F800000));
        FloatVector value = magnitude.reinterpretAsFloats().mul(0x1p112f);
        IntVector sign = h.lanewise(VectorOperators.AND, 0x8000).lanewise(VectorOperators.LSHL, 16);
        return value.reinterpretAsInts().or(sign).reinterpretAsFloats();
    }

    @Override
    void multiplyRows(float[] x, float[] xd, int tokens, float[] out, int rowStart, int rowEnd) {
        int r = rowStart;
        for (; r + 2 <= rowEnd; r += 2) {
            int t = 0;
            for (; t + 4 <= tokens; t += 4) block2x4(x, xd, out, r, t);
            for (; t < tokens; t++) {
                out[t * rows + r] = dot(r, x, xd, t * cols);
                out[t * rows + r + 1] = dot(r + 1, x, xd, t * cols);
            }
        }
        for (; r < rowEnd; r++) {
            for (int t = 0; t < tokens; t++) out[t * rows + r] = dot(r, x, xd, t * cols);
        }
    }

    private long rowBytes(int row) {
        return (long) row * cols * 2;
    }

    private float dot(int row, float[] x, float[] xd, int xOffset) {
        long base = rowBytes(row);
        int half = I.length();
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        for (int c = 0; c < fullBlocksEnd; c += BLOCK) {
            IntVector packed = IntVector.fromMemorySegment(I, data, base + c * 2L, ByteOrder.LITTLE_ENDIAN);
            acc0 = even(packed).fma(FloatVector.fromArray(F, xd, xOffset + c), acc0);
            acc1 = odd(packed).fma(FloatVector.fromArray(F, xd, xOffset + c + half), acc1);
        }
        float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (int c = fullBlocksEnd; c < cols; c++) sum += get(row, c) * x[xOffset + c];
        return sum;
    }

    /** Rows r, r+1 against tokens t..t+3: each packed weight load is widened once and used four times. */
    private void block2x4(float[] x, float[] xd, float[] out, int r, int t) {
        long base0 = rowBytes(r), base1 = rowBytes(r + 1);
        int half = I.length();
        int x0 = t * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        for (int c = 0; c < fullBlocksEnd; c += BLOCK) {
            IntVector p0 = IntVector.fromMemorySegment(I, data, base0 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            IntVector p1 = IntVector.fromMemorySegment(I, data, base1 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            FloatVector e0 = even(p0), o0 = odd(p0), e1 = even(p1), o1 = odd(p1);
            FloatVector v = FloatVector.fromArray(F, xd, x0 + c), u = FloatVector.fromArray(F, xd, x0 + c + half);
            a00 = o0.fma(u, e0.fma(v, a00));
            a10 = o1.fma(u, e1.fma(v, a10));
            v = FloatVector.fromArray(F, xd, x1 + c); u = FloatVector.fromArray(F, xd, x1 + c + half);
            a01 = o0.fma(u, e0.fma(v, a01));
            a11 = o1.fma(u, e1.fma(v, a11));
            v = FloatVector.fromArray(F, xd, x2 + c); u = FloatVector.fromArray(F, xd, x2 + c + half);
            a02 = o0.fma(u, e0.fma(v, a02));
            a12 = o1.fma(u, e1.fma(v, a12));
            v = FloatVector.fromArray(F, xd, x3 + c); u = FloatVector.fromArray(F, xd, x3 + c + half);
            a03 = o0.fma(u, e0.fma(v, a03));
            a13 = o1.fma(u, e1.fma(v, a13));
        }
        float s00 = sum(a00), s01 = sum(a01), s02 = sum(a02), s03 = sum(a03);
        float s10 = sum(a10), s11 = sum(a11), s12 = sum(a12), s13 = sum(a13);
        for (int c = fullBlocksEnd; c < cols; c++) {
            float w0 = get(r, c), w1 = get(r + 1, c);
            s00 += w0 * x[x0 + c]; s01 += w0 * x[x1 + c]; s02 += w0 * x[x2 + c]; s03 += w0 * x[x3 + c];
            s10 += w1 * x[x0 + c]; s11 += w1 * x[x1 + c]; s12 += w1 * x[x2 + c]; s13 += w1 * x[x3 + c];
        }
        out[t * rows + r] = s00; out[(t + 1) * rows + r] = s01; out[(t + 2) * rows + r] = s02; out[(t + 3) * rows + r] = s03;
        out[t * rows + r + 1] = s10; out[(t + 1) * rows + r + 1] = s11; out[(t + 2) * rows + r + 1] = s12; out[(t + 3) * rows + r + 1] = s13;
    }

    private static float sum(FloatVector v) {
        return v.reduceLanes(VectorOperators.ADD);
    }
}
