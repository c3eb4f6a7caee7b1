package dev.moa.tasks.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The fake CUDA driver of {@code src/test/c/fake_cuda.c}, compiled with gcc once per test run into a temporary
 * {@code libcuda.so.1}, and its {@code fake_*} controls: reset, failures to inject, what was launched. Tests
 * that need it are skipped, with the reason, where gcc is not on the PATH.
 */
@SuppressWarnings("restricted")
public final class FakeCuda {
    private static Path library;
    private static String skipReason;
    private static SymbolLookup symbols;

    private FakeCuda() {
    }

    /** The compiled fake; skips the calling test when gcc is missing. */
    static synchronized Path library() {
        if (library == null && skipReason == null) build();
        assumeTrue(skipReason == null, skipReason);
        return library;
    }

    /** A fresh binding to the fake, whose state is reset first. */
    public static CudaDriver freshDriver() {
        Path path = library();
        call("fake_reset", FunctionDescriptor.ofVoid());
        return CudaDriver.open(path.toString());
    }

    private static void build() {
        Path gcc = onPath("gcc");
        if (gcc == null) {
            skipReason = "gcc not found on the PATH: skipping the tests against the fake CUDA driver";
            return;
        }
        Path source = Path.of("src/test/c/fake_cuda.c");
        if (!Files.exists(source)) source = Path.of(System.getProperty("moa.repo.root", "."), "tasks/src/test/c/fake_cuda.c");
        try {
            Path dir = Files.createTempDirectory("moa-fake-cuda-");
            Path out = dir.resolve("libcuda.so.1");
            Process gccRun = new ProcessBuilder(List.of(gcc.toString(), "-shared", "-fPIC", "-O1", "-Wall",
                    "-o", out.toString(), source.toAbsolutePath().toString())).redirectErrorStream(true).start();
            String output = new String(gccRun.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!gccRun.waitFor(60, TimeUnit.SECONDS) || gccRun.exitValue() != 0) {
                throw new IllegalStateException("gcc could not build the fake CUDA driver:\n" + output);
            }
            out.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            symbols = SymbolLookup.libraryLookup(out, Arena.global());
            library = out;
        } catch (IOException e) {
            throw new IllegalStateException("building the fake CUDA driver failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static Path onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (dir.isEmpty()) continue;
            Path candidate = Path.of(dir, program);
            if (Files.isExecutable(candidate)) return candidate;
        }
        return null;
    }

    // ---------------------------------------------------------------- controls

    /** cuMemAlloc calls since the last reset. */
    public static long allocationCount() {
        return (long) call("fake_allocation_count", FunctionDescriptor.of(JAVA_LONG));
    }

    /** Device-to-device copies (cuMemcpyDtoD, sync or async) since the last reset. */
    public static long deviceCopyCount() {
        return (long) call("fake_device_copy_count", FunctionDescriptor.of(JAVA_LONG));
    }

    /** Bytes asked to be copied from the host to the device (cuMemcpyHtoD, sync or async) since the last reset. */
    public static long hostToDeviceBytes() {
        return (long) call("fake_host_to_device_bytes", FunctionDescriptor.of(JAVA_LONG));
    }

    /** Kernels run (alone or replayed from a graph) that were launched with programmatic stream serialization, since the last reset. */
    public static long programmaticLaunchCount() {
        return (long) call("fake_programmatic_launch_count", FunctionDescriptor.of(JAVA_LONG));
    }

    /** Stream captures begun since the last reset. */
    public static long captureCount() {
        return (long) call("fake_capture_count", FunctionDescriptor.of(JAVA_LONG));
    }

    /**
     * Calls that made the host wait for the device since the last reset: synchronous copies (cuMemcpyHtoD, cuMemcpyDtoH)
     * and synchronizations (cuStreamSynchronize, cuCtxSynchronize, cuEventSynchronize).
     */
    public static long waitCount() {
        return (long) call("fake_wait_count", FunctionDescriptor.of(JAVA_LONG));
    }

    /** {@link #graphLaunchCount} when the host last waited for the device ({@link #waitCount}): what was queued by then. */
    public static long graphLaunchesAtWait() {
        return (long) call("fake_graph_launches_at_wait", FunctionDescriptor.of(JAVA_LONG));
    }

    /** Blocks of page-locked host memory (cuMemAllocHost_v2) not yet freed. */
    public static int livePinned() {
        return (int) call("fake_live_pinned", FunctionDescriptor.of(JAVA_INT));
    }

    /** cuGraphLaunch calls since the last reset. */
    public static long graphLaunchCount() {
        return (long) call("fake_graph_launch_count", FunctionDescriptor.of(JAVA_LONG));
    }

    private static final java.util.concurrent.atomic.AtomicReference<Throwable> LAUNCH_FAILURE = new java.util.concurrent.atomic.AtomicReference<>();
    private static MemorySegment hook;

    /**
     * From now on (until the next reset) every kernel the fake runs, alone or replayed from a graph, computes: the
     * Java kernel the PTX was compiled from (named in the JIT's header line) runs in the emulator over the fake's
     * device memory, with the arguments decoded from the launch's parameter bytes as the kernel declares them. So
     * upload, capture, replay and download through the real binding compute what the program asks for. (Each
     * kernel's PTX is checked against its Java source by the PTX interpreter elsewhere; {@link Execution#PTX}
     * runs the launched PTX itself instead.)
     */
    public static synchronized void executeLaunches() {
        executeLaunches(Execution.EMULATOR);
    }

    /** How {@link #executeLaunches} runs a kernel. */
    public enum Execution {
        /** The Java kernel the PTX was compiled from, in the emulator: fast enough for a whole model. */
        EMULATOR,
        /**
         * The PTX the driver was given, in the PTX interpreter: proves the JIT's own output. Far slower (a demo-model
         * decode step takes seconds, its prompt's GEMMs a minute), so tests use it for decode steps.
         */
        PTX
    }

    private static volatile Execution execution = Execution.EMULATOR;
    private static final java.util.concurrent.atomic.AtomicLong INTERPRETED = new java.util.concurrent.atomic.AtomicLong();

    /** Kernels run as PTX by the interpreter ({@link Execution#PTX}) so far in this process. */
    public static long interpretedLaunchCount() {
        return INTERPRETED.get();
    }
    private static final java.util.Map<Object, dev.moa.tasks.jit.PtxInterpreter> INTERPRETERS = new java.util.concurrent.ConcurrentHashMap<>();

    /** As {@link #executeLaunches()}, each kernel run the given way. */
    public static synchronized void executeLaunches(Execution how) {
        execution = how;
        library();
        if (hook == null) {
            try {
                MethodHandle target = java.lang.invoke.MethodHandles.lookup().findStatic(FakeCuda.class, "onLaunch",
                        java.lang.invoke.MethodType.methodType(void.class, MemorySegment.class, MemorySegment.class, MemorySegment.class,
                                MemorySegment.class, int.class));
                hook = Linker.nativeLinker().upcallStub(target, FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT), Arena.global());
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }
        LAUNCH_FAILURE.set(null);
        call("fake_set_launch_hook", FunctionDescriptor.ofVoid(ADDRESS), hook);
    }

    /** The first failure of a kernel run by {@link #executeLaunches}, or null. */
    public static Throwable launchFailure() {
        return LAUNCH_FAILURE.get();
    }

    /** The launch hook: must not throw (an exception cannot cross back into C), so failures are kept instead. */
    private static void onLaunch(MemorySegment ptx, MemorySegment entry, MemorySegment dims, MemorySegment params, int bytes) {
        if (LAUNCH_FAILURE.get() != null) return;
        try {
            String name = entry.reinterpret(128).getString(0);
            // keyed by what the module's text begins with too: a freed module's address is reused by the next one loaded
            Target target = TARGETS.computeIfAbsent(ptx.address() + ":" + name + ":" + head(ptx), k -> targetOf(ptx, name));
            boolean interpret = execution == Execution.PTX || target.kernel() == null;
            int[] d = dims.reinterpret(7 * 4).toArray(JAVA_INT);
            MemorySegment p = params.reinterpret(bytes);
            // each parameter as the Java kernel declares it, or (PTX from elsewhere: nvcc's) as its .entry does
            List<Class<?>> types = target.kernel() != null
                    ? List.of(target.kernel().getParameterTypes()).subList(1, target.kernel().getParameterCount())
                    : java.util.stream.IntStream.range(0, target.entry().types().size()).<Class<?>>mapToObj(k -> switch (target.entry().types().get(k)) {
                        // nvcc declares a long long .u64 as it does a pointer: a pointer is what the entry makes a global address of
                        case "u64", "s64", "b64" -> target.pointers().contains(k) ? MemorySegment.class : long.class;
                        case "f32" -> float.class;
                        default -> int.class;
                    }).toList();
            Object[] args = new Object[types.size()];
            long at = 0;
            for (int i = 0; i < types.size(); i++) {
                Class<?> t = types.get(i);
                if (t == int.class) {
                    args[i] = p.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, at);
                    at += 4;
                } else if (t == float.class) {
                    args[i] = p.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at);
                    at += 4;
                } else if (t == long.class) {
                    args[i] = p.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, at);
                    at += 8;
                } else {
                    long address = p.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, at);
                    at += 8;
                    long size = (long) call("fake_allocation_bytes", FunctionDescriptor.of(JAVA_LONG, JAVA_LONG), address);
                    if (size <= 0) throw new IllegalStateException(name + ": argument " + (i + 1) + " points outside every allocation");
                    MemorySegment memory = MemorySegment.ofAddress(address).reinterpret(size);
                    args[i] = interpret ? memory : t.getConstructor(MemorySegment.class).newInstance(memory);
                }
            }
            if (at != bytes) throw new IllegalStateException(name + ": " + bytes + " parameter bytes for " + at + " the kernel declares");
            var grid = new dev.moa.tasks.emulator.Grid(d[0], d[1], d[2], d[3], d[6]); // grid x, y, z, block x, …, dynamic shared
            if (interpret) {
                String text = ptx.reinterpret(Long.MAX_VALUE).getString(0);
                INTERPRETERS.computeIfAbsent(List.of(text, name), k -> target.kernel() != null ? new dev.moa.tasks.jit.PtxInterpreter(text)
                        : dev.moa.tasks.jit.PtxInterpreter.ofEntry(text, name)).launch(grid, args);
                INTERPRETED.incrementAndGet();
            } else {
                dev.moa.tasks.emulator.Emulator.launch(target.kernel().getDeclaringClass(), target.kernel().getName(), grid, args);
            }
        } catch (Throwable e) {
            LAUNCH_FAILURE.compareAndSet(null, e);
        }
    }

    /** The first 512 bytes of a NUL-terminated PTX text (fewer where it is shorter): for the JIT's, the header naming its Java kernel. */
    private static String head(MemorySegment ptx) {
        MemorySegment text = ptx.reinterpret(Long.MAX_VALUE);
        int n = 0;
        while (n < 512 && text.get(java.lang.foreign.ValueLayout.JAVA_BYTE, n) != 0) n++;
        return new String(text.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), java.nio.charset.StandardCharsets.UTF_8);
    }

    /**
     * What a launched entry runs: the Java kernel the JIT compiled it from, or (PTX from elsewhere) null, its
     * declaration and which of its parameters are pointers.
     */
    private record Target(java.lang.reflect.Method kernel, PtxEntry entry, java.util.Set<Integer> pointers) {
    }

    private static final java.util.Map<String, Target> TARGETS = new java.util.concurrent.ConcurrentHashMap<>();

    private static Target targetOf(MemorySegment ptx, String entry) {
        String text = ptx.reinterpret(Long.MAX_VALUE).getString(0);
        if (text.contains("PTX JIT from ")) return new Target(kernelOf(ptx, entry), null, java.util.Set.of());
        PtxEntry declared = PtxEntry.parse(text).get(entry);
        if (declared == null) throw new IllegalStateException(entry + ": no such entry in the PTX");
        return new Target(null, declared, pointerParameters(text, entry));
    }

    /**
     * The parameters of {@code entry} its body turns into global addresses ({@code ld.param.u64 %r, [entry_param_k]},
     * then {@code cvta.to.global.u64 %s, %r}): the pointers among its 64-bit parameters, the others being numbers.
     */
    public static java.util.Set<Integer> pointerParameters(String text, String entry) {
        int from = text.indexOf(".entry " + entry + "(");
        if (from < 0) return java.util.Set.of();
        int next = text.indexOf(".entry ", from + 1);
        String body = text.substring(from, next < 0 ? text.length() : next);
        java.util.Set<Integer> pointers = new java.util.HashSet<>();
        var loads = java.util.regex.Pattern.compile("ld\\.param\\.[us]64\\s+(%\\w+),\\s*\\[" + java.util.regex.Pattern.quote(entry) + "_param_(\\d+)\\]")
                .matcher(body);
        while (loads.find()) {
            var converted = java.util.regex.Pattern.compile("cvta\\.to\\.global\\.u64\\s+%\\w+,\\s*" + java.util.regex.Pattern.quote(loads.group(1)) + "\\s*;")
                    .matcher(body);
            if (converted.find()) pointers.add(Integer.parseInt(loads.group(2)));
        }
        return pointers;
    }

    /** The kernel method the JIT compiled {@code ptx} from: its header names the class and method. */
    private static java.lang.reflect.Method kernelOf(MemorySegment ptx, String entry) {
        String text = ptx.reinterpret(Long.MAX_VALUE).getString(0);
        String marker = "PTX JIT from ";
        int from = text.indexOf(marker);
        if (from < 0) throw new IllegalStateException(entry + ": the PTX does not name its Java kernel");
        String qualified = text.substring(from + marker.length(), text.indexOf('\n', from)).strip();
        String owner = qualified.substring(0, qualified.lastIndexOf('.'));
        try {
            for (java.lang.reflect.Method m : Class.forName(owner).getDeclaredMethods()) {
                if (m.getName().equals(entry) && java.lang.reflect.Modifier.isStatic(m.getModifiers())) return m;
            }
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException(entry + ": kernel class " + owner + " not found", e);
        }
        throw new IllegalStateException(entry + ": no kernel method in " + owner);
    }

    static void setInitResult(int result) {
        call("fake_set_init_result", FunctionDescriptor.ofVoid(JAVA_INT), result);
    }

    /** The device's global memory, until the next reset (24 GiB): what cuMemGetInfo reports and allocations may take. */
    public static void setTotalMemory(long bytes) {
        call("fake_set_total_memory", FunctionDescriptor.ofVoid(JAVA_LONG), bytes);
    }

    /** {@code count} devices of compute capability {@code major.minor} (until the next reset: one of 8.6). */
    public static void setDevices(int count, int major, int minor) {
        call("fake_set_devices", FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT, JAVA_INT), count, major, minor);
    }

    /** The next call of entry point {@code name} returns {@code result}. */
    public static void failNext(String name, int result) {
        try (Arena arena = Arena.ofConfined()) {
            call("fake_fail_next", FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT), arena.allocateFrom(name), result);
        }
    }

    public static long launchCount() {
        return (long) call("fake_launch_count", FunctionDescriptor.of(JAVA_LONG));
    }

    public static int liveAllocations() {
        return (int) call("fake_live_allocations", FunctionDescriptor.of(JAVA_INT));
    }

    /** Modules, streams, events, graphs and executable graphs not yet destroyed. */
    static int liveObjects() {
        return (int) call("fake_live_objects", FunctionDescriptor.of(JAVA_INT));
    }

    static int primaryContextRefs(int device) {
        return (int) call("fake_primary_refs", FunctionDescriptor.of(JAVA_INT, JAVA_INT), device);
    }

    /** The PTX text the last cuModuleLoadDataEx received. */
    static String lastPtx() {
        MemorySegment text = (MemorySegment) call("fake_last_ptx", FunctionDescriptor.of(ADDRESS));
        return text.equals(MemorySegment.NULL) ? null : text.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** What the last executed kernel launch passed: geometry, stream and its parameter bytes, packed in order. */
    record Launch(int[] dims, long stream, byte[] params) {
    }

    static Launch lastLaunch() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dims = arena.allocate(JAVA_INT, 7);
            MemorySegment stream = arena.allocate(ADDRESS);
            MemorySegment params = arena.allocate(512);
            int bytes = (int) call("fake_last_launch", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
                    JAVA_INT), dims, stream, params, (int) params.byteSize());
            if (bytes < 0) return null;
            return new Launch(dims.toArray(JAVA_INT), stream.get(ADDRESS, 0).address(),
                    params.asSlice(0, bytes).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        }
    }

    private static Object call(String name, FunctionDescriptor descriptor, Object... args) {
        library();
        MethodHandle handle = Linker.nativeLinker().downcallHandle(symbols.find(name).orElseThrow(), descriptor);
        try {
            return handle.invokeWithArguments(args);
        } catch (Throwable t) {
            throw new IllegalStateException("fake CUDA control " + name + " failed", t);
        }
    }
}
