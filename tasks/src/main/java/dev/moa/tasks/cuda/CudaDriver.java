package dev.moa.tasks.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The raw CUDA driver API ({@code libcuda.so.1}, the library every NVIDIA driver installs) bound through the
 * FFM API: no JNI, no CUDA toolkit at run time. One method per driver entry point, taking and returning raw
 * handles ({@code CUcontext}, {@code CUstream}, ... as {@link MemorySegment} addresses, {@code CUdeviceptr} as
 * {@code long}, {@code CUdevice} as {@code int}); every {@code CUresult} is checked and a failure thrown as a
 * {@link CudaException} naming the entry point. Each entry point is looked up and linked on its first call,
 * so a driver that lacks a rarely used one still serves the rest.
 *
 * <p>Most code wants the small wrappers instead: {@link CudaContext}, {@link DeviceMemory},
 * {@link CudaModule}, {@link CudaFunction}, {@link CudaStream}, {@link CudaEvent}, {@link CudaGraph}.
 * Apart from {@link #init}, {@link #deviceCount} and the device queries, the calls need a context current on
 * the calling thread, which the wrappers take care of.
 *
 * <p>Linking native code is what this class is for, hence the restricted FFM methods; the JVM needs
 * {@code --enable-native-access=ALL-UNNAMED} (the launcher and the test runs pass it).
 */
@SuppressWarnings("restricted")
public final class CudaDriver {
    /** The driver library's soname, found through the normal dynamic-linker search. */
    public static final String DEFAULT_LIBRARY = "libcuda.so.1";
    /** System property naming another driver library (a name or a path), e.g. a fake one for tests. */
    public static final String LIBRARY_PROPERTY = "moa.cuda.library";

    // CUdevice_attribute values used here (cuda.h).
    public static final int ATTRIBUTE_WARP_SIZE = 10;
    public static final int ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    public static final int ATTRIBUTE_MEMORY_CLOCK_RATE_KHZ = 36;
    public static final int ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH_BITS = 37;
    public static final int ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    public static final int ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    public static final int ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;

    // CUjit_option values for cuModuleLoadDataEx.
    static final int JIT_INFO_LOG_BUFFER = 3;
    static final int JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4;
    static final int JIT_ERROR_LOG_BUFFER = 5;
    static final int JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
    static final int JIT_LOG_VERBOSE = 12;
    private static final int JIT_LOG_BYTES = 16 * 1024;

    /** CU_STREAM_NON_BLOCKING: the stream does not wait for work on the legacy default stream. */
    public static final int STREAM_NON_BLOCKING = 1;
    /** CU_EVENT_DEFAULT: an event that records timing. */
    public static final int EVENT_DEFAULT = 0;
    /** CUstreamCaptureMode values for {@link #streamBeginCapture}. */
    public static final int CAPTURE_MODE_GLOBAL = 0, CAPTURE_MODE_THREAD_LOCAL = 1, CAPTURE_MODE_RELAXED = 2;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MemoryLayout SIZE_T = JAVA_LONG;

    private static CudaDriver system;
    private static CudaException systemFailure;

    private final String library;
    private final SymbolLookup symbols;
    private boolean initialized;

    // One entry per driver function, in the order of the CUDA driver API reference.
    private final Entry cuGetErrorName = entry(FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), "cuGetErrorName");
    private final Entry cuGetErrorString = entry(FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS), "cuGetErrorString");
    private final Entry cuInit = entry(FunctionDescriptor.of(JAVA_INT, JAVA_INT), "cuInit");
    private final Entry cuDriverGetVersion = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuDriverGetVersion");
    private final Entry cuDeviceGet = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuDeviceGet");
    private final Entry cuDeviceGetCount = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuDeviceGetCount");
    private final Entry cuDeviceGetName = entry(
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), "cuDeviceGetName");
    private final Entry cuDeviceTotalMem = entry(
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuDeviceTotalMem_v2");
    private final Entry cuMemGetInfo = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "cuMemGetInfo_v2");
    private final Entry cuDeviceGetAttribute = entry(
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), "cuDeviceGetAttribute");
    private final Entry cuDevicePrimaryCtxRetain = entry(
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuDevicePrimaryCtxRetain");
    private final Entry cuDevicePrimaryCtxRelease = entry(
            FunctionDescriptor.of(JAVA_INT, JAVA_INT), "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease");
    private final Entry cuCtxSetCurrent = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuCtxSetCurrent");
    private final Entry cuCtxSynchronize = entry(FunctionDescriptor.of(JAVA_INT), "cuCtxSynchronize");
    private final Entry cuModuleLoadDataEx = entry(
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS), "cuModuleLoadDataEx");
    private final Entry cuModuleUnload = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuModuleUnload");
    private final Entry cuModuleGetFunction = entry(
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS), "cuModuleGetFunction");
    private final Entry cuMemAlloc = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS, SIZE_T), "cuMemAlloc_v2");
    private final Entry cuMemFree = entry(FunctionDescriptor.of(JAVA_INT, JAVA_LONG), "cuMemFree_v2");
    private final Entry cuMemAllocHost = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS, SIZE_T), "cuMemAllocHost_v2");
    private final Entry cuMemFreeHost = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuMemFreeHost");
    private final Entry cuMemcpyHtoD = entry(
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, SIZE_T), "cuMemcpyHtoD_v2");
    private final Entry cuMemcpyDtoH = entry(
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, SIZE_T), "cuMemcpyDtoH_v2");
    private final Entry cuMemcpyDtoD = entry(
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, SIZE_T), "cuMemcpyDtoD_v2");
    private final Entry cuMemcpyHtoDAsync = entry(
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, SIZE_T, ADDRESS), "cuMemcpyHtoDAsync_v2");
    private final Entry cuMemcpyDtoHAsync = entry(
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, SIZE_T, ADDRESS), "cuMemcpyDtoHAsync_v2");
    private final Entry cuMemcpyDtoDAsync = entry(
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, SIZE_T, ADDRESS), "cuMemcpyDtoDAsync_v2");
    private final Entry cuMemsetD8 = entry(
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_BYTE, SIZE_T), "cuMemsetD8_v2");
    private final Entry cuMemsetD32 = entry(
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, SIZE_T), "cuMemsetD32_v2");
    private final Entry cuMemsetD8Async = entry(
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_BYTE, SIZE_T, ADDRESS), "cuMemsetD8Async");
    private final Entry cuMemsetD32Async = entry(
            FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, SIZE_T, ADDRESS), "cuMemsetD32Async");
    private final Entry cuStreamCreate = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuStreamCreate");
    private final Entry cuStreamSynchronize = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuStreamSynchronize");
    private final Entry cuStreamDestroy = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuStreamDestroy_v2");
    private final Entry cuStreamBeginCapture = entry(
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuStreamBeginCapture_v2");
    private final Entry cuStreamEndCapture = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "cuStreamEndCapture");
    private final Entry cuEventCreate = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuEventCreate");
    private final Entry cuEventRecord = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "cuEventRecord");
    private final Entry cuEventSynchronize = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuEventSynchronize");
    // _v2 since CUDA 12.8; drivers before that only have the original, same signature.
    private final Entry cuEventElapsedTime = entry(
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS), "cuEventElapsedTime_v2", "cuEventElapsedTime");
    private final Entry cuEventDestroy = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuEventDestroy_v2");
    private final Entry cuLaunchKernel = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS),
            "cuLaunchKernel");
    private final Entry cuLaunchKernelEx = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS), "cuLaunchKernelEx");
    private final Entry cuFuncSetAttribute = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), "cuFuncSetAttribute");
    private final Entry cuGraphInstantiateWithFlags = entry(
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG), "cuGraphInstantiateWithFlags");
    private final Entry cuGraphLaunch = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "cuGraphLaunch");
    private final Entry cuGraphExecDestroy = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuGraphExecDestroy");
    private final Entry cuGraphDestroy = entry(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cuGraphDestroy");

    private CudaDriver(String library, SymbolLookup symbols) {
        this.library = library;
        this.symbols = symbols;
    }

    /**
     * Opens a driver library: a bare name is searched like {@code dlopen} does (LD_LIBRARY_PATH, the ldconfig
     * cache), a name with a '/' is a path. Nothing is called yet.
     *
     * @throws CudaException with one sentence when the library cannot be opened
     */
    public static CudaDriver open(String library) {
        try {
            SymbolLookup symbols = library.contains("/")
                    ? SymbolLookup.libraryLookup(Path.of(library), Arena.global())
                    : SymbolLookup.libraryLookup(library, Arena.global());
            return new CudaDriver(library, symbols);
        } catch (IllegalArgumentException e) {
            throw new CudaException(missingLibraryReason(library));
        } catch (IllegalCallerException e) {
            throw new CudaException("CUDA needs native access: run Java with --enable-native-access=ALL-UNNAMED");
        }
    }

    /** The sentence reported when {@code library} cannot be opened. */
    static String missingLibraryReason(String library) {
        if (!library.contains("/")) return "no NVIDIA driver: " + library + " not found on the library path";
        return Files.exists(Path.of(library))
                ? "no NVIDIA driver: " + library + " could not be loaded"
                : "no NVIDIA driver: " + library + " not found";
    }

    /**
     * The process-wide driver: {@code libcuda.so.1}, or the library named by the {@value #LIBRARY_PROPERTY}
     * system property. Opened once; a failure is remembered and thrown again.
     */
    public static synchronized CudaDriver system() {
        if (system != null) return system;
        if (systemFailure != null) throw systemFailure;
        try {
            return system = open(System.getProperty(LIBRARY_PROPERTY, DEFAULT_LIBRARY));
        } catch (CudaException e) {
            systemFailure = e;
            throw e;
        }
    }

    /** The library this binding was opened from, as given. */
    public String library() {
        return library;
    }

    // ---------------------------------------------------------------- errors

    /** {@code cuGetErrorName}: e.g. "CUDA_ERROR_INVALID_PTX"; empty for a code this driver does not know. */
    public Optional<String> errorName(int result) {
        return errorText(cuGetErrorName, result);
    }

    /** {@code cuGetErrorString}: the driver's one-line description of a result; empty when it has none. */
    public Optional<String> errorString(int result) {
        return errorText(cuGetErrorString, result);
    }

    private Optional<String> errorText(Entry entry, int result) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocate(ADDRESS);
            int status = (int) entry.handle().invokeExact(result, text);
            MemorySegment chars = text.get(ADDRESS, 0);
            if (status != 0 || chars.equals(MemorySegment.NULL)) return Optional.empty();
            return Optional.of(chars.reinterpret(Long.MAX_VALUE).getString(0));
        } catch (CudaException e) {
            return Optional.empty();                  // a driver without the entry point: fall back to the number
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** The exception for {@code call} having returned {@code result}, with optional {@code detail}. */
    CudaException failure(String call, int result, String detail) {
        String name = errorName(result).orElse("CUresult " + result);
        return new CudaException(call, result, name, errorString(result).orElse(null), detail);
    }

    // ---------------------------------------------------------------- initialisation and devices

    /** {@code cuInit(0)}, once per binding; later calls return at once. */
    public synchronized void init() {
        if (initialized) return;
        check(cuInit, h -> (int) h.invokeExact(0));
        initialized = true;
    }

    /** {@code cuDriverGetVersion}: e.g. 12040 for a CUDA 12.4 driver. */
    public int driverVersion() {
        return outInt(cuDriverGetVersion, (h, out) -> (int) h.invokeExact(out));
    }

    /** {@code cuDeviceGetCount}. */
    public int deviceCount() {
        return outInt(cuDeviceGetCount, (h, out) -> (int) h.invokeExact(out));
    }

    /** {@code cuDeviceGet}: the device handle of an ordinal. */
    public int device(int ordinal) {
        return outInt(cuDeviceGet, (h, out) -> (int) h.invokeExact(out, ordinal));
    }

    /** {@code cuDeviceGetName}. */
    public String deviceName(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocate(256);
            check(cuDeviceGetName, h -> (int) h.invokeExact(name, (int) name.byteSize() - 1, device));
            return name.getString(0);
        }
    }

    /** {@code cuDeviceGetAttribute} for one of the {@code ATTRIBUTE_*} constants (a {@code CUdevice_attribute}). */
    public int deviceAttribute(int attribute, int device) {
        return outInt(cuDeviceGetAttribute, (h, out) -> (int) h.invokeExact(out, attribute, device));
    }

    /** {@code cuDeviceTotalMem_v2}: global memory in bytes. */
    public long deviceTotalMemory(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(SIZE_T);
            check(cuDeviceTotalMem, h -> (int) h.invokeExact(bytes, device));
            return bytes.get(JAVA_LONG, 0);
        }
    }

    // ---------------------------------------------------------------- contexts

    /** {@code cuDevicePrimaryCtxRetain}: the device's primary context, shared with every other user in the process. */
    public MemorySegment primaryContextRetain(int device) {
        return outAddress(cuDevicePrimaryCtxRetain, (h, out) -> (int) h.invokeExact(out, device));
    }

    /** {@code cuDevicePrimaryCtxRelease_v2}. */
    public void primaryContextRelease(int device) {
        check(cuDevicePrimaryCtxRelease, h -> (int) h.invokeExact(device));
    }

    /** {@code cuCtxSetCurrent}: binds a context to the calling thread. */
    public void contextSetCurrent(MemorySegment context) {
        check(cuCtxSetCurrent, h -> (int) h.invokeExact(context));
    }

    /** {@code cuCtxSynchronize}: waits for all work in the current context. */
    public void contextSynchronize() {
        check(cuCtxSynchronize, h -> (int) h.invokeExact());
    }

    // ---------------------------------------------------------------- modules

    /** A loaded {@code CUmodule} and what the PTX JIT compiler said while loading it. */
    public record LoadedModule(MemorySegment module, String infoLog) {
    }

    /**
     * {@code cuModuleLoadDataEx} of PTX text with the JIT's info and error log buffers and verbose logging. A
     * failure carries the JIT error log: {@code "... failed: CUDA_ERROR_INVALID_PTX (...) — JIT log: ..."}.
     */
    public LoadedModule moduleLoad(String ptx) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment image = arena.allocateFrom(ptx);
            MemorySegment infoLog = arena.allocate(JIT_LOG_BYTES + 1);
            MemorySegment errorLog = arena.allocate(JIT_LOG_BYTES + 1);
            int[] keys = {JIT_INFO_LOG_BUFFER, JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                    JIT_ERROR_LOG_BUFFER, JIT_ERROR_LOG_BUFFER_SIZE_BYTES, JIT_LOG_VERBOSE};
            // Values are pointer-sized; integer options travel as the pointer's value.
            MemorySegment[] values = {infoLog, MemorySegment.ofAddress(JIT_LOG_BYTES),
                    errorLog, MemorySegment.ofAddress(JIT_LOG_BYTES), MemorySegment.ofAddress(1)};
            MemorySegment options = arena.allocateFrom(JAVA_INT, keys);
            MemorySegment optionValues = arena.allocate(ADDRESS, values.length);
            for (int i = 0; i < values.length; i++) optionValues.setAtIndex(ADDRESS, i, values[i]);
            MemorySegment module = arena.allocate(ADDRESS);

            int result = invoke(cuModuleLoadDataEx,
                    h -> (int) h.invokeExact(module, image, keys.length, options, optionValues));
            if (result != 0) {
                String log = errorLog.getString(0).strip();
                throw failure(cuModuleLoadDataEx.name(), result, log.isEmpty() ? null : "JIT log: " + log);
            }
            return new LoadedModule(module.get(ADDRESS, 0), infoLog.getString(0).strip());
        }
    }

    /** {@code cuModuleGetFunction}: a kernel ({@code .entry}) by name. */
    public MemorySegment moduleGetFunction(MemorySegment module, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cName = arena.allocateFrom(name);
            MemorySegment function = arena.allocate(ADDRESS);
            int result = invoke(cuModuleGetFunction, h -> (int) h.invokeExact(function, module, cName));
            if (result != 0) throw failure(cuModuleGetFunction.name(), result, "kernel '" + name + "'");
            return function.get(ADDRESS, 0);
        }
    }

    /** {@code cuModuleUnload}. */
    public void moduleUnload(MemorySegment module) {
        check(cuModuleUnload, h -> (int) h.invokeExact(module));
    }

    // ---------------------------------------------------------------- memory

    /** {@code cuMemAlloc_v2}: a device pointer to {@code bytes} of global memory. */
    public long memAlloc(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pointer = arena.allocate(JAVA_LONG);
            int result = invoke(cuMemAlloc, h -> (int) h.invokeExact(pointer, bytes));
            if (result != 0) throw failure(cuMemAlloc.name(), result, bytes + " bytes");
            return pointer.get(JAVA_LONG, 0);
        }
    }

    /** {@code cuMemGetInfo_v2}: the current context's device memory, free bytes then total bytes. */
    public long[] memoryInfo() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(SIZE_T), total = arena.allocate(SIZE_T);
            check(cuMemGetInfo, h -> (int) h.invokeExact(free, total));
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        }
    }

    /** {@code cuMemFree_v2}. */
    public void memFree(long pointer) {
        check(cuMemFree, h -> (int) h.invokeExact(pointer));
    }

    /**
     * {@code cuMemAllocHost_v2}: {@code bytes} of page-locked host memory, which the device copies into while the host
     * goes on (a copy into pageable memory returns only once it is done, so only after the work queued before it).
     */
    public MemorySegment memAllocHost(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pointer = arena.allocate(ADDRESS);
            int result = invoke(cuMemAllocHost, h -> (int) h.invokeExact(pointer, bytes));
            if (result != 0) throw failure(cuMemAllocHost.name(), result, bytes + " bytes of page-locked host memory");
            return pointer.get(ADDRESS, 0).reinterpret(bytes);
        }
    }

    /** {@code cuMemFreeHost}: frees what {@link #memAllocHost} gave. */
    public void memFreeHost(MemorySegment pointer) {
        check(cuMemFreeHost, h -> (int) h.invokeExact(pointer));
    }

    /** {@code cuMemcpyHtoD_v2}. */
    public void memcpyHtoD(long dst, MemorySegment src, long bytes) {
        check(cuMemcpyHtoD, h -> (int) h.invokeExact(dst, src, bytes));
    }

    /** {@code cuMemcpyDtoH_v2}. */
    public void memcpyDtoH(MemorySegment dst, long src, long bytes) {
        check(cuMemcpyDtoH, h -> (int) h.invokeExact(dst, src, bytes));
    }

    /** {@code cuMemcpyDtoD_v2}. */
    public void memcpyDtoD(long dst, long src, long bytes) {
        check(cuMemcpyDtoD, h -> (int) h.invokeExact(dst, src, bytes));
    }

    /** {@code cuMemcpyHtoDAsync_v2}: {@code src} must stay valid until the stream has done the copy. */
    public void memcpyHtoDAsync(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        check(cuMemcpyHtoDAsync, h -> (int) h.invokeExact(dst, src, bytes, stream));
    }

    /** {@code cuMemcpyDtoHAsync_v2}: {@code dst} holds the data only once the stream has done the copy. */
    public void memcpyDtoHAsync(MemorySegment dst, long src, long bytes, MemorySegment stream) {
        check(cuMemcpyDtoHAsync, h -> (int) h.invokeExact(dst, src, bytes, stream));
    }

    /** {@code cuMemcpyDtoDAsync_v2}. */
    public void memcpyDtoDAsync(long dst, long src, long bytes, MemorySegment stream) {
        check(cuMemcpyDtoDAsync, h -> (int) h.invokeExact(dst, src, bytes, stream));
    }

    /** {@code cuMemsetD8_v2}: sets {@code count} bytes. */
    public void memsetD8(long dst, byte value, long count) {
        check(cuMemsetD8, h -> (int) h.invokeExact(dst, value, count));
    }

    /** {@code cuMemsetD8Async}: {@link #memsetD8} on a stream, after the work already on it. */
    public void memsetD8Async(long dst, byte value, long count, MemorySegment stream) {
        check(cuMemsetD8Async, h -> (int) h.invokeExact(dst, value, count, stream));
    }

    /** {@code cuMemsetD32_v2}: sets {@code count} 32-bit words ({@code dst} 4-byte aligned). */
    public void memsetD32(long dst, int value, long count) {
        check(cuMemsetD32, h -> (int) h.invokeExact(dst, value, count));
    }

    /** {@code cuMemsetD32Async}: {@link #memsetD32} on a stream (and so inside a captured graph). */
    public void memsetD32Async(long dst, int value, long count, MemorySegment stream) {
        check(cuMemsetD32Async, h -> (int) h.invokeExact(dst, value, count, stream));
    }

    // ---------------------------------------------------------------- launches

    /**
     * {@code cuLaunchKernel}: {@code kernelParams} is a {@code void**} array with one pointer per kernel
     * parameter, each to that parameter's value; the driver copies the values before returning.
     */
    public void launchKernel(MemorySegment function, int gridX, int gridY, int gridZ, int blockX, int blockY,
                             int blockZ, int sharedBytes, MemorySegment stream, MemorySegment kernelParams) {
        check(cuLaunchKernel, h -> (int) h.invokeExact(function, gridX, gridY, gridZ, blockX, blockY, blockZ,
                sharedBytes, stream, kernelParams, MemorySegment.NULL));
    }

    /** {@code CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION}: the launch may overlap the previous kernel on its stream. */
    public static final int LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6;

    /** {@code CUlaunchConfig}: grid and block sizes, dynamic shared bytes, then (8-aligned) the stream, the attributes and their count. */
    private static final long CONFIG_BYTES = 56, CONFIG_STREAM = 32, CONFIG_ATTRIBUTES = 40, CONFIG_ATTRIBUTE_COUNT = 48;
    /** {@code CUlaunchAttribute}: the id, padding to 8, a 64-byte value union. */
    private static final long ATTRIBUTE_BYTES = 72, ATTRIBUTE_VALUE = 8;

    /**
     * {@code cuLaunchKernelEx} with one attribute, programmatic stream serialization ({@link
     * #LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION}, its value 1: allowed): the kernel may begin while the previous kernel on
     * {@code stream} finishes, and resolves its dependency itself ({@code griddepcontrol.wait}). Otherwise as {@link
     * #launchKernel}; captured into a graph as a programmatic edge (CUDA 12.3 on).
     */
    public void launchKernelOverlapping(MemorySegment function, int gridX, int gridY, int gridZ, int blockX, int blockY,
                                        int blockZ, int sharedBytes, MemorySegment stream, MemorySegment kernelParams) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment attribute = arena.allocate(ATTRIBUTE_BYTES, 8); // zeroed
            attribute.set(JAVA_INT, 0, LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
            attribute.set(JAVA_INT, ATTRIBUTE_VALUE, 1); // programmaticStreamSerializationAllowed
            MemorySegment config = arena.allocate(CONFIG_BYTES, 8);
            int[] dims = {gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes};
            for (int i = 0; i < dims.length; i++) config.set(JAVA_INT, 4L * i, dims[i]);
            config.set(ADDRESS, CONFIG_STREAM, stream);
            config.set(ADDRESS, CONFIG_ATTRIBUTES, attribute);
            config.set(JAVA_INT, CONFIG_ATTRIBUTE_COUNT, 1);
            check(cuLaunchKernelEx, h -> (int) h.invokeExact(config, function, kernelParams, MemorySegment.NULL));
        }
    }

    /** {@code CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES}. */
    public static final int MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

    /** {@code cuFuncSetAttribute}. */
    public void functionSetAttribute(MemorySegment function, int attribute, int value) {
        check(cuFuncSetAttribute, h -> (int) h.invokeExact(function, attribute, value));
    }

    // ---------------------------------------------------------------- streams and events

    /** {@code cuStreamCreate}. */
    public MemorySegment streamCreate(int flags) {
        return outAddress(cuStreamCreate, (h, out) -> (int) h.invokeExact(out, flags));
    }

    /** {@code cuStreamSynchronize}: waits for all work queued on the stream. */
    public void streamSynchronize(MemorySegment stream) {
        check(cuStreamSynchronize, h -> (int) h.invokeExact(stream));
    }

    /** {@code cuStreamDestroy_v2}. */
    public void streamDestroy(MemorySegment stream) {
        check(cuStreamDestroy, h -> (int) h.invokeExact(stream));
    }

    /** {@code cuEventCreate}. */
    public MemorySegment eventCreate(int flags) {
        return outAddress(cuEventCreate, (h, out) -> (int) h.invokeExact(out, flags));
    }

    /** {@code cuEventRecord}: the event completes when the stream's work queued so far has. */
    public void eventRecord(MemorySegment event, MemorySegment stream) {
        check(cuEventRecord, h -> (int) h.invokeExact(event, stream));
    }

    /** {@code cuEventSynchronize}. */
    public void eventSynchronize(MemorySegment event) {
        check(cuEventSynchronize, h -> (int) h.invokeExact(event));
    }

    /** {@code cuEventElapsedTime(_v2)}: milliseconds between two completed events. */
    public float eventElapsedTime(MemorySegment start, MemorySegment end) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment millis = arena.allocate(JAVA_FLOAT);
            check(cuEventElapsedTime, h -> (int) h.invokeExact(millis, start, end));
            return millis.get(JAVA_FLOAT, 0);
        }
    }

    /** {@code cuEventDestroy_v2}. */
    public void eventDestroy(MemorySegment event) {
        check(cuEventDestroy, h -> (int) h.invokeExact(event));
    }

    // ---------------------------------------------------------------- graphs

    /** {@code cuStreamBeginCapture_v2}: work queued on the stream from now on is recorded, not run. */
    public void streamBeginCapture(MemorySegment stream, int mode) {
        check(cuStreamBeginCapture, h -> (int) h.invokeExact(stream, mode));
    }

    /** {@code cuStreamEndCapture}: the recorded work as a {@code CUgraph}. */
    public MemorySegment streamEndCapture(MemorySegment stream) {
        return outAddress(cuStreamEndCapture, (h, out) -> (int) h.invokeExact(stream, out));
    }

    /** {@code cuGraphInstantiateWithFlags}: an executable graph ({@code CUgraphExec}). */
    public MemorySegment graphInstantiate(MemorySegment graph, long flags) {
        return outAddress(cuGraphInstantiateWithFlags, (h, out) -> (int) h.invokeExact(out, graph, flags));
    }

    /** {@code cuGraphLaunch}: replays an executable graph on a stream. */
    public void graphLaunch(MemorySegment graphExec, MemorySegment stream) {
        check(cuGraphLaunch, h -> (int) h.invokeExact(graphExec, stream));
    }

    /** {@code cuGraphExecDestroy}. */
    public void graphExecDestroy(MemorySegment graphExec) {
        check(cuGraphExecDestroy, h -> (int) h.invokeExact(graphExec));
    }

    /** {@code cuGraphDestroy}. */
    public void graphDestroy(MemorySegment graph) {
        check(cuGraphDestroy, h -> (int) h.invokeExact(graph));
    }

    // ---------------------------------------------------------------- plumbing

    /** A call of a bound function returning its {@code CUresult}. */
    @FunctionalInterface
    private interface Call {
        int invoke(MethodHandle handle) throws Throwable;
    }

    /** A call that writes its answer to an out parameter. */
    @FunctionalInterface
    private interface OutCall {
        int invoke(MethodHandle handle, MemorySegment out) throws Throwable;
    }

    private int invoke(Entry entry, Call call) {
        try {
            return call.invoke(entry.handle());
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    private void check(Entry entry, Call call) {
        int result = invoke(entry, call);
        if (result != 0) throw failure(entry.name(), result, null);
    }

    private int outInt(Entry entry, OutCall call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check(entry, h -> call.invoke(h, out));
            return out.get(JAVA_INT, 0);
        }
    }

    private MemorySegment outAddress(Entry entry, OutCall call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check(entry, h -> call.invoke(h, out));
            return out.get(ADDRESS, 0);
        }
    }

    private static IllegalStateException unexpected(Throwable t) {
        return new IllegalStateException("unexpected failure calling the CUDA driver", t);
    }

    private Entry entry(FunctionDescriptor descriptor, String... names) {
        return new Entry(descriptor, names);
    }

    /** One driver function: looked up by the first of its names the library exports, linked on first use. */
    private final class Entry {
        private final FunctionDescriptor descriptor;
        private final String[] names;
        private volatile MethodHandle handle;
        private volatile String linkedName;

        Entry(FunctionDescriptor descriptor, String[] names) {
            this.descriptor = descriptor;
            this.names = names;
        }

        String name() {
            String linked = linkedName;
            return linked != null ? linked : names[0];
        }

        MethodHandle handle() {
            MethodHandle h = handle;
            if (h != null) return h;
            for (String name : names) {
                Optional<MemorySegment> symbol = symbols.find(name);
                if (symbol.isPresent()) {
                    linkedName = name;
                    return handle = LINKER.downcallHandle(symbol.get(), descriptor);
                }
            }
            throw new CudaException(names[0] + " is not exported by " + library
                    + ": not a CUDA driver, or one too old for moa");
        }
    }
}
