package dev.moa.tasks.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Device memory of signed bytes (e.g. int8-quantised weights), indexed by {@code long}; {@code ld/st.global.s8} in a kernel. */
public final class I8Buffer implements DeviceBuffer {
    private final MemorySegment memory;

    public I8Buffer(MemorySegment memory) {
        this.memory = memory;
    }

    public static I8Buffer allocate(Arena arena, long elements) {
        return new I8Buffer(arena.allocate(elements, 16));
    }

    public byte get(long index) {
        return memory.get(ValueLayout.JAVA_BYTE, index);
    }

    public void set(long index, byte value) {
        memory.set(ValueLayout.JAVA_BYTE, index, value);
    }

    public long length() {
        return memory.byteSize();
    }

    @Override
    public MemorySegment memory() {
        return memory;
    }
}
