package dev.moa.tasks.cuda;

import java.lang.foreign.MemorySegment;

/**
 * A marker in a stream for timing GPU work: {@code cuEventCreate}, {@code cuEventRecord},
 * {@code cuEventSynchronize}, {@code cuEventElapsedTime}, {@code cuEventDestroy_v2}.
 *
 * <pre>{@code
 * start.record(stream); kernel.launch(...); end.record(stream);
 * end.synchronize();
 * float ms = CudaEvent.elapsedMillis(start, end);
 * }</pre>
 */
public final class CudaEvent implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment handle;
    private volatile boolean closed;

    private CudaEvent(CudaContext context, MemorySegment handle) {
        this.context = context;
        this.handle = handle;
    }

    static CudaEvent create(CudaContext context) {
        context.makeCurrent();
        return new CudaEvent(context, context.driver().eventCreate(CudaDriver.EVENT_DEFAULT));
    }

    /** Marks the point in {@code stream} reached when the work queued on it so far has run. */
    public void record(CudaStream stream) {
        context.driver().eventRecord(handle(), stream.handle());
    }

    /** Waits until the recorded point is reached. */
    public void synchronize() {
        context.driver().eventSynchronize(handle());
    }

    /** Milliseconds of GPU time between two recorded, completed events (about 0.5 µs resolution). */
    public static float elapsedMillis(CudaEvent start, CudaEvent end) {
        return end.context.driver().eventElapsedTime(start.handle(), end.handle());
    }

    /** The raw {@code CUevent}. */
    public MemorySegment handle() {
        if (closed) throw new IllegalStateException("CUDA event is closed");
        context.makeCurrent();
        return handle;
    }

    /** Destroys the event; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        MemorySegment h = handle();
        closed = true;
        context.driver().eventDestroy(h);
    }
}
