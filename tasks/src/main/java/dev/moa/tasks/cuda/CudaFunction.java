package dev.moa.tasks.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One kernel of a loaded {@link CudaModule} (a {@code CUfunction}), launched with {@code cuLaunchKernel} (or
 * {@code cuLaunchKernelEx} to overlap the kernel before it, {@link #launchOverlapping}).
 *
 * <p>Arguments follow the kernel's PTX parameter list in order: a {@link DeviceMemory} becomes its 64-bit device
 * pointer ({@code .param .u64}), an {@code int} a {@code .u32}/{@code .s32}, a {@code long} a {@code .u64}/{@code
 * .s64} (also a raw device pointer), a {@code float} an {@code .f32}, a {@code double} an {@code .f64}. Each value
 * is written to native memory and the driver gets the {@code void**} array of pointers to them; it copies the
 * values during the call, so nothing outlives the launch. The arguments are checked against the parameter list the
 * PTX declares ({@link PtxEntry}) first: the driver would take a drifted list without a word.
 */
public final class CudaFunction {
    private final CudaModule module;
    private final String name;
    private final MemorySegment handle;
    /** Its PTX parameter list (null where the PTX's could not be read): each launch's arguments must match it. */
    private final PtxEntry entry;

    CudaFunction(CudaModule module, String name, MemorySegment handle, PtxEntry entry) {
        this.module = module;
        this.name = name;
        this.handle = handle;
        this.entry = entry;
    }

    public String name() {
        return name;
    }

    /** Dynamic shared memory launches may ask for, as far as this function has raised it ({@link #allowDynamicShared}). */
    private int dynamicSharedLimit;

    /**
     * Lets launches ask for up to {@code bytes} of dynamic shared memory ({@code cuFuncSetAttribute}
     * MAX_DYNAMIC_SHARED_SIZE_BYTES), once per size. Without it the driver allows 48 KB <em>less the kernel's static
     * shared arrays</em>, so a kernel with 25 KB of static arrays and 36 KB of dynamic ones must opt in too: any size
     * above what was allowed before is set.
     */
    public void allowDynamicShared(int bytes) {
        if (bytes <= dynamicSharedLimit) return;
        module.checkOpen();
        CudaContext context = module.context();
        context.makeCurrent();
        context.driver().functionSetAttribute(handle, CudaDriver.MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
        dynamicSharedLimit = bytes;
    }

    /**
     * Whether the kernel waits for the kernels before it itself ({@code griddepcontrol.wait}, {@link
     * dev.moa.tasks.kernel.KernelContext#awaitPriorKernels}), so that it may be launched to overlap them ({@link
     * #launchOverlapping}).
     */
    public boolean awaitsPriorKernels() {
        return entry != null && entry.awaitsPriorKernels();
    }

    /** The raw {@code CUfunction}. */
    public MemorySegment handle() {
        return handle;
    }

    /**
     * Queues the kernel on {@code stream} (null: the legacy default stream) with {@code grid} blocks of
     * {@code block} threads and {@code sharedBytes} of dynamic shared memory per block.
     */
    public void launch(Dim3 grid, Dim3 block, int sharedBytes, CudaStream stream, Object... args) {
        launch(grid, block, sharedBytes, stream, false, args);
    }

    /**
     * As {@link #launch}, with programmatic stream serialization: the kernel's groups may start while the previous
     * kernel on {@code stream} finishes, so it must wait for it itself ({@link #awaitsPriorKernels}; refused otherwise,
     * since it would read what that kernel is still writing).
     */
    public void launchOverlapping(Dim3 grid, Dim3 block, int sharedBytes, CudaStream stream, Object... args) {
        if (!awaitsPriorKernels()) throw new IllegalStateException("kernel " + name + " does not wait for the kernels before it: it cannot overlap them");
        launch(grid, block, sharedBytes, stream, true, args);
    }

    private void launch(Dim3 grid, Dim3 block, int sharedBytes, CudaStream stream, boolean overlapping, Object... args) {
        module.checkOpen();
        if (sharedBytes < 0) throw new IllegalArgumentException("dynamic shared memory must be >= 0, got " + sharedBytes);
        MemorySegment streamHandle = stream == null ? MemorySegment.NULL : stream.handle();
        CudaContext context = module.context();
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = packParameters(arena, args);
            CudaDriver driver = context.driver();
            if (overlapping) {
                driver.launchKernelOverlapping(handle, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(), sharedBytes, streamHandle, params);
            } else {
                driver.launchKernel(handle, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(), sharedBytes, streamHandle, params);
            }
        }
    }

    /** The {@code void**} kernel parameter array: one pointer per argument, each to a copy of its value. */
    MemorySegment packParameters(Arena arena, Object... args) {
        if (entry != null) entry.check(args);
        if (args.length == 0) return MemorySegment.NULL;
        MemorySegment pointers = arena.allocate(ADDRESS, args.length);
        for (int i = 0; i < args.length; i++) {
            MemorySegment value = switch (args[i]) {
                case DeviceMemory memory -> arena.allocateFrom(JAVA_LONG, memory.address());
                case Integer v -> arena.allocateFrom(JAVA_INT, v);
                case Long v -> arena.allocateFrom(JAVA_LONG, v);
                case Float v -> arena.allocateFrom(JAVA_FLOAT, v);
                case Double v -> arena.allocateFrom(JAVA_DOUBLE, v);
                case null -> throw new IllegalArgumentException("argument " + i + " of kernel " + name + " is null");
                default -> throw new IllegalArgumentException("argument " + i + " of kernel " + name + " is a "
                        + args[i].getClass().getSimpleName() + "; kernels take DeviceMemory, int, long, float or double");
            };
            pointers.setAtIndex(ADDRESS, i, value);
        }
        return pointers;
    }

    @Override
    public String toString() {
        return "CudaFunction[" + name + "]";
    }
}
