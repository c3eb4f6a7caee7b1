package dev.moa.tasks.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Device memory of 32-bit ints, indexed by {@code long}; {@code ld/st.global.s32} in a kernel. */
public final class I32Buffer implements DeviceBuffer {
    private final MemorySegment memory;

    public I32Buffer(MemorySegment memory) {
        this.memory = memory;
    }

    public static I32Buffer allocate(Arena arena, long elements) {
        return new I32Buffer(arena.allocate(elements * 4, 16));
    }

    public static I32Buffer of(Arena arena, int... values) {
        I32Buffer b = allocate(arena, values.length);
        MemorySegment.copy(values, 0, b.memory, ValueLayout.JAVA_INT, 0, values.length);
        return b;
    }

    public int get(long index) {
        return memory.getAtIndex(ValueLayout.JAVA_INT, index);
    }

    public void set(long index, int value) {
        memory.setAtIndex(ValueLayout.JAVA_INT, index, value);
    }

    public long length() {
        return memory.byteSize() / 4;
    }

    public int[] toArray() {
        return memory.toArray(ValueLayout.JAVA_INT);
    }

    @Override
    public MemorySegment memory() {
        return memory;
    }
}
