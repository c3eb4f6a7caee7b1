package dev.moa.tasks.cuda;

import java.lang.foreign.MemorySegment;
import java.util.Map;

/**
 * PTX compiled for the context's GPU by the driver's JIT ({@code cuModuleLoadDataEx} with the JIT info and error
 * log buffers), its kernels found by name ({@code cuModuleGetFunction}), unloaded on {@link #close}
 * ({@code cuModuleUnload}). A PTX error throws a {@link CudaException} carrying the JIT's error log.
 */
public final class CudaModule implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment handle;
    private final String jitLog;
    /** The parameter lists its PTX declares, which every launch's arguments are checked against. */
    private final Map<String, PtxEntry> entries;
    private volatile boolean closed;

    private CudaModule(CudaContext context, MemorySegment handle, String jitLog, Map<String, PtxEntry> entries) {
        this.context = context;
        this.handle = handle;
        this.jitLog = jitLog;
        this.entries = entries;
    }

    static CudaModule load(CudaContext context, String ptx) {
        Map<String, PtxEntry> entries = PtxEntry.parse(ptx); // before loading: nothing to unload if the PTX cannot be read
        context.makeCurrent();
        CudaDriver.LoadedModule loaded = context.driver().moduleLoad(ptx);
        return new CudaModule(context, loaded.module(), loaded.infoLog(), entries);
    }

    /** What the JIT reported while compiling (registers, spills per kernel at verbose level); may be empty. */
    public String jitLog() {
        return jitLog;
    }

    /** The kernel {@code name} (its {@code .entry} name in the PTX). */
    public CudaFunction function(String name) {
        checkOpen();
        context.makeCurrent();
        return new CudaFunction(this, name, context.driver().moduleGetFunction(handle, name), entries.get(name));
    }

    CudaContext context() {
        return context;
    }

    void checkOpen() {
        if (closed) throw new IllegalStateException("CUDA module is unloaded");
    }

    /** Unloads the module; its functions can no longer be launched. Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        context.makeCurrent();
        context.driver().moduleUnload(handle);
    }
}
