package dev.moa.tasks.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Device memory of 32-bit floats, indexed by {@code long}. On the CPU it is an off-heap segment (so it can be
 * copied to a GPU unchanged); in a kernel, {@link #get} / {@link #set} compile to {@code ld.global.f32} /
 * {@code st.global.f32} ({@code ld.global.nc} when the kernel never writes the buffer).
 */
public final class F32Buffer implements DeviceBuffer {
    private final MemorySegment memory;

    public F32Buffer(MemorySegment memory) {
        this.memory = memory;
    }

    public static F32Buffer allocate(Arena arena, long elements) {
        return new F32Buffer(arena.allocate(elements * 4, 16));
    }

    public static F32Buffer of(Arena arena, float... values) {
        F32Buffer b = allocate(arena, values.length);
        MemorySegment.copy(values, 0, b.memory, ValueLayout.JAVA_FLOAT, 0, values.length);
        return b;
    }

    public float get(long index) {
        return memory.getAtIndex(ValueLayout.JAVA_FLOAT, index);
    }

    /** Four consecutive floats from {@code index} (a multiple of 4) in one 16-byte load: {@code ld.global.nc.v4.b32}. */
    public Vec16 load4(long index) {
        return Vec16.read(memory, index * 4);
    }

    public void set(long index, float value) {
        memory.setAtIndex(ValueLayout.JAVA_FLOAT, index, value);
    }

    public long length() {
        return memory.byteSize() / 4;
    }

    public float[] toArray() {
        return memory.toArray(ValueLayout.JAVA_FLOAT);
    }

    @Override
    public MemorySegment memory() {
        return memory;
    }
}
