package dev.moa.tasks.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * BF16 weights ("brain float": the top 16 bits of an F32), read as 32-bit lanes that each hold two
 * neighbouring elements.
 *
 * <p>Widening the low and the high half of every lane gives the even and the odd elements of a block as two
 * F32 vectors with no shuffles. The activations are de-interleaved to match once per call ({@link #prepare}):
 * inside every block of {@code 2·L} columns, the even columns come first, then the odd ones. Columns past the
 * last full block stay in natural order and are handled by scalar code.
 *
 * <p>Widening is one shift (even elements) or one mask (odd elements).
 */
public final class Bf16Matrix extends WeightMatrix {
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Columns covered by one vector load of packed pairs. */
    static final int BLOCK = 2 * I.length();
    static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    final int fullBlocksEnd;

    Bf16Matrix(MemorySegment data, int rows, int cols) {
        super(data, rows, cols, WeightFormat.BF16);
        this.fullBlocksEnd = cols / BLOCK * BLOCK;
    }

    final long rowBytes(int row) {
        return (long) row * cols * 2;
    }

    /**
     * A fresh array per call, not a thread-local: the parallel tasks read it while the calling pool thread may,
     * in its join, run another session's forward pass, which would overwrite a per-thread buffer.
     */
    @Override
    float[] prepare(float[] x, int tokens) {
        return deinterleave(x, tokens, cols, fullBlocksEnd);
    }

    /**
     * {@code x} ({@code tokens} rows of {@code cols}) with each full block of {@link #BLOCK} columns reordered even
     * columns first, then odd: the order in which a packed-pair format widens a block (BF16 here, F16 too).
     */
    static float[] deinterleave(float[] x, int tokens, int cols, int fullBlocksEnd) {
        float[] xd = new float[tokens * cols];
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

    @Override
    void restore(float[] prepared, int tokens, float[] out, int offset) {
        int half = I.length();
        for (int t = 0; t < tokens; t++) {
            int base = t * cols, o = offset + base;
            for (int b = 0; b < fullBlocksEnd; b += BLOCK) {
                for (int j = 0; j < half; j++) {
                    out[o + b + 2 * j] = prepared[base + b + j];
                    out[o + b + 2 * j + 1] = prepared[base + b + half + j];
                }
            }
            System.arraycopy(prepared, base + fullBlocksEnd, out, o + fullBlocksEnd, cols - fullBlocksEnd);
        }
    }

    /**
     * Products of fewer tokens (batched decode steps of up to seven sessions) stream the rows, two tokens per widened
     * block ({@link #dot4x2}): on the 1B shapes, 2 cores, 23–25 against 18 tokens/s through the panels at four
     * sessions, 29 against 21 at six; equal at eight (29–31 either way), where the panels take over
     * (docs/benchmarks.md).
     */
    @Override
    int panelTokens() {
        return 8;
    }

    @Override
    public WeightFormat format() {
        return WeightFormat.BF16;
    }

    @Override
    public float get(int row, int col) {
        return Float.intBitsToFloat(data.getAtIndex(LE_SHORT, (long) row * cols + col) << 16);
    }

    private static FloatVector even(IntVector packed) {
        return packed.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector odd(IntVector packed) {
        return packed.lanewise(VectorOperators.AND, 0xFFFF0000).reinterpretAsFloats();
    }

    @Override
    void widenRows(int row, int count, float[] panel) {
        int half = I.length();
        for (int i = 0; i < count; i++) {
            long base = rowBytes(row + i);
            int o = i * cols;
            for (int c = 0; c < fullBlocksEnd; c += BLOCK) {
                IntVector packed = IntVector.fromMemorySegment(I, data, base + c * 2L, ByteOrder.LITTLE_ENDIAN);
                even(packed).intoArray(panel, o + c);
                odd(packed).intoArray(panel, o + c + half);
            }
            for (int c = fullBlocksEnd; c < cols; c++) panel[o + c] = get(row + i, c);
        }
    }

    @Override
    void multiplyRows(float[] x, float[] xd, int tokens, float[] out, int rowStart, int rowEnd) {
        int r = rowStart;
        for (; r + 4 <= rowEnd; r += 4) {
            int t = 0;
            for (; t + 2 <= tokens; t += 2) dot4x2(r, x, xd, t, out);
            for (; t < tokens; t++) dot4(r, x, xd, t * cols, out, t * rows);
        }
        for (; r + 2 <= rowEnd; r += 2) {
            for (int t = 0; t < tokens; t++) dot2(r, x, xd, t * cols, out, t * rows);
        }
        for (; r < rowEnd; r++) {
            for (int t = 0; t < tokens; t++) out[t * rows + r] = dot(r, x, xd, t * cols);
        }
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

    /** Rows r..r+3 against one token: four weight streams in flight, each activation load used four times. */
    private void dot4(int r, float[] x, float[] xd, int xOffset, float[] out, int outOffset) {
        long base0 = rowBytes(r), base1 = rowBytes(r + 1), base2 = rowBytes(r + 2), base3 = rowBytes(r + 3);
        int half = I.length();
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int c = 0; c < fullBlocksEnd; c += BLOCK) {
            IntVector p0 = IntVector.fromMemorySegment(I, data, base0 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            IntVector p1 = IntVector.fromMemorySegment(I, data, base1 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            IntVector p2 = IntVector.fromMemorySegment(I, data, base2 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            IntVector p3 = IntVector.fromMemorySegment(I, data, base3 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            FloatVector v = FloatVector.fromArray(F, xd, xOffset + c), u = FloatVector.fromArray(F, xd, xOffset + c + half);
            a0 = odd(p0).fma(u, even(p0).fma(v, a0));
            a1 = odd(p1).fma(u, even(p1).fma(v, a1));
            a2 = odd(p2).fma(u, even(p2).fma(v, a2));
            a3 = odd(p3).fma(u, even(p3).fma(v, a3));
        }
        finish4(r, x, xOffset, out, outOffset, sum(a0), sum(a1), sum(a2), sum(a3));
    }

    /**
     * Rows r..r+3 against tokens t and t+1 (a batched decode step): each weight block is loaded and widened once for
     * both, where a token at a time widened it twice (and the panel path stores it widened and reads it back). Each
     * accumulator sums its columns in {@link #dot4}'s order, so a session's outputs are bit for bit what it gets
     * stepped alone — with both loops compiled (the model warms them at load): the interpreter's lane sum adds in
     * another order. (Four tokens at once, sixteen accumulators, ran at half the speed: too large for C2 to keep the
     * vectors in registers.)
     */
    private void dot4x2(int r, float[] x, float[] xd, int t, float[] out) {
        int half = I.length(), x0 = t * cols, x1 = x0 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00; // a[row][token]
        long base0 = rowBytes(r), base1 = rowBytes(r + 1), base2 = rowBytes(r + 2), base3 = rowBytes(r + 3);
        for (int c = 0; c < fullBlocksEnd; c += BLOCK) {
            FloatVector v0 = FloatVector.fromArray(F, xd, x0 + c), u0 = FloatVector.fromArray(F, xd, x0 + c + half);
            FloatVector v1 = FloatVector.fromArray(F, xd, x1 + c), u1 = FloatVector.fromArray(F, xd, x1 + c + half);
            IntVector p0 = IntVector.fromMemorySegment(I, data, base0 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            IntVector p1 = IntVector.fromMemorySegment(I, data, base1 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            IntVector p2 = IntVector.fromMemorySegment(I, data, base2 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            IntVector p3 = IntVector.fromMemorySegment(I, data, base3 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            FloatVector e0 = even(p0), o0 = odd(p0), e1 = even(p1), o1 = odd(p1), e2 = even(p2), o2 = odd(p2), e3 = even(p3), o3 = odd(p3);
            a00 = o0.fma(u0, e0.fma(v0, a00));
            a01 = o0.fma(u1, e0.fma(v1, a01));
            a10 = o1.fma(u0, e1.fma(v0, a10));
            a11 = o1.fma(u1, e1.fma(v1, a11));
            a20 = o2.fma(u0, e2.fma(v0, a20));
            a21 = o2.fma(u1, e2.fma(v1, a21));
            a30 = o3.fma(u0, e3.fma(v0, a30));
            a31 = o3.fma(u1, e3.fma(v1, a31));
        }
        finish4(r, x, x0, out, t * rows, sum(a00), sum(a10), sum(a20), sum(a30));
        finish4(r, x, x1, out, (t + 1) * rows, sum(a01), sum(a11), sum(a21), sum(a31));
    }

    private static float sum(FloatVector a) {
        return a.reduceLanes(VectorOperators.ADD);
    }

    /** Rows r..r+3 of one token from their lane sums: the columns past the full blocks added, as {@link #dot4} ends. */
    private void finish4(int r, float[] x, int xOffset, float[] out, int outOffset, float s0, float s1, float s2, float s3) {
        for (int c = fullBlocksEnd; c < cols; c++) {
            float xc = x[xOffset + c];
            s0 += get(r, c) * xc;
            s1 += get(r + 1, c) * xc;
            s2 += get(r + 2, c) * xc;
            s3 += get(r + 3, c) * xc;
        }
        out[outOffset + r] = s0;
        out[outOffset + r + 1] = s1;
        out[outOffset + r + 2] = s2;
        out[outOffset + r + 3] = s3;
    }

    /** Rows r and r+1 against one token: four independent FMA chains keep more loads in flight at decode. */
    private void dot2(int r, float[] x, float[] xd, int xOffset, float[] out, int outOffset) {
        long base0 = rowBytes(r), base1 = rowBytes(r + 1);
        int half = I.length();
        FloatVector a0 = FloatVector.zero(F), a1 = a0, b0 = a0, b1 = a0;
        for (int c = 0; c < fullBlocksEnd; c += BLOCK) {
            IntVector p0 = IntVector.fromMemorySegment(I, data, base0 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            IntVector p1 = IntVector.fromMemorySegment(I, data, base1 + c * 2L, ByteOrder.LITTLE_ENDIAN);
            FloatVector v = FloatVector.fromArray(F, xd, xOffset + c), u = FloatVector.fromArray(F, xd, xOffset + c + half);
            a0 = even(p0).fma(v, a0);
            a1 = odd(p0).fma(u, a1);
            b0 = even(p1).fma(v, b0);
            b1 = odd(p1).fma(u, b1);
        }
        float s0 = a0.add(a1).reduceLanes(VectorOperators.ADD), s1 = b0.add(b1).reduceLanes(VectorOperators.ADD);
        for (int c = fullBlocksEnd; c < cols; c++) {
            s0 += get(r, c) * x[xOffset + c];
            s1 += get(r + 1, c) * x[xOffset + c];
        }
        out[outOffset + r] = s0;
        out[outOffset + r + 1] = s1;
    }
}
