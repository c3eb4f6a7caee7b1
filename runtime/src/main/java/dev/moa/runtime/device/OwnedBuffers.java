package dev.moa.runtime.device;

import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.kernel.DeviceBuffer;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/**
 * The buffers a device program owns besides the model's weights (a decode step's activations and caches, a
 * prompt's activations): allocated off-heap here, resident on the backend from first use, freed there together.
 */
final class OwnedBuffers implements AutoCloseable {
    private final Backend backend;
    private final Arena arena = Arena.ofShared();
    private final List<DeviceBuffer> owned = new ArrayList<>();

    OwnedBuffers(Backend backend) {
        this.backend = backend;
    }

    F32Buffer f32(long elements) {
        return own(F32Buffer.allocate(arena, elements));
    }

    Half16Buffer half16(long elements) {
        return own(Half16Buffer.allocate(arena, elements));
    }

    I32Buffer i32(long elements) {
        return own(I32Buffer.allocate(arena, elements));
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
