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
final class FakeCuda {
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
    static CudaDriver freshDriver() {
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

    static void setInitResult(int result) {
        call("fake_set_init_result", FunctionDescriptor.ofVoid(JAVA_INT), result);
    }

    static void setDevices(int count, int major, int minor) {
        call("fake_set_devices", FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT, JAVA_INT), count, major, minor);
    }

    /** The next call of entry point {@code name} returns {@code result}. */
    static void failNext(String name, int result) {
        try (Arena arena = Arena.ofConfined()) {
            call("fake_fail_next", FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT), arena.allocateFrom(name), result);
        }
    }

    static long launchCount() {
        return (long) call("fake_launch_count", FunctionDescriptor.of(JAVA_LONG));
    }

    static int liveAllocations() {
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
