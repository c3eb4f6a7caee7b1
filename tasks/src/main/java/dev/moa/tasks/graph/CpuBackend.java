package dev.moa.tasks.graph;

import dev.moa.tasks.emulator.Emulator;

/** Runs task graphs in the CPU emulator; host memory is the device memory, so residency costs nothing. */
public final class CpuBackend implements Backend {
    @Override
    public String name() {
        return "cpu (emulator)";
    }

    @Override
    public void upload(Object buffer) {
        TaskGraph.memoryOf(buffer);
    }

    @Override
    public void download(Object buffer) {
        TaskGraph.memoryOf(buffer);
    }

    @Override
    public void run(TaskGraph graph) {
        for (TaskGraph.Task t : graph.tasks()) Emulator.launch(t.owner(), t.method(), t.grid(), t.args().toArray());
    }

    @Override
    public void close() {
    }
}
