package dev.moa.tasks.kernel;

import java.lang.foreign.MemorySegment;

/** A kernel buffer of any element type: its host (off-heap) memory, which backends upload and download as bytes. */
public sealed interface DeviceBuffer permits F32Buffer, I32Buffer, Half16Buffer, I8Buffer {
    MemorySegment memory();
}
