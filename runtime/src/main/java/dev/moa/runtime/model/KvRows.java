package dev.moa.runtime.model;

import dev.moa.tasks.cpu.VectorMath;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The keys or the values of a cache, as it stores them ({@link KvFormat}): consecutive vectors of {@code headDim}
 * values addressed by the index of their first value, written from floats and read only by attention's two
 * products. BF16 storage holds raw bits in a {@code short[]} (half the memory of F32) and widens them inside the
 * SIMD loops; its products are the F32 ones over the rounded values.
 */
abstract sealed class KvRows {
    /** Storage for {@code count} values in {@code format}; {@code what} names it in the error when it cannot be held. */
    static KvRows allocate(KvFormat format, long count, String what) {
        int n = KvCache.arrayLength(count, what);
        return format == KvFormat.BF16 ? new Bf16(new short[n]) : new F32(new float[n]);
    }

    abstract KvFormat format();

    /** Values held. */
    abstract int length();

    /** Stores {@code src[from, from + n)} at {@code at}, rounded to the format. */
    abstract void put(int at, float[] src, int from, int n);

    /** {@code Σ_i q[qo + i] · row[at + i]}, i < n. */
    abstract float dot(float[] q, int qo, int at, int n);

    /** {@code out[oo + i] += s · row[at + i]}, i < n. */
    abstract void addScaled(float[] out, int oo, float s, int at, int n);

    /** Copies values {@code [from, from + count)}, as stored, into {@code memory} from value {@code at} on (values of this format's size). */
    abstract void copyTo(int from, int count, MemorySegment memory, long at);

    /** The inverse of {@link #copyTo}. */
    abstract void copyFrom(MemorySegment memory, long at, int from, int count);

    final long byteSize() {
        return (long) length() * format().bytes();
    }

    static final class F32 extends KvRows {
        final float[] values;

        F32(float[] values) {
            this.values = values;
        }

        @Override
        KvFormat format() {
            return KvFormat.F32;
        }

        @Override
        int length() {
            return values.length;
        }

        @Override
        void put(int at, float[] src, int from, int n) {
            System.arraycopy(src, from, values, at, n);
        }

        @Override
        float dot(float[] q, int qo, int at, int n) {
            return VectorMath.dot(q, qo, values, at, n);
        }

        @Override
        void addScaled(float[] out, int oo, float s, int at, int n) {
            VectorMath.addScaled(out, oo, s, values, at, n);
        }

        @Override
        void copyTo(int from, int count, MemorySegment memory, long at) {
            MemorySegment.copy(values, from, memory, ValueLayout.JAVA_FLOAT, at * Float.BYTES, count);
        }

        @Override
        void copyFrom(MemorySegment memory, long at, int from, int count) {
            MemorySegment.copy(memory, ValueLayout.JAVA_FLOAT, at * Float.BYTES, values, from, count);
        }
    }

    static final class Bf16 extends KvRows {
        private final short[] bits;

        Bf16(short[] bits) {
            this.bits = bits;
        }

        @Override
        KvFormat format() {
            return KvFormat.BF16;
        }

        @Override
        int length() {
            return bits.length;
        }

        @Override
        void put(int at, float[] src, int from, int n) {
            for (int i = 0; i < n; i++) bits[at + i] = KernelContext.floatToBf16(src[from + i]);
        }

        @Override
        float dot(float[] q, int qo, int at, int n) {
            return VectorMath.dot(q, qo, bits, at, n);
        }

        @Override
        void addScaled(float[] out, int oo, float s, int at, int n) {
            VectorMath.addScaled(out, oo, s, bits, at, n);
        }

        @Override
        void copyTo(int from, int count, MemorySegment memory, long at) {
            MemorySegment.copy(bits, from, memory, ValueLayout.JAVA_SHORT, at * 2, count);
        }

        @Override
        void copyFrom(MemorySegment memory, long at, int from, int count) {
            MemorySegment.copy(memory, ValueLayout.JAVA_SHORT, at * 2, bits, from, count);
        }
    }
}
