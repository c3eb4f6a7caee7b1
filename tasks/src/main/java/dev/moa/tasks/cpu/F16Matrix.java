package dev.moa.tasks.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * IEEE half-precision weights, read as {@link Bf16Matrix} reads BF16: 32-bit lanes of neighbouring pairs, the low
 * halves widened into the block's even elements and the high halves into its odd ones, against activations
 * de-interleaved to match ({@link Bf16Matrix#deinterleave}).
 *
 * <p>The Vector API has no half-to-float conversion, so a half is widened with lane operations ({@link #even}, {@link #odd}): its
 * exponent and mantissa bits moved up 13 places read as an F32 are its value times 2^-112 — subnormal halves too —
 * so one multiply by 2^112 gives the value; infinities and NaNs (which come out at 2^16 and above) get the all-ones
 * exponent (and NaNs the quiet bit, as {@link Float#float16ToFloat} gives them), and the sign is put back. Bit for
 * bit {@link Float#float16ToFloat} for all 65,536 halves ({@code WeightMatrixTest}). Decode (one token, 16384 × 4096,
 * 2 cores) streams 19.0–19.3 GB/s this way against 12.7–15.4 for what it replaced, a scalar loop of {@code Float.float16ToFloat}
 * into a scratch row ({@code moa bench kernels}, alternated).
 *
 * <p>The loops are this class's own, not shared with {@link Bf16Matrix} behind a widening chosen per format: C2
 * compiles a shared loop with both widenings in it, and such a loop ran both formats at a fifth of their speed.
 */
public final class F16Matrix extends WeightMatrix {
    private static final VectorSpecies<Integer> I = Bf16Matrix.I;
    private static final VectorSpecies<Float> F = Bf16Matrix.F;
    private static final int BLOCK = Bf16Matrix.BLOCK;
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** 2^112: a half's bits moved into an F32's place are its value times 2^-112. */
    private static final float RESCALE = 0x1p112f;
    /** The bits of the smallest rescaled magnitude of an infinity or a NaN, 2^16 (the largest finite half is 65504). */
    private static final int NOT_FINITE_BITS = Float.floatToRawIntBits(65536f);

    private final int fullBlocksEnd;

    F16Matrix(MemorySegment data, int rows, int cols) {
        super(data, rows, cols, WeightFormat.F16);
        this.fullBlocksEnd = cols / BLOCK * BLOCK;
    }

    @Override
    public WeightFormat format() {
        return WeightFormat.F16;
    }

    @Override
    public float get(int row, int col) {
        return Float.float16ToFloat(data.getAtIndex(LE_SHORT, (long) row * cols + col));
    }

    /**
     * De-interleaved for the row loop ({@link #multiplyRows}: fewer than {@link #panelTokens} tokens); as they are for
     * the panels, which {@link #widenRows} fills in natural order.
     */
    @Override
    float[] prepare(float[] x, int tokens) {
        return tokens >= panelTokens() ? x : Bf16Matrix.deinterleave(x, tokens, cols, fullBlocksEnd);
    }

    /** The low halves of the lanes (a block's even elements) as F32: sign from bit 15, the rest from bits 0..14. */
    static FloatVector even(IntVector packed) {
        IntVector bits = packed.lanewise(VectorOperators.LSHL, 13).and(0x0FFFE000).reinterpretAsFloats().mul(RESCALE).reinterpretAsInts();
        return bits.or(special(bits)).or(packed.lanewise(VectorOperators.LSHL, 16).and(0x80000000)).reinterpretAsFloats();
    }

    /** The high halves of the lanes (a block's odd elements) as F32: sign from bit 31, the rest from bits 16..30. */
    static FloatVector odd(IntVector packed) {
        IntVector bits = packed.lanewise(VectorOperators.LSHR, 3).and(0x0FFFE000).reinterpretAsFloats().mul(RESCALE).reinterpretAsInts();
        return bits.or(special(bits)).or(packed.and(0x80000000)).reinterpretAsFloats();
    }

    /**
     * For rescaled magnitudes {@code bits} (non-negative): the all-ones exponent where a half was an infinity or a NaN
     * (2^16 and above), and the quiet bit where it was a NaN (above). Arithmetic ({@code (limit - bits) >> 31}: all
     * ones past the limit), not vector masks, which C2 handled far more slowly here.
     */
    private static IntVector special(IntVector bits) {
        IntVector negated = bits.lanewise(VectorOperators.NEG);
        return negated.add(NOT_FINITE_BITS - 1).lanewise(VectorOperators.ASHR, 31).and(0x7F800000)
                .or(negated.add(NOT_FINITE_BITS).lanewise(VectorOperators.ASHR, 31).and(0x00400000));
    }

    /**
     * Natural column order, by a plain loop of {@link Float#float16ToFloat}, which C2 turns into the hardware's vector
     * conversion (vcvtph2ps) here: a panel is widened once for a whole prompt chunk.
     */
    @Override
    void widenRows(int row, int count, float[] panel) {
        long base = (long) row * cols * 2;
        int n = count * cols;
        for (int i = 0; i < n; i++) panel[i] = Float.float16ToFloat(data.get(LE_SHORT, base + 2L * i));
    }

    /**
     * Row by row, each token on its own (so a token's outputs do not depend on how many share the call). One row per
     * loop, not four as BF16's: the widening is some twenty vector operations, and with four rows' worth in one loop C2
     * stops inlining them (its node-count cutoff), which ran the loop at a fifth of the speed.
     */
    @Override
    void multiplyRows(float[] x, float[] xd, int tokens, float[] out, int rowStart, int rowEnd) {
        for (int r = rowStart; r < rowEnd; r++) {
            for (int t = 0; t < tokens; t++) out[t * rows + r] = dot(r, x, xd, t * cols);
        }
    }

    private float dot(int row, float[] x, float[] xd, int xOffset) {
        long base = (long) row * cols * 2;
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
}
