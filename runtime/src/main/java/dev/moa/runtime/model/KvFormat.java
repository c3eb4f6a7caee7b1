package dev.moa.runtime.model;

import dev.moa.tasks.kernels.KvStore;

/**
 * How a KV cache stores keys and values, on the CPU and on a device alike: F32 (what the model computes), or BF16 —
 * half the memory, so twice the context or twice the sessions in the same memory, and half the bytes a decode step's
 * attention reads. A BF16 cache rounds each key and value to nearest even when it is written, and everything that
 * attends — prefill and decode, CPU and device — reads the rounded values, so both devices compute the same thing.
 */
public enum KvFormat {
    F32(Float.BYTES, KvStore.F32),
    BF16(2, KvStore.BF16);

    private final int bytes;
    private final int kernelFlag;

    KvFormat(int bytes, int kernelFlag) {
        this.bytes = bytes;
        this.kernelFlag = kernelFlag;
    }

    /** Bytes of one stored value. */
    public int bytes() {
        return bytes;
    }

    /** The format as the device kernels take it ({@link KvStore}). */
    public int kernelFlag() {
        return kernelFlag;
    }

    /** {@code x} as this format stores it (BF16: rounded to nearest even, the GPU's {@code cvt.rn.bf16.f32}). */
    public float round(float x) {
        return this == BF16 ? KvStore.round(x) : x;
    }

    /** Rounds {@code x[from, from + n)} in place to what this format stores. */
    public void round(float[] x, int from, int n) {
        if (this == F32) return;
        for (int i = from; i < from + n; i++) x[i] = round(x[i]);
    }
}
