package dev.moa.tasks.graph;

import dev.moa.tasks.cuda.CudaContext;
import dev.moa.tasks.cuda.CudaFunction;
import dev.moa.tasks.cuda.CudaGraph;
import dev.moa.tasks.cuda.CudaModule;
import dev.moa.tasks.cuda.CudaStream;
import dev.moa.tasks.cuda.DeviceMemory;
import dev.moa.tasks.cuda.Dim3;
import dev.moa.tasks.jit.KernelCache;
import dev.moa.tasks.jit.Specialization;
import dev.moa.tasks.kernel.DeviceBuffer;
import dev.moa.tasks.jit.PtxCompiler;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs task graphs on a CUDA device: each kernel is JIT-compiled to PTX for the device's target once (cached on
 * disk across runs) and loaded
 * as a module; each buffer gets device memory at first use and stays resident; the first run of a graph launches
 * its tasks on a stream while capturing them into a CUDA graph, later runs replay that graph with one call.
 *
 * <p>A kernel that waits for the kernels before it itself ({@link dev.moa.tasks.kernel.KernelContext#awaitPriorKernels},
 * compiled for sm_90 on) is launched with programmatic dependent launch: its groups start, and run up to that wait,
 * while the previous kernel finishes, instead of after it ({@link #dependentLaunch}).
 *
 * <p>Thread-safe: sessions decoding on different threads share one backend per model; each call makes the
 * device's context current on the calling thread and holds the backend while it works, so their steps take turns
 * on the device's one stream.
 */
public final class CudaBackend implements Backend {
    private final CudaContext context;
    private final CudaStream stream;
    private final KernelCache cache;
    private final Map<String, CudaFunction> functions = new HashMap<>();
    private final List<CudaModule> modules = new ArrayList<>();
    private final Map<DeviceBuffer, DeviceMemory> resident = new IdentityHashMap<>();
    private final Map<TaskGraph, CudaGraph> captured = new IdentityHashMap<>();
    /** Whether kernels that wait for their predecessors are launched to overlap them ({@link #dependentLaunch}). */
    private boolean dependentLaunch = true;
    /** Whether a stream capture is under way: a refused launch then fails the capture, which {@link #run} repeats. */
    private boolean capturing;
    /** Every read-back made ({@link #enqueue}), freed at close; those not in flight are spare for the next. */
    private final List<ReadBack> readBacks = new ArrayList<>();
    private final java.util.ArrayDeque<ReadBack> spareReadBacks = new java.util.ArrayDeque<>();
    private boolean closed;

    /** A backend whose kernels are cached in the standard PTX cache (memory and ~/.cache/moa-java/ptx). */
    public CudaBackend(CudaContext context) {
        this(context, KernelCache.standard());
    }

    public CudaBackend(CudaContext context, KernelCache cache) {
        this.context = context;
        this.cache = cache;
        this.stream = context.createStream();
    }

    @Override
    public String name() {
        return "cuda: " + context.device().name() + " (" + context.ptxTarget() + ")";
    }

    /**
     * Launches kernels that wait for the kernels before them ({@link CudaFunction#awaitsPriorKernels}) with
     * programmatic stream serialization, so each starts while its predecessor finishes (on, the default), or one after
     * another as any other (off: what to compare against). Graphs captured before keep how they were launched.
     */
    public synchronized void dependentLaunch(boolean on) {
        dependentLaunch = on;
    }

    /** Whether {@link #dependentLaunch} is on: it is turned off for good where the driver refuses such a launch. */
    public synchronized boolean dependentLaunch() {
        return dependentLaunch;
    }

    /** Whether kernels are launched overlapping their predecessors here: {@link #dependentLaunch} on, and a target whose PTX waits (sm_90). */
    public synchronized boolean overlapsLaunches() {
        return dependentLaunch && dev.moa.tasks.jit.PtxCompiler.gridDependencies(context.ptxTarget());
    }

    @Override
    public int sharedBytesPerGroup() {
        return context.device().sharedBytesPerGroup();
    }

    @Override
    public synchronized java.util.OptionalLong freeBytes() {
        context.makeCurrent();
        return java.util.OptionalLong.of(context.driver().memoryInfo()[0]);
    }

    @Override
    public synchronized void upload(DeviceBuffer buffer) {
        upload(buffer, 0, buffer.memory().byteSize());
    }

    @Override
    public synchronized void upload(DeviceBuffer buffer, long fromByte, long bytes) {
        context.makeCurrent();
        var host = buffer.memory();
        Backend.requireRange(buffer, fromByte, bytes, "an upload");
        DeviceMemory memory = resident.get(buffer);
        if (memory == null) {
            memory = context.allocate(host.byteSize());
            resident.put(buffer, memory);
        }
        // on the backend's stream, not the legacy one: the stream does not wait for that one, and from pageable memory
        // a synchronous copy returns once its bytes are staged, maybe before they reach the device and the kernels after
        // it read them. The host copy may change once this returns: the driver stages a copy from pageable memory before
        // it returns (every host copy here is pageable; a pinned one would be read while the copy runs, and would need
        // the stream synchronised first)
        if (bytes > 0) context.driver().memcpyHtoDAsync(memory.address() + fromByte, host.asSlice(fromByte, bytes), bytes, stream.handle());
    }

    @Override
    public synchronized void download(DeviceBuffer buffer) {
        download(buffer, 0, buffer.memory().byteSize());
    }

    @Override
    public synchronized void download(DeviceBuffer buffer, long fromByte, long bytes) {
        context.makeCurrent();
        Backend.requireRange(buffer, fromByte, bytes, "a download");
        DeviceMemory memory = resident.get(buffer);
        if (memory == null) throw new IllegalStateException("the buffer was never used on " + name());
        stream.synchronize();
        if (bytes > 0) context.driver().memcpyDtoH(buffer.memory().asSlice(fromByte, bytes), memory.address() + fromByte, bytes);
    }

    @Override
    public synchronized void run(TaskGraph graph) {
        replay(graph);
        stream.synchronize();
    }

    /** Queues the uploads, the graph's replay and the read-back on the stream, then waits once, for all of them. */
    @Override
    public synchronized void run(TaskGraph graph, java.util.List<? extends DeviceBuffer> uploads, DeviceBuffer result) {
        queue(graph, uploads, result).copyTo(result.memory(), stream);
        stream.synchronize();
    }

    /** Queues the uploads and the graph's replay on the stream; returns the device copy of {@code result}. */
    private DeviceMemory queue(TaskGraph graph, java.util.List<? extends DeviceBuffer> uploads, DeviceBuffer result) {
        context.makeCurrent();
        for (DeviceBuffer b : uploads) upload(b); // (queued on the stream)
        replay(graph);
        DeviceMemory memory = resident.get(result);
        if (memory == null) throw new IllegalStateException("the buffer was never used on " + name());
        return memory;
    }

    /**
     * Queues the uploads, the graph's replay and a copy of {@code result} into page-locked memory, with an event after
     * it; the handle waits for the event and copies the bytes into {@code result}'s host copy. (A copy into the pageable
     * host copy itself would return only once done: after the graph, before the host could queue anything behind it.)
     */
    @Override
    public synchronized Pending enqueue(TaskGraph graph, java.util.List<? extends DeviceBuffer> uploads, DeviceBuffer result) {
        DeviceMemory memory = queue(graph, uploads, result);
        long bytes = result.memory().byteSize();
        ReadBack readBack = readBack(bytes);
        context.driver().memcpyDtoHAsync(readBack.staging().segment(), memory.address(), bytes, stream.handle());
        readBack.copied().record(stream);
        return new Awaited() {
            @Override
            void done() {
                readBack.copied().synchronize();
                java.lang.foreign.MemorySegment.copy(readBack.staging().segment(), 0, result.memory(), 0, bytes);
                spareReadBacks.push(readBack);
            }
        };
    }

    /**
     * Work queued on the stream, waited for once ({@link #done}, holding the backend, its context current); after the
     * backend closed, nothing to wait for (its stream was synchronized and its memory is gone).
     */
    private abstract class Awaited implements Pending {
        private boolean waited;

        /** Waits for the work and takes its results. */
        abstract void done();

        @Override
        public void await() {
            synchronized (CudaBackend.this) {
                if (waited || closed) return;
                waited = true;
                context.makeCurrent();
                done();
            }
        }
    }

    @Override
    public boolean runsApart() {
        return true;
    }

    /** Page-locked memory a result is copied into, and the event recorded after the copy: one per read-back in flight. */
    private record ReadBack(dev.moa.tasks.cuda.PinnedMemory staging, dev.moa.tasks.cuda.CudaEvent copied) {
    }

    /** A spare read-back of at least {@code bytes} (4 KiB at the least: a step's tokens are a few ints a row), or a new one. */
    private ReadBack readBack(long bytes) {
        for (var it = spareReadBacks.iterator(); it.hasNext(); ) {
            ReadBack r = it.next();
            if (r.staging().byteSize() >= bytes) {
                it.remove();
                return r;
            }
        }
        ReadBack made = new ReadBack(context.allocatePinned(Math.max(bytes, 4096)), context.createEvent());
        readBacks.add(made);
        return made;
    }

    /** Queues a replay of {@code graph}, captured at its first run (its buffers made resident first). */
    private void replay(TaskGraph graph) {
        context.makeCurrent();
        CudaGraph replay = captured.get(graph);
        if (replay == null) {
            // allocation and uploads cannot happen inside a capture: make every buffer resident first
            for (TaskGraph.Task t : graph.tasks()) {
                for (Object a : t.args()) if (a instanceof DeviceBuffer b && !resident.containsKey(b)) upload(b);
                function(t).allowDynamicShared(t.grid().sharedBytes()); // (an attribute: set before the capture, not in it)
            }
            try {
                replay = capture(graph.tasks());
            } catch (dev.moa.tasks.cuda.CudaException e) {
                if (!dependentLaunch || !refusesOverlap(e) || graph.tasks().stream().noneMatch(t -> function(t).awaitsPriorKernels())) throw e;
                refuseDependentLaunch(e);
                replay = capture(graph.tasks());
            }
            captured.put(graph, replay);
        }
        replay.launch(stream);
    }

    @Override
    public synchronized void runOnce(TaskGraph graph) {
        launchOnce(graph);
        stream.synchronize();
    }

    /** Launches the graph's tasks and records an event after them, which the handle waits for (and then closes). */
    @Override
    public synchronized Pending enqueueOnce(TaskGraph graph) {
        launchOnce(graph);
        dev.moa.tasks.cuda.CudaEvent launched = context.createEvent();
        launched.record(stream);
        return new Awaited() {
            @Override
            void done() {
                try (launched) {
                    launched.synchronize();
                }
            }
        };
    }

    /** The graph's buffers made resident, then its tasks launched: no capture, as a graph instantiated for one replay costs more than it saves. */
    private void launchOnce(TaskGraph graph) {
        context.makeCurrent();
        for (TaskGraph.Task t : graph.tasks()) {
            for (Object a : t.args()) if (a instanceof DeviceBuffer b && !resident.containsKey(b)) upload(b);
        }
        graph.tasks().forEach(this::launch);
    }

    /**
     * Microseconds each task of {@code graph} takes on the device: every task launched alone {@code repeats} times
     * between two events, after one warm-up round of the whole graph (the graph must have run once). Where a step's
     * time goes: the sum against a replay's wall time is the launch and host overhead.
     */
    public synchronized double[] profile(TaskGraph graph, int repeats) {
        context.makeCurrent();
        if (!captured.containsKey(graph)) throw new IllegalStateException("profile a graph after its first run");
        List<TaskGraph.Task> tasks = graph.tasks();
        double[] micros = new double[tasks.size()];
        try (var start = context.createEvent(); var end = context.createEvent()) {
            tasks.forEach(this::launch);
            for (int i = 0; i < micros.length; i++) {
                start.record(stream);
                // plainly: a kernel repeated overlapping itself would not be the kernel alone
                for (int r = 0; r < repeats; r++) launch(tasks.get(i), false);
                end.record(stream);
                end.synchronize();
                micros[i] = dev.moa.tasks.cuda.CudaEvent.elapsedMillis(start, end) * 1e3 / repeats;
            }
        }
        return micros;
    }

    /**
     * What each task of {@code graph} adds to a replay of the graph, in microseconds: every prefix of the graph (its
     * first k tasks) captured and replayed {@code repeats} times between two events, best of three rounds; task k's
     * cost is prefix k+1's time less prefix k's. Unlike {@link #profile}, a small kernel's launch is not counted whole,
     * only what it adds between its neighbours in the graph (the first task carries the graph launch). The tasks'
     * buffers are overwritten as by running the graph (the graph must have run once).
     */
    public synchronized double[] profileInGraph(TaskGraph graph, int repeats) {
        context.makeCurrent();
        if (!captured.containsKey(graph)) throw new IllegalStateException("profile a graph after its first run");
        List<TaskGraph.Task> tasks = graph.tasks();
        double[] prefix = new double[tasks.size() + 1];
        try (var start = context.createEvent(); var end = context.createEvent()) {
            for (int k = 1; k <= tasks.size(); k++) {
                List<TaskGraph.Task> head = tasks.subList(0, k);
                try (CudaGraph replay = capture(head)) {
                    replay.launch(stream);
                    double best = Double.POSITIVE_INFINITY;
                    for (int round = 0; round < 3; round++) {
                        start.record(stream);
                        for (int r = 0; r < repeats; r++) replay.launch(stream);
                        end.record(stream);
                        end.synchronize();
                        best = Math.min(best, dev.moa.tasks.cuda.CudaEvent.elapsedMillis(start, end) * 1e3 / repeats);
                    }
                    prefix[k] = best;
                }
            }
        }
        double[] micros = new double[tasks.size()];
        for (int i = 0; i < micros.length; i++) micros[i] = prefix[i + 1] - prefix[i];
        return micros;
    }

    @Override
    public synchronized void copy(DeviceBuffer from, long fromByte, DeviceBuffer to, long toByte, long bytes) {
        context.makeCurrent();
        if (fromByte < 0 || toByte < 0 || bytes < 0 || fromByte > from.memory().byteSize() - bytes || toByte > to.memory().byteSize() - bytes) {
            throw new IndexOutOfBoundsException("a copy of " + bytes + " bytes from byte " + fromByte + " of " + from.memory().byteSize() + " to byte "
                    + toByte + " of " + to.memory().byteSize());
        }
        if (!resident.containsKey(from)) upload(from);
        if (!resident.containsKey(to)) upload(to);
        if (bytes == 0) return;
        // on the backend's stream: after the steps that wrote the source, before the steps that read the target
        context.driver().memcpyDtoDAsync(resident.get(to).address() + toByte, resident.get(from).address() + fromByte, bytes, stream.handle());
    }

    /** A device memset on the backend's stream: nothing crosses PCIe (the host copy is left as it was). */
    @Override
    public synchronized void zero(DeviceBuffer buffer, long fromByte, long bytes) {
        context.makeCurrent();
        Backend.requireRange(buffer, fromByte, bytes, "a zeroing");
        upload(buffer, 0, 0);
        if (bytes > 0) context.driver().memsetD8Async(resident.get(buffer).address() + fromByte, (byte) 0, bytes, stream.handle());
    }

    @Override
    public synchronized void synchronize() {
        context.makeCurrent();
        stream.synchronize();
    }

    @Override
    public synchronized void free(DeviceBuffer buffer) {
        context.makeCurrent();
        DeviceMemory memory = resident.remove(buffer);
        if (memory != null) memory.close();
    }

    @Override
    public synchronized void forget(TaskGraph graph) {
        context.makeCurrent();
        CudaGraph replay = captured.remove(graph);
        if (replay != null) replay.close();
    }

    /** The tasks captured from the stream into a graph (nothing runs yet). */
    private CudaGraph capture(List<TaskGraph.Task> tasks) {
        capturing = true;
        try {
            return CudaGraph.capture(stream, () -> tasks.forEach(this::launch));
        } finally {
            capturing = false;
        }
    }

    /** What a driver answers an overlapping launch it does not take: invalid value, not permitted, not supported, capture unsupported or invalidated. */
    private static final java.util.Set<Integer> REFUSALS = java.util.Set.of(1, 800, 801, 900, 901);

    /**
     * Whether {@code e} is the driver refusing overlapping launches themselves (its {@code cuLaunchKernelEx} missing, or
     * that call or the graph's instantiation answering a {@link #REFUSALS refusal}), not an error a plain launch would
     * meet as well (an earlier kernel's fault, memory), which must surface rather than turn overlapping off.
     */
    private static boolean refusesOverlap(dev.moa.tasks.cuda.CudaException e) {
        if (e.call() == null) return String.valueOf(e.getMessage()).startsWith("cuLaunchKernelEx ");
        return (e.call().equals("cuLaunchKernelEx") || e.call().equals("cuGraphInstantiateWithFlags")) && REFUSALS.contains(e.result());
    }

    /** A driver that refuses programmatic dependent launch (older than CUDA 12.3 in a capture, say): plain launches from now on. */
    private void refuseDependentLaunch(dev.moa.tasks.cuda.CudaException e) {
        dependentLaunch = false;
        System.err.println("moa: " + name() + ": programmatic dependent launch refused (" + e.getMessage() + "); kernels launch one after another");
    }

    private void launch(TaskGraph.Task t) {
        launch(t, dependentLaunch);
    }

    /** Launches the task on the stream, overlapping the kernel before it where {@code overlap} and its PTX waits for that. */
    private void launch(TaskGraph.Task t, boolean overlap) {
        Object[] args = new Object[t.args().size()];
        for (int i = 0; i < args.length; i++) {
            Object a = t.args().get(i);
            args[i] = a instanceof DeviceBuffer b ? resident.get(b) : a;
        }
        var g = t.grid();
        CudaFunction f = function(t);
        f.allowDynamicShared(g.sharedBytes());
        Dim3 groups = Dim3.of(g.groupsX(), g.groupsY(), g.groupsZ()), block = Dim3.of(g.groupSize());
        if (overlap && f.awaitsPriorKernels()) {
            try {
                f.launchOverlapping(groups, block, g.sharedBytes(), stream, args);
                return;
            } catch (dev.moa.tasks.cuda.CudaException e) {
                if (capturing || !refusesOverlap(e)) throw e; // a spoilt capture: run() captures again without
                refuseDependentLaunch(e);
            }
        }
        f.launch(groups, block, g.sharedBytes(), stream, args);
    }

    /** The task's kernel, the variant for its {@code @Specialize} arguments (compiled and loaded once each). */
    private CudaFunction function(TaskGraph.Task t) {
        Specialization fixed = Specialization.of(t.owner(), t.method(), t.args());
        String key = t.owner().getName() + "." + t.method() + fixed.key();
        CudaFunction f = functions.get(key);
        if (f == null) {
            PtxCompiler.Kernel kernel = cache.compile(t.owner(), t.method(), context.ptxTarget(), fixed);
            CudaModule module = context.loadModule(kernel.ptx());
            modules.add(module);
            f = module.function(kernel.entry());
            functions.put(key, f);
        }
        return f;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        context.makeCurrent();
        try {
            stream.synchronize(); // (read-backs in flight land in their memory before it goes)
        } finally { // (a context that failed still gets everything back)
            for (ReadBack r : readBacks) {
                r.copied().close();
                r.staging().close();
            }
            captured.values().forEach(CudaGraph::close);
            resident.values().forEach(DeviceMemory::close);
            modules.forEach(CudaModule::close);
            stream.close();
        }
    }
}
