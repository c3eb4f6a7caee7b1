package dev.moa.tasks.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** F32 weights: fused multiply–adds straight from the mapped file. */
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
    public void copyRow(int row, float[] out, int offset) {
        MemorySegment.copy(data, LE_FLOAT, (long) row * cols * Float.BYTES, out, offset, cols);
    }

    @Override
    float[] prepare(float[] x, int tokens) {
        return x;
    }

    @Override
    void widenRows(int row, int count, float[] panel) {
        MemorySegment.copy(data, LE_FLOAT, (long) row * cols * Float.BYTES, panel, 0, count * cols);
    }

    @Override
    void multiplyRows(float[] x, float[] unused, int tokens, float[] out, int rowStart, int rowEnd) {
        for (int r = rowStart; r < rowEnd; r++) {
            for (int t = 0; t < tokens; t++) out[t * rows + r] = dot(r, x, t * cols);
        }
    }

    private float dot(int row, float[] x, int xOffset) {
        long base = (long) row * cols * Float.BYTES;
        int c = 0, step = F.length();
        FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
        for (int upper = cols - 2 * step; c <= upper; c += 2 * step) {
            acc0 = FloatVector.fromMemorySegment(F, data, base + (long) c * Float.BYTES, ByteOrder.LITTLE_ENDIAN)
                    .fma(FloatVector.fromArray(F, x, xOffset + c), acc0);
            acc1 = FloatVector.fromMemorySegment(F, data, base + (long) (c + step) * Float.BYTES, ByteOrder.LITTLE_ENDIAN)
                    .fma(FloatVector.fromArray(F, x, xOffset + c + step), acc1);
        }
        for (int upper = F.loopBound(cols); c < upper; c += step) {
            acc0 = FloatVector.fromMemorySegment(F, data, base + (long) c * Float.BYTES, ByteOrder.LITTLE_ENDIAN)
                    .fma(FloatVector.fromArray(F, x, xOffset + c), acc0);
        }
        float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) sum += data.get(LE_FLOAT, base + (long) c * Float.BYTES) * x[xOffset + c];
        return sum;
    }
}
