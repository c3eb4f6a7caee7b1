package dev.moa.tasks.kernels;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Vec16;

/**
 * How a device KV cache stores its keys and values — {@link #F32}, or {@link #BF16} in half the bytes — and the
 * reads and writes kernels make of it, written once. A kernel that touches the cache takes each of its keys and
 * values twice, as an {@link F32Buffer} and as a {@link Half16Buffer}, and the format: the buffer of the other
 * format is a placeholder the kernel never reads or writes (the kernel API's buffers are typed, a PTX pointer is
 * not). The format is the same for every work-item of a launch, so its branches never diverge.
 *
 * <p>BF16 storage rounds each value to nearest even as it is written ({@link KernelContext#floatToBf16}, one
 * {@code cvt.rn.bf16.f32}; the CPU cache rounds the same way) and widens it exactly as it is read.
 */
public final class KvStore {
    /** Keys and values as F32: what the model computes, unrounded. */
    public static final int F32 = 0;
    /** Keys and values as BF16: half the memory and half the bytes each decode step reads. */
    public static final int BF16 = 1;

    private KvStore() {
    }

    /** Element {@code i} as a float. */
    static float get(F32Buffer f32, Half16Buffer bf16, int format, long i) {
        return format == BF16 ? KernelContext.bf16ToFloat(bf16.get(i)) : f32.get(i);
    }

    /** Elements {@code i..i+3} ({@code i} a multiple of 4) as four floats: one 16-byte load of F32, one 8-byte load of BF16. */
    static Vec16 load4(F32Buffer f32, Half16Buffer bf16, int format, long i) {
        if (format == BF16) {
            Vec16 v = bf16.load4(i);
            return Vec16.ofFloats(v.bf16(0), v.bf16(1), v.bf16(2), v.bf16(3));
        }
        return f32.load4(i);
    }

    /** {@code x} rounded to BF16 and widened back: the value a BF16 cache holds of it. */
    public static float round(float x) {
        return KernelContext.bf16ToFloat(KernelContext.floatToBf16(x));
    }

    /** {@code x} as a cache of {@code format} holds it: {@link #round}ed for BF16, as it is for F32. */
    static float asStored(float x, int format) {
        return format == BF16 ? round(x) : x;
    }

    /** Stores {@code x} as element {@code i}, rounded to BF16 when the cache is. */
    static void set(F32Buffer f32, Half16Buffer bf16, int format, long i, float x) {
        if (format == BF16) {
            bf16.set(i, KernelContext.floatToBf16(x));
        } else {
            f32.set(i, x);
        }
    }
}
