package dev.moa.runtime.device;

import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.kernel.DeviceBuffer;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.HostMemory;
import dev.moa.tasks.kernel.I32Buffer;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/**
 * The buffers a device program owns besides the model's weights (a decode step's activations and caches, a
 * prompt's activations): allocated off-heap here (zero pages until touched), resident on the backend from first use,
 * freed there together.
 */
final class OwnedBuffers implements AutoCloseable {
    private final Backend backend;
    private final Arena arena = Arena.ofShared();
    private final List<DeviceBuffer> owned = new ArrayList<>();

    OwnedBuffers(Backend backend) {
        this.backend = backend;
    }

    // host copies from calloc (HostMemory): the parts only the device writes or reads never cost a page on the host
    F32Buffer f32(long elements) {
        return own(new F32Buffer(HostMemory.zeroed(arena, elements * Float.BYTES)));
    }

    Half16Buffer half16(long elements) {
        return own(new Half16Buffer(HostMemory.zeroed(arena, elements * 2)));
    }

    I32Buffer i32(long elements) {
        return own(new I32Buffer(HostMemory.zeroed(arena, elements * Integer.BYTES)));
    }

    private <B extends DeviceBuffer> B own(B buffer) {
        owned.add(buffer);
        return buffer;
    }

    /** Frees every buffer on the backend and its host memory. */
    @Override
    public void close() {
        owned.forEach(backend::free);
        arena.close();
    }
}
