package dev.moa.tasks.graph;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.kernel.DeviceBuffer;

/** Runs task graphs in the CPU emulator; host memory is the device memory, so residency costs nothing. */
public final class EmulatorBackend implements Backend {
    @Override
    public String name() {
        return "emulator (the GPU program on the CPU)";
    }

    @Override
    public void upload(DeviceBuffer buffer) {
    }

    @Override
    public void upload(DeviceBuffer buffer, long fromByte, long bytes) {
    }

    @Override
    public void download(DeviceBuffer buffer) {
    }

    @Override
    public void copy(DeviceBuffer from, long fromByte, DeviceBuffer to, long toByte, long bytes) {
        java.lang.foreign.MemorySegment.copy(from.memory(), fromByte, to.memory(), toByte, bytes);
    }

    @Override
    public void run(TaskGraph graph) {
        for (TaskGraph.Task t : graph.tasks()) {
            Object[] args = t.args().toArray();
            dev.moa.tasks.jit.ReadOnlyLoads.refuseAliasing(t.owner(), t.method(), args); // as a CUDA device would
            Emulator.launch(t.owner(), t.method(), t.grid(), args);
        }
    }

    @Override
    public void free(DeviceBuffer buffer) {
    }

    @Override
    public void forget(TaskGraph graph) {
    }

    @Override
    public void close() {
    }
}
