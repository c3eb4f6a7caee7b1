package dev.moa.tasks.cuda;

import java.lang.foreign.MemorySegment;

/**
 * Page-locked host memory ({@code cuMemAllocHost_v2}): what a copy from the device lands in while the host goes on.
 * Into pageable memory such a copy returns only once it is done, so the host cannot queue more work behind it first;
 * into this memory it is queued like a kernel, and its bytes are there once an event recorded after it has been reached.
 * Freed by {@link #close}.
 */
public final class PinnedMemory implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment segment;
    private boolean closed;

    private PinnedMemory(CudaContext context, MemorySegment segment) {
        this.context = context;
        this.segment = segment;
    }

    static PinnedMemory allocate(CudaContext context, long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("page-locked memory of " + bytes + " bytes: expected a positive size");
        context.makeCurrent();
        return new PinnedMemory(context, context.driver().memAllocHost(bytes));
    }

    /** The memory, {@link #byteSize} bytes. */
    public MemorySegment segment() {
        if (closed) throw new IllegalStateException("page-locked memory already freed");
        return segment;
    }

    public long byteSize() {
        return segment.byteSize();
    }

    /** Frees the memory; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        context.makeCurrent();
        context.driver().memFreeHost(segment);
    }
}
