package dev.moa.tasks.graph;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.kernel.DeviceBuffer;

/** Runs task graphs in the CPU emulator; host memory is the device memory, so residency costs nothing. */
public final class EmulatorBackend implements Backend {
    /** Kernels' parameter lists as the JIT declares them, for the aliasing check; empty where it cannot compile a kernel. */
    private static final java.util.Map<String, java.util.Optional<dev.moa.tasks.cuda.PtxEntry>> ENTRIES = new java.util.concurrent.ConcurrentHashMap<>();
    private static final dev.moa.tasks.jit.KernelCache KERNELS = dev.moa.tasks.jit.KernelCache.standard();

    /**
     * The kernel's entry as the CUDA backend would launch it (its PTX from the standard cache), so that this backend
     * refuses what a GPU launch refuses of its arguments ({@link dev.moa.tasks.cuda.PtxEntry#refuseAliasing}); the
     * emulator runs kernels the JIT cannot compile too, unchecked.
     */
    private static java.util.Optional<dev.moa.tasks.cuda.PtxEntry> entry(Class<?> owner, String method) {
        return ENTRIES.computeIfAbsent(owner.getName() + "#" + method, key -> {
            try {
                String ptx = KERNELS.compile(owner, method, dev.moa.tasks.jit.PtxCompiler.DEFAULT_TARGET).ptx();
                return java.util.Optional.ofNullable(dev.moa.tasks.cuda.PtxEntry.parse(ptx).get(method));
            } catch (RuntimeException notCompilable) {
                return java.util.Optional.empty();
            }
        });
    }

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
            entry(t.owner(), t.method()).ifPresent(e -> e.refuseAliasing(args)); // as a CUDA device would
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
