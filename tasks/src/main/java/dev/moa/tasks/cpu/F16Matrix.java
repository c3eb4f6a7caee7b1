package dev.moa.tasks.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * IEEE half-precision weights. The Vector API has no half-to-float conversion, but C2 turns a plain loop of
 * {@link Float#float16ToFloat} into the hardware's (vcvtph2ps on x86); so rows are widened with that loop into
 * L1-resident F32 scratch and multiplied there, in natural column order.
 */
public final class F16Matrix extends WeightMatrix {
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[0]);

    F16Matrix(MemorySegment data, int rows, int cols) {
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

    @Override
    float[] prepare(float[] x, int tokens) {
        return x;
    }

    @Override
    void widenRows(int row, int count, float[] panel) {
        long base = (long) row * cols * 2;
        int n = count * cols;
        for (int i = 0; i < n; i++) panel[i] = Float.float16ToFloat(data.get(LE_SHORT, base + 2L * i));
    }

    @Override
    void multiplyRows(float[] x, float[] unused, int tokens, float[] out, int rowStart, int rowEnd) {
        float[] row = ROW.get();
        if (row.length < cols) {
            row = new float[cols];
            ROW.set(row);
        }
        for (int r = rowStart; r < rowEnd; r++) {
            widenRows(r, 1, row);
            for (int t = 0; t < tokens; t++) out[t * rows + r] = PanelKernel.dot(row, 0, x, t * cols, cols);
        }
    }
}
