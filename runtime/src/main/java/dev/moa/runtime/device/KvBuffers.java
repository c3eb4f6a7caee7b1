package dev.moa.runtime.device;

import dev.moa.runtime.model.KvFormat;
import dev.moa.tasks.kernel.DeviceBuffer;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import java.lang.foreign.MemorySegment;

/**
 * One layer's keys and values on the device, stored in {@code format}, as the cache kernels take them
 * ({@code dev.moa.tasks.kernels.KvStore}): an F32 and a BF16 buffer each, the one of the other format a one-vector
 * placeholder the kernels never touch.
 */
record KvBuffers(F32Buffer keys, F32Buffer values, Half16Buffer keys16, Half16Buffer values16, KvFormat format) {
    /** Room for {@code count} keys and {@code count} values in {@code format}. */
    static KvBuffers allocate(OwnedBuffers buffers, KvFormat format, long count) {
        boolean bf16 = format == KvFormat.BF16;
        return new KvBuffers(buffers.f32(bf16 ? 4 : count), buffers.f32(bf16 ? 4 : count), buffers.half16(bf16 ? count : 8),
                buffers.half16(bf16 ? count : 8), format);
    }

    /** The buffer the keys live in. */
    DeviceBuffer keyBuffer() {
        return format == KvFormat.BF16 ? keys16 : keys;
    }

    /** The buffer the values live in. */
    DeviceBuffer valueBuffer() {
        return format == KvFormat.BF16 ? values16 : values;
    }

    /** Host memory of the keys, values of the format's size ({@code KvCache.exportGroup} writes it). */
    MemorySegment keyMemory() {
        return keyBuffer().memory();
    }

    MemorySegment valueMemory() {
        return valueBuffer().memory();
    }

    long byteSize() {
        return keyMemory().byteSize() + valueMemory().byteSize();
    }
}
