package dev.moa.tasks.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** Device buffers' host memory from calloc: zeroed, aligned, writable, the asked size, gone with its arena. */
class HostMemoryTest {
    @Test
    void zeroedAlignedWritableAndFreedWithItsArena() {
        MemorySegment kept;
        try (Arena arena = Arena.ofShared()) {
            for (long bytes : new long[] {0, 1, 4096, 3 << 20}) {
                MemorySegment m = HostMemory.zeroed(arena, bytes);
                assertEquals(bytes, m.byteSize());
                assertEquals(0, m.address() % 16, "16-byte aligned, as 16-byte loads and ldmatrix staging need");
                for (long i = 0; i < bytes; i += 4093) assertEquals(0, m.get(ValueLayout.JAVA_BYTE, i), "zero at " + i);
                if (bytes > 0) {
                    m.set(ValueLayout.JAVA_BYTE, bytes - 1, (byte) 7);
                    assertEquals(7, m.get(ValueLayout.JAVA_BYTE, bytes - 1));
                }
            }
            kept = HostMemory.zeroed(arena, 64);
            F32Buffer buffer = new F32Buffer(HostMemory.zeroed(arena, 16 * 4));
            buffer.set(15, 2.5f);
            assertEquals(2.5f, buffer.get(15));
        }
        assertThrows(IllegalStateException.class, () -> kept.get(ValueLayout.JAVA_BYTE, 0), "freed with its arena");
        assertThrows(IllegalArgumentException.class, () -> HostMemory.zeroed(Arena.global(), -1));
    }
}
