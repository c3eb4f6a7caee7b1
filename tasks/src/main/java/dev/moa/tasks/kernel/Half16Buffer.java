package dev.moa.tasks.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Device memory of 16-bit floats (BF16 or F16, as stored in safetensors), indexed by {@code long}. A kernel reads
 * raw bits with {@link #get} ({@code ld.global.u16}) and widens them with {@link KernelContext#bf16ToFloat} or
 * {@link KernelContext#f16ToFloat}.
 */
public final class Half16Buffer implements DeviceBuffer {
    private final MemorySegment memory;

    public Half16Buffer(MemorySegment memory) {
        this.memory = memory;
    }

    public static Half16Buffer allocate(Arena arena, long elements) {
        return new Half16Buffer(arena.allocate(elements * 2, 16));
    }

    public short get(long index) {
        return memory.getAtIndex(ValueLayout.JAVA_SHORT, index);
    }

    /**
     * Eight consecutive elements from {@code index} (a multiple of 8, so the load is 16-byte aligned) in one
     * 16-byte load: {@code ld.global.nc.v4.b32}.
     */
    public Vec16 load8(long index) {
        return Vec16.read(memory, index * 2);
    }

    /**
     * As {@link #load8}, for data the kernel reads once (a matvec's weights, streamed): the load does not allocate in the
     * L1 cache ({@code ld.global.nc.L1::no_allocate.v4.b32}), so the L1 keeps what the kernel's warps read again and
     * again (the activations every warp of a matvec reads whole) instead of lines no one will read.
     */
    public Vec16 load8Once(long index) {
        return load8(index);
    }

    /**
     * Four consecutive elements from {@code index} (a multiple of 4, so the load is 8-byte aligned) in one 8-byte
     * load ({@code ld.global.nc.v2.b32}), as words 0 and 1 of the vector; words 2 and 3 are zero.
     */
    public Vec16 load4(long index) {
        return Vec16.read8(memory, index * 2);
    }

    public void set(long index, short bits) {
        memory.setAtIndex(ValueLayout.JAVA_SHORT, index, bits);
    }

    public long length() {
        return memory.byteSize() / 2;
    }

    @Override
    public MemorySegment memory() {
        return memory;
    }
}
