package dev.moa.tasks.cuda;

import java.lang.foreign.MemorySegment;

/**
 * Work captured from a stream once and replayed with one call, which is how a whole decode step is launched
 * without paying per-kernel launch cost: {@code cuStreamBeginCapture_v2} / {@code cuStreamEndCapture} record
 * the launches, copies and fills queued in between into a {@code CUgraph};
 * {@code cuGraphInstantiateWithFlags} makes it executable; {@code cuGraphLaunch} replays it;
 * {@code cuGraphExecDestroy} / {@code cuGraphDestroy} free both on {@link #close}.
 *
 * <p>A replay uses the captured kernel arguments as they were: pointers to the same device memory, the same
 * scalars. Work that changes per step reads its inputs from device memory.
 */
public final class CudaGraph implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment graph;
    private final MemorySegment exec;
    private volatile boolean closed;

    private CudaGraph(CudaContext context, MemorySegment graph, MemorySegment exec) {
        this.context = context;
        this.graph = graph;
        this.exec = exec;
    }

    /**
     * Runs {@code work}, which queues GPU work on {@code stream}, capturing instead of executing it. Capture is
     * thread-local: other threads' CUDA calls are unaffected, but {@code work} must not synchronise or allocate.
     */
    public static CudaGraph capture(CudaStream stream, Runnable work) {
        CudaDriver driver = stream.context().driver();
        driver.streamBeginCapture(stream.handle(), CudaDriver.CAPTURE_MODE_THREAD_LOCAL);
        try {
            work.run();
        } catch (RuntimeException | Error e) {
            try {
                MemorySegment partial = driver.streamEndCapture(stream.handle());
                if (!partial.equals(MemorySegment.NULL)) driver.graphDestroy(partial);
            } catch (CudaException ended) {
                e.addSuppressed(ended);
            }
            throw e;
        }
        MemorySegment graph = driver.streamEndCapture(stream.handle());
        try {
            return new CudaGraph(stream.context(), graph, driver.graphInstantiate(graph, 0));
        } catch (RuntimeException e) {
            driver.graphDestroy(graph);
            throw e;
        }
    }

    /** Queues one replay of the captured work on {@code stream}. */
    public void launch(CudaStream stream) {
        if (closed) throw new IllegalStateException("CUDA graph is closed");
        context.driver().graphLaunch(exec, stream.handle());
    }

    /** Frees the executable graph and the graph; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        context.makeCurrent();
        try {
            context.driver().graphExecDestroy(exec);
        } finally {
            context.driver().graphDestroy(graph);
        }
    }
}
