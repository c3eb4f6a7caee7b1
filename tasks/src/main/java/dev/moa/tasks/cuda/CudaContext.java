package dev.moa.tasks.cuda;

import java.lang.foreign.MemorySegment;

/**
 * One GPU's primary context ({@code cuDevicePrimaryCtxRetain} / {@code cuDevicePrimaryCtxRelease}), the
 * context the CUDA runtime and other libraries in the process share. Creates the other CUDA objects and makes
 * itself current ({@code cuCtxSetCurrent}) on whichever thread uses them, so callers never juggle contexts.
 *
 * <p>Which context is current is remembered per thread, so a thread switches (one {@code cuCtxSetCurrent}) only
 * when it moves to another context; code that sets contexts on moa's threads behind this class's back would
 * defeat that. Close what a context created (memory, modules, streams, events, graphs) before closing it.
 */
public final class CudaContext implements AutoCloseable {
    /** The context this binding last made current on each thread. */
    private static final ThreadLocal<CudaContext> CURRENT = new ThreadLocal<>();

    private final CudaDriver driver;
    private final CudaDevice device;
    private final MemorySegment handle;
    private volatile boolean closed;

    private CudaContext(CudaDriver driver, CudaDevice device, MemorySegment handle) {
        this.driver = driver;
        this.device = device;
        this.handle = handle;
    }

    /** The first GPU, through the system driver. */
    public static CudaContext open() {
        return open(CudaDriver.system(), 0);
    }

    /** GPU {@code ordinal}, through the system driver. */
    public static CudaContext open(int ordinal) {
        return open(CudaDriver.system(), ordinal);
    }

    /** GPU {@code ordinal} through {@code driver}: initialises the driver, retains the primary context, makes it current. */
    public static CudaContext open(CudaDriver driver, int ordinal) {
        CudaDevice device = CudaDevice.query(driver, ordinal);
        CudaContext context = new CudaContext(driver, device, driver.primaryContextRetain(device.handle()));
        try {
            context.makeCurrent();
        } catch (RuntimeException e) {
            driver.primaryContextRelease(device.handle());
            throw e;
        }
        return context;
    }

    public CudaDriver driver() {
        return driver;
    }

    public CudaDevice device() {
        return device;
    }

    /** The PTX {@code .target} kernels for this GPU are emitted for ("sm_86", at most "sm_90"). */
    public String ptxTarget() {
        return device.ptxTarget();
    }

    /** The raw {@code CUcontext}. */
    public MemorySegment handle() {
        return handle;
    }

    /** Binds this context to the calling thread ({@code cuCtxSetCurrent}) unless it already is. */
    public void makeCurrent() {
        if (closed) throw new IllegalStateException("CUDA context of device " + device.ordinal() + " is closed");
        if (CURRENT.get() == this) return;
        driver.contextSetCurrent(handle);
        CURRENT.set(this);
    }

    /** Waits for all work queued in this context ({@code cuCtxSynchronize}). */
    public void synchronize() {
        makeCurrent();
        driver.contextSynchronize();
    }

    /** {@code bytes} of device memory. */
    public DeviceMemory allocate(long bytes) {
        return DeviceMemory.allocate(this, bytes);
    }

    /** {@code bytes} of page-locked host memory ({@link PinnedMemory}). */
    public PinnedMemory allocatePinned(long bytes) {
        return PinnedMemory.allocate(this, bytes);
    }

    /** Loads PTX text; a compile error throws with the JIT's log. */
    public CudaModule loadModule(String ptx) {
        return CudaModule.load(this, ptx);
    }

    /** A new non-blocking stream. */
    public CudaStream createStream() {
        return CudaStream.create(this);
    }

    /** A new timing event. */
    public CudaEvent createEvent() {
        return CudaEvent.create(this);
    }

    /** Releases the primary context; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (CURRENT.get() == this) CURRENT.remove();
        driver.primaryContextRelease(device.handle());
    }
}
