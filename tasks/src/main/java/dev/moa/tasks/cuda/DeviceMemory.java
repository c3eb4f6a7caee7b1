package dev.moa.tasks.cuda;

import java.lang.foreign.MemorySegment;

/**
 * A block of GPU global memory: {@code cuMemAlloc_v2} on creation, {@code cuMemFree_v2} on {@link #close}.
 * Copies to and from host memory ({@code cuMemcpyHtoD_v2} / {@code DtoH_v2} / {@code DtoD_v2}, and their
 * {@code Async} forms on a stream) and fills ({@code cuMemsetD8_v2}, {@code cuMemsetD32_v2}). Passed to a
 * kernel as its device pointer.
 *
 * <p>Host memory must be off-heap (a native {@link MemorySegment}); an asynchronous copy reads or fills it
 * only when the stream gets to it, so keep it alive (and unchanged) until the stream is synchronised.
 */
public final class DeviceMemory implements AutoCloseable {
    private final CudaContext context;
    private final long address;
    private final long byteSize;
    private volatile boolean closed;

    private DeviceMemory(CudaContext context, long address, long byteSize) {
        this.context = context;
        this.address = address;
        this.byteSize = byteSize;
    }

    static DeviceMemory allocate(CudaContext context, long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("device allocation must be > 0 bytes, got " + bytes);
        context.makeCurrent();
        return new DeviceMemory(context, context.driver().memAlloc(bytes), bytes);
    }

    /** The {@code CUdeviceptr}. */
    public long address() {
        checkOpen();
        return address;
    }

    public long byteSize() {
        return byteSize;
    }

    /** Copies all of {@code host} to the start of this memory and waits for the copy. */
    public void copyFrom(MemorySegment host) {
        checkHost(host);
        driver().memcpyHtoD(address, host, host.byteSize());
    }

    /** Queues a copy of all of {@code host} to the start of this memory on {@code stream}. */
    public void copyFrom(MemorySegment host, CudaStream stream) {
        checkHost(host);
        driver().memcpyHtoDAsync(address, host, host.byteSize(), stream.handle());
    }

    /** Fills all of {@code host} from the start of this memory and waits for the copy. */
    public void copyTo(MemorySegment host) {
        checkHost(host);
        driver().memcpyDtoH(host, address, host.byteSize());
    }

    /** Queues a copy from the start of this memory into all of {@code host} on {@code stream}. */
    public void copyTo(MemorySegment host, CudaStream stream) {
        checkHost(host);
        driver().memcpyDtoHAsync(host, address, host.byteSize(), stream.handle());
    }

    /** Copies all of {@code source} (device memory) to the start of this memory. */
    public void copyFrom(DeviceMemory source) {
        checkDevice(source);
        driver().memcpyDtoD(address, source.address(), source.byteSize);
    }

    /** Queues a copy of all of {@code source} (device memory) to the start of this memory on {@code stream}. */
    public void copyFrom(DeviceMemory source, CudaStream stream) {
        checkDevice(source);
        driver().memcpyDtoDAsync(address, source.address(), source.byteSize, stream.handle());
    }

    /** Sets every byte to {@code value}. */
    public void fill(byte value) {
        checkOpen();
        context.makeCurrent();
        context.driver().memsetD8(address, value, byteSize);
    }

    /** Sets every 32-bit word to {@code value} (e.g. {@code Float.floatToRawIntBits(x)}); size must be a multiple of 4. */
    public void fillInts(int value) {
        checkWords();
        context.driver().memsetD32(address, value, byteSize / 4);
    }

    /** Queues {@link #fillInts(int)} on {@code stream}. */
    public void fillInts(int value, CudaStream stream) {
        checkWords();
        context.driver().memsetD32Async(address, value, byteSize / 4, stream.handle());
    }

    /** Frees the memory ({@code cuMemFree_v2}); idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        context.makeCurrent();
        context.driver().memFree(address);
    }

    @Override
    public String toString() {
        return "DeviceMemory[0x" + Long.toHexString(address) + ", " + byteSize + " bytes" + (closed ? ", freed]" : "]");
    }

    private CudaDriver driver() {
        context.makeCurrent();
        return context.driver();
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("device memory already freed: " + this);
    }

    private void checkHost(MemorySegment host) {
        checkOpen();
        if (!host.isNative()) throw new IllegalArgumentException("host memory for a CUDA copy must be off-heap");
        checkFits(host.byteSize());
    }

    private void checkDevice(DeviceMemory source) {
        checkOpen();
        source.checkOpen();
        checkFits(source.byteSize);
    }

    private void checkFits(long bytes) {
        if (bytes > byteSize) {
            throw new IndexOutOfBoundsException("copy of " + bytes + " bytes into device memory of " + byteSize);
        }
    }

    private void checkWords() {
        checkOpen();
        if (byteSize % 4 != 0) throw new IllegalStateException("fillInts needs a multiple of 4 bytes, have " + byteSize);
        context.makeCurrent();
    }
}
