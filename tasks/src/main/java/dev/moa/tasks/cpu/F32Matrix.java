package dev.moa.tasks.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** F32 weights: plain fused multiply–adds, two rows × four tokens per register block. */
public final class F32Matrix extends WeightMatrix {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    F32Matrix(MemorySegment data, int rows, int cols) {
        super(data, rows, cols, WeightFormat.F32);
    }

    @Override
    public WeightFormat format() {
        return WeightFormat.F32;
    }

    @Override
    public float get(int row, int col) {
        return data.getAtIndex(LE_FLOAT, (long) row * cols + col);
    }

    @Override
    float[] prepare(float[] x, int tokens) {
        return x;
    }

    @Override
    void multiplyRows(float[] x, float[] unused, int tokens, float[] out, int rowStart, int rowEnd) {
        int r = rowStart;
        for (; r + 2 <= rowEnd; r += 2) {
            int t = 0;
            for (; t + 4 <= tokens; t += 4) block2x4(x, tokens, out, r, t);
            for (; t < tokens; t++) {
                out[t * rows + r] = dot(r, x, t * cols);
                out[t * rows + r + 1] = dot(r + 1, x, t * cols);
            }
        }
        for (; r < rowEnd; r++) {
            for (int t = 0; t < tokens; t++) out[t * rows + r] = dot(r, x, t * cols);
        }
    }

    private float dot(int row, float[] x, int xOffset) {
        long base = (long) row * cols * Float.BYTES;
        int c = 0;
        FloatVector acc = FloatVector.zero(F);
        for (int upper = F.loopBound(cols); c < upper; c += F.length()) {
            FloatVector w = FloatVector.fromMemorySegment(F, data, base + (long) c * Float.BYTES, ByteOrder.LITTLE_ENDIAN);
            acc = w.fma(FloatVector.fromArray(F, x, xOffset + c), acc);
        }
        float sum = acc.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
        for (; c < cols; c++) sum += data.get(LE_FLOAT, base + (long) c * Float.BYTES) * x[xOffset + c];
        return sum;
    }

    /** Rows r, r+1 against tokens t..t+3: each weight vector loaded once, used four times. */
    private void block2x4(float[] x, int tokens, float[] out, int r, int t) {
        long base0 = (long) r * cols * Float.BYTES, base1 = base0 + (long) cols * Float.BYTES;
        int x0 = t * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        int c = 0;
        for (int upper = F.loopBound(cols); c < upper; c += F.length()) {
            FloatVector w0 = FloatVector.fromMemorySegment(F, data, base0 + (long) c * Float.BYTES, ByteOrder.LITTLE_ENDIAN);
            FloatVector w1 = FloatVector.fromMemorySegment(F, data, base1 + (long) c * Float.BYTES, ByteOrder.LITTLE_ENDIAN);
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + c);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + c);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + c);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + c);
            a00 = w0.fma(v0, a00); a01 = w0.fma(v1, a01); a02 = w0.fma(v2, a02); a03 = w0.fma(v3, a03);
            a10 = w1.fma(v0, a10); a11 = w1.fma(v1, a11); a12 = w1.fma(v2, a12); a13 = w1.fma(v3, a13);
        }
        float s00 = sum(a00), s01 = sum(a01), s02 = sum(a02), s03 = sum(a03);
        float s10 = sum(a10), s11 = sum(a11), s12 = sum(a12), s13 = sum(a13);
        for (; c < cols; c++) {
            float w0 = data.get(LE_FLOAT, base0 + (long) c * Float.BYTES);
            float w1 = data.get(LE_FLOAT, base1 + (long) c * Float.BYTES);
            s00 += w0 * x[x0 + c]; s01 += w0 * x[x1 + c]; s02 += w0 * x[x2 + c]; s03 += w0 * x[x3 + c];
            s10 += w1 * x[x0 + c]; s11 += w1 * x[x1 + c]; s12 += w1 * x[x2 + c]; s13 += w1 * x[x3 + c];
        }
        out[t * rows + r] = s00; out[(t + 1) * rows + r] = s01; out[(t + 2) * rows + r] = s02; out[(t + 3) * rows + r] = s03;
        out[t * rows + r + 1] = s10; out[(t + 1) * rows + r + 1] = s11; out[(t + 2) * rows + r + 1] = s12; out[(t + 3) * rows + r + 1] = s13;
    }

    private static float sum(FloatVector v) {
        return v.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }
}
