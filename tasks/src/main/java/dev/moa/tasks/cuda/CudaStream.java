package dev.moa.tasks.cuda;

import java.lang.foreign.MemorySegment;

/**
 * A queue of GPU work that runs in order: {@code cuStreamCreate} (non-blocking, so it never waits on the legacy
 * default stream), {@code cuStreamSynchronize}, {@code cuStreamDestroy_v2}. Asynchronous copies, launches,
 * events and graph replays are queued on one; a {@link CudaGraph} is captured from one.
 */
public final class CudaStream implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment handle;
    private volatile boolean closed;

    private CudaStream(CudaContext context, MemorySegment handle) {
        this.context = context;
        this.handle = handle;
    }

    static CudaStream create(CudaContext context) {
        context.makeCurrent();
        return new CudaStream(context, context.driver().streamCreate(CudaDriver.STREAM_NON_BLOCKING));
    }

    public CudaContext context() {
        return context;
    }

    /** The raw {@code CUstream}; makes the stream's context current, as every use of the handle needs it. */
    public MemorySegment handle() {
        if (closed) throw new IllegalStateException("CUDA stream is closed");
        context.makeCurrent();
        return handle;
    }

    /** Waits until everything queued so far has run. */
    public void synchronize() {
        context.driver().streamSynchronize(handle());
    }

    /** Destroys the stream; work already queued still completes. Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        MemorySegment h = handle();
        closed = true;
        context.driver().streamDestroy(h);
    }
}
