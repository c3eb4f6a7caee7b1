package dev.moa.tasks.jit;

import dev.moa.tasks.emulator.Grid;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Test-only: executes the PTX subset the JIT emits (see {@link PtxCompiler}'s class comment), so the generated
 * code itself — not the Java it came from — can be run on random inputs and compared with the emulator; and what
 * nvcc writes for {@code scripts/kernel-gap/reference.cu} ({@link #ofEntry}: one entry of a module of several,
 * register ranges, shared arrays in bytes, {@code [register+offset]} addresses), so the benchmarks' reference
 * kernels are proven to compute what ours do before their times are compared. Each
 * thread of a block is a virtual thread with its own registers; {@code bar.sync} is a block barrier and
 * {@code shfl.sync} exchanges values inside a warp. Global memory is the real off-heap memory of the buffers
 * (parameters carry their addresses); approximate instructions ({@code ex2.approx} …) are computed exactly.
 */
public final class PtxInterpreter {
    private static final MemorySegment ALL = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    /** A decoded instruction: optional guard predicate, opcode parts, operands. */
    record Op(int guard, boolean negate, String[] parts, String[] operands, String text) {
    }

    private final List<Op> code = new ArrayList<>();
    private final Map<String, Integer> labels = new HashMap<>();
    private final Map<String, Integer> registers = new HashMap<>();
    private final Map<String, Integer> sharedOffsets = new HashMap<>();
    private final List<String> paramNames = new ArrayList<>();
    private int sharedBytes;
    /** The dynamic shared array's name, or null. */
    private String dynamicShared;
    /**
     * Whether the entry waits for the kernels before it ({@code griddepcontrol.wait}): the CUDA backend then launches it
     * to overlap the previous kernel, so each thread's global memory accesses before its wait are refused here.
     */
    private boolean awaitsPriorKernels;

    /** Work-items per group the entry allows ({@code .maxntid}; 1024 when it does not say). */
    private int maxGroupSize = 1024;

    /** PTX instructions executed by every thread of every launch so far (guarded-off ones included). */
    private final java.util.concurrent.atomic.LongAdder executed = new java.util.concurrent.atomic.LongAdder();

    /** Of {@link #executed}, the register moves ({@code mov}), which ptxas's register allocation mostly removes. */
    private final java.util.concurrent.atomic.LongAdder moves = new java.util.concurrent.atomic.LongAdder();

    /** The 128-byte lines {@code prefetch.global.L2} asked for in every launch so far (address / 128). */
    private final java.util.Set<Long> prefetched = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** The 128-byte lines (address / 128) the launches so far asked the L2 for. */
    public java.util.Set<Long> prefetchedLines() {
        return java.util.Set.copyOf(prefetched);
    }

    /** Shared-memory bank conflicts of every launch so far. */
    private final SharedBanks banks = new SharedBanks();

    /** Shared-memory wavefronts of every launch so far ({@link SharedBanks}). */
    public long sharedWavefronts() {
        return banks.wavefronts();
    }

    /** The wavefronts {@link #sharedWavefronts}' accesses would take without bank conflicts. */
    public long sharedIdealWavefronts() {
        return banks.ideal();
    }

    /** The shared accesses that conflicted, one line per instruction (empty: none). */
    public String bankConflicts() {
        return banks.report(code);
    }

    /** Instructions executed so far, summed over threads: a deterministic measure of a kernel's work. */
    public long executed() {
        return executed.sum();
    }

    /**
     * {@link #executed} less the register moves: closer to what the GPU runs where a kernel passes fragments between
     * helpers (each a {@code mov} per word in PTX, none after ptxas).
     */
    public long executedWithoutMoves() {
        return executed.sum() - moves.sum();
    }

    /** The kernel {@code entry} of a module that may hold several (nvcc's output for a file of kernels). */
    public static PtxInterpreter ofEntry(String ptx, String entry) {
        int start = ptx.indexOf(".visible .entry " + entry + "(");
        if (start < 0) throw new IllegalArgumentException("no entry " + entry + " in the PTX");
        int end = ptx.indexOf("\n}", start);
        String header = ptx.substring(0, ptx.indexOf(".visible .entry"));
        return new PtxInterpreter(header + ptx.substring(start, end + 2));
    }

    public PtxInterpreter(String ptx) {
        boolean inParams = false;
        for (String raw : ptx.split("\n")) {
            String line = raw.strip();
            int comment = line.indexOf("//");
            if (comment >= 0) line = line.substring(0, comment).strip();
            if (line.isEmpty() || line.equals("{") || line.equals("}")) continue;
            if (line.startsWith(".visible .entry")) {
                inParams = true;
                continue;
            }
            if (line.startsWith(".visible .func") || line.startsWith(".func")) throw new IllegalArgumentException("calls are not interpreted: " + line);
            if (inParams) {
                if (line.equals(")")) {
                    inParams = false;
                } else {
                    String[] p = line.replace(",", "").split("\\s+");
                    paramNames.add(p[p.length - 1]);
                }
                continue;
            }
            if (line.startsWith(".version") || line.startsWith(".target") || line.startsWith(".address_size") || line.startsWith(".pragma")) continue;
            if (line.startsWith(".maxntid")) { // launch bounds: a larger group is refused, as the driver refuses it
                maxGroupSize = Integer.parseInt(line.substring(".maxntid".length()).split(",")[0].strip());
                continue;
            }
            if (line.startsWith(".minnctapersm")) continue; // a register budget for ptxas, nothing to run
            if (line.startsWith(".reg")) {
                String name = line.substring(line.lastIndexOf(' ') + 1, line.length() - 1).strip();
                if (name.endsWith(">")) { // %f<12>: %f0 … %f11
                    String prefix = name.substring(0, name.indexOf('<'));
                    int count = Integer.parseInt(name.substring(name.indexOf('<') + 1, name.length() - 1));
                    for (int k = 0; k < count; k++) registers.putIfAbsent(prefix + k, registers.size());
                } else {
                    registers.putIfAbsent(name, registers.size());
                }
                continue;
            }
            if (line.startsWith(".extern .shared")) { // dynamic shared memory: after the static arrays, sized by the launch
                String decl = line.substring(line.lastIndexOf(' ') + 1, line.length() - 1);
                dynamicShared = decl.substring(0, decl.indexOf('['));
                continue;
            }
            if (line.startsWith(".shared")) { // ours: .shared .f32 s[n] (words); nvcc's: .shared .align 4 .b8 s[bytes], .u32 s
                String decl = line.substring(line.lastIndexOf(' ') + 1, line.length() - 1);
                boolean array = decl.contains("[");
                String name = array ? decl.substring(0, decl.indexOf('[')) : decl;
                int length = array ? Integer.parseInt(decl.substring(decl.indexOf('[') + 1, decl.indexOf(']'))) : 1;
                sharedBytes = (sharedBytes + 15) & ~15;
                sharedOffsets.put(name, sharedBytes);
                sharedBytes += line.contains(".b8 ") ? length : length * 4;
                continue;
            }
            if (line.endsWith(":")) {
                labels.put(line.substring(0, line.length() - 1), code.size());
                continue;
            }
            int guard = -1;
            boolean negate = false;
            if (line.startsWith("@")) {
                int space = line.indexOf(' ');
                String p = line.substring(1, space);
                negate = p.startsWith("!");
                guard = register(negate ? p.substring(1) : p);
                line = line.substring(space + 1).strip();
            }
            line = line.substring(0, line.length() - 1); // ';'
            int space = line.indexOf(' ');
            String opcode = space < 0 ? line : line.substring(0, space);
            String[] operands = space < 0 ? new String[0] : line.substring(space + 1).split(",\\s*");
            for (int i = 0; i < operands.length; i++) operands[i] = operands[i].strip();
            code.add(new Op(guard, negate, opcode.split("\\."), operands, line));
            if (opcode.equals("griddepcontrol.wait")) awaitsPriorKernels = true;
        }
    }

    private int register(String name) {
        Integer r = registers.get(name);
        if (r == null) throw new IllegalArgumentException("undeclared register " + name);
        return r;
    }

    /** Runs the entry over the grid; {@code args} are buffers' memory segments, Integer, Long or Float. */
    public void launch(Grid grid, Object... args) {
        if (grid.groupSize() > maxGroupSize) throw new IllegalArgumentException("groups of " + grid.groupSize() + " exceed .maxntid " + maxGroupSize);
        if (args.length != paramNames.size()) throw new IllegalArgumentException("expected " + paramNames.size() + " arguments");
        long[] params = new long[args.length];
        for (int i = 0; i < args.length; i++) {
            params[i] = switch (args[i]) {
                case MemorySegment m -> m.address();
                case Integer n -> n;
                case Long n -> n;
                case Float x -> Float.floatToRawIntBits(x);
                default -> throw new IllegalArgumentException("argument " + i + ": " + args[i]);
            };
        }
        java.util.concurrent.atomic.LongAdder waits = new java.util.concurrent.atomic.LongAdder(); // threads past griddepcontrol.wait
        for (int z = 0; z < grid.groupsZ(); z++) {
            for (int y = 0; y < grid.groupsY(); y++) {
                for (int x = 0; x < grid.groupsX(); x++) runBlock(grid, new int[] {x, y, z}, params, waits);
            }
        }
        // a grid none of whose threads waited completes at once, so the kernel after it, waiting only for this one,
        // would run beside the one before: the chain of waits that orders a graph's kernels would break here
        if (awaitsPriorKernels && waits.sum() == 0) {
            throw new IllegalStateException("no thread of the launch reached griddepcontrol.wait: the next kernel would overlap the previous one");
        }
    }


    private void runBlock(Grid grid, int[] block, long[] params, java.util.concurrent.atomic.LongAdder waits) {
        int n = grid.groupSize(), warps = (n + 31) / 32;
        Barrier barrier = new Barrier(n);
        Barrier[] warpBarriers = new Barrier[warps];
        long[][] warpSlots = new long[warps][32];
        int[][][] mmaWords = new int[warps][32][6];
        float[][][] mmaAcc = new float[warps][32][4];
        for (int w = 0; w < warps; w++) warpBarriers[w] = new Barrier(Math.min(32, n - w * 32));
        // lanes of each warp that have left the kernel: a warp-wide operation after that is undefined on a GPU
        java.util.concurrent.atomic.AtomicIntegerArray exited = new java.util.concurrent.atomic.AtomicIntegerArray(warps);
        try (Arena arena = Arena.ofShared()) {
            int staticBytes = (sharedBytes + 15) & ~15;
            if (dynamicShared != null) sharedOffsets.put(dynamicShared, staticBytes);
            MemorySegment shared = arena.allocate(Math.max(16, staticBytes + grid.sharedBytes()), 16);
            shared.fill((byte) 0xFF); // what the group before left, as the emulator's arrays start: NaN bits, not zeros
            Races races = new Races((int) (shared.byteSize() / 4));
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<java.lang.Thread> threads = new ArrayList<>();
            for (int t = 0; t < n; t++) {
                int tid = t;
                threads.add(java.lang.Thread.ofVirtual().start(() -> {
                    try {
                        new PtxThread(grid, block, tid, params, shared, races, barrier, warpBarriers[tid / 32], warpSlots[tid / 32], mmaWords[tid / 32],
                                mmaAcc[tid / 32], waits, exited).run();
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    } finally {
                        exited.incrementAndGet(tid / 32);
                        barrier.arriveAndDeregister();
                        warpBarriers[tid / 32].arriveAndDeregister();
                    }
                }));
            }
            for (var th : threads) th.join();
            banks.endGroup();
            if (failure.get() != null) throw new IllegalStateException("PTX failed: " + failure.get(), failure.get());
        } catch (InterruptedException e) {
            java.lang.Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static final Object ATOMICS = new Object();

    /**
     * A barrier of a block's (or a warp's) virtual threads: each waiter parks until the last arrives, which wakes them
     * all; a thread that ends leaves it. (A {@code Phaser} spins its carrier before it parks: two thirds of the
     * interpreter's time went there.)
     */
    static final class Barrier {
        private final java.util.concurrent.locks.ReentrantLock lock = new java.util.concurrent.locks.ReentrantLock();
        private final java.util.concurrent.locks.Condition advanced = lock.newCondition();
        private int parties, arrived, phase;

        Barrier(int parties) {
            this.parties = parties;
        }

        void arriveAndAwaitAdvance() {
            lock.lock();
            try {
                int mine = phase;
                if (++arrived == parties) {
                    advance();
                    return;
                }
                while (phase == mine) advanced.awaitUninterruptibly();
            } finally {
                lock.unlock();
            }
        }

        void arriveAndDeregister() {
            lock.lock();
            try {
                parties--;
                if (arrived > 0 && arrived == parties) advance();
            } finally {
                lock.unlock();
            }
        }

        private void advance() {
            arrived = 0;
            phase++;
            advanced.signalAll();
        }
    }

    /**
     * A group's shared-memory accesses between barriers, to find races as compute-sanitizer's racecheck does: a word
     * written by one thread and read by another (either order) with no {@code bar.sync} between them. On the GPU which
     * comes first depends on scheduling (and, within a warp, on independent thread scheduling), so such a kernel reads
     * what it wants only by chance; here threads run interleaved by the JVM, so the values alone would not show it
     * every time. Two threads writing one word between barriers are not reported (the kernels' checks see the values).
     * Asynchronous copies count as written where they start and where the copying thread's wait lands them.
     */
    private static final class Races {
        private final int[] writer, writeInterval, reader, readInterval, writeOp, readOp;

        Races(int words) {
            writer = new int[words];
            writeInterval = new int[words];
            reader = new int[words];
            readInterval = new int[words];
            writeOp = new int[words];
            readOp = new int[words];
            java.util.Arrays.fill(writeInterval, -1);
            java.util.Arrays.fill(readInterval, -1);
        }

        /** Thread {@code tid}, between its barriers {@code interval} and the next, reads ({@code write} false) or writes bytes [at, at + bytes). */
        synchronized void access(int tid, int interval, long at, int bytes, boolean write, int op, List<Op> code) {
            for (long w = at / 4; w < (at + bytes + 3) / 4; w++) {
                int i = (int) w;
                if (write) {
                    if (readInterval[i] == interval && reader[i] != tid) throw race(i, reader[i], readOp[i], "reads", tid, op, "writes", code);
                    writer[i] = tid;
                    writeInterval[i] = interval;
                    writeOp[i] = op;
                } else {
                    if (writeInterval[i] == interval && writer[i] != tid) throw race(i, writer[i], writeOp[i], "writes", tid, op, "reads", code);
                    if (readInterval[i] != interval) { // the first reader of the interval; another one reading it too is no race
                        reader[i] = tid;
                        readInterval[i] = interval;
                        readOp[i] = op;
                    } else if (reader[i] != tid) {
                        reader[i] = -1; // several: any writer but a reader of it would race, named by the first
                    }
                }
            }
        }

        private static IllegalStateException race(int word, int first, int firstOp, String did, int tid, int op, String does, List<Op> code) {
            String who = first < 0 ? "other threads" : "thread " + first;
            return new IllegalStateException("shared-memory race at byte " + 4L * word + ": " + who + " " + did + " it ('"
                    + (firstOp >= 0 ? code.get(firstOp).text() : "?") + "') and thread " + tid + " " + does + " it ('" + code.get(op).text()
                    + "') with no bar.sync between");
        }
    }

    /** One PTX thread: its registers (raw bits) and a program counter. */
    private final class PtxThread {
        final Grid grid;
        final int[] block;
        final int tid;
        final long[] params;
        final MemorySegment shared;
        final Races races;
        /** Barriers this thread has passed: its interval between them, for {@link Races}. */
        int interval;
        /** The index of the op running now (for {@link Races}' messages). */
        int current;
        final Barrier barrier, warpBarrier;
        final long[] warpSlots;
        final int[][] mmaWords;
        final float[][] mmaAcc;
        final long[] r = new long[registers.size()];
        List<Runnable> openCopies = new ArrayList<>();
        final java.util.ArrayDeque<List<Runnable>> copyGroups = new java.util.ArrayDeque<>();
        /** Whether this thread has passed {@code griddepcontrol.wait}; the launch's count of those that have. */
        boolean waited;
        /** How many times this thread has run each shared-memory instruction, by index: to match its warp's lanes. */
        final Map<Integer, Integer> runs = new HashMap<>();

        /** This thread's shared access of {@code bytes} at {@code address}, for {@link SharedBanks}. */
        void bank(long address, int bytes) {
            int occurrence = runs.merge(current, 1, Integer::sum), warp = tid / 32;
            banks.access(warp, tid % 32, Math.min(32, grid.groupSize() - warp * 32), current, occurrence, address, bytes);
        }
        final java.util.concurrent.atomic.LongAdder waits;
        final java.util.concurrent.atomic.AtomicIntegerArray exited;

        /**
         * Refuses a global memory access before this thread's {@code griddepcontrol.wait} in an entry that waits: on the
         * GPU it would run while the previous kernel still writes (or reads) that memory.
         */
        void global(Op op) {
            if (awaitsPriorKernels && !waited) {
                throw new IllegalStateException("'" + op.text() + "' touches global memory before griddepcontrol.wait (thread " + tid
                        + "): it would overlap the previous kernel");
            }
        }

        PtxThread(Grid grid, int[] block, int tid, long[] params, MemorySegment shared, Races races, Barrier barrier, Barrier warpBarrier,
                  long[] warpSlots, int[][] mmaWords, float[][] mmaAcc, java.util.concurrent.atomic.LongAdder waits,
                  java.util.concurrent.atomic.AtomicIntegerArray exited) {
            this.grid = grid;
            this.block = block;
            this.tid = tid;
            this.params = params;
            this.shared = shared;
            this.races = races;
            this.barrier = barrier;
            this.warpBarrier = warpBarrier;
            this.warpSlots = warpSlots;
            this.mmaWords = mmaWords;
            this.mmaAcc = mmaAcc;
            this.waits = waits;
            this.exited = exited;
        }

        /**
         * Refuses a warp-wide operation ({@code shfl.sync} with the full mask, {@code ldmatrix}/{@code mma .sync.aligned})
         * that a lane of this warp can no longer join, having left the kernel: on a GPU that is undefined (it may hang or
         * read garbage), where here the other lanes would go on without it. Called once every lane still running has
         * arrived, so a lane that left instead of arriving is seen.
         */
        void wholeWarp(Op op) {
            if (exited.get(tid / 32) > 0) {
                throw new IllegalStateException("'" + op.text() + "' in warp " + tid / 32 + " after " + exited.get(tid / 32)
                        + " of its lanes left the kernel: a full-mask or .aligned warp operation needs every lane of the warp");
            }
        }

        long value(String operand) {
            if (operand.startsWith("%")) {
                return switch (operand) {
                    case "%tid.x" -> tid;
                    case "%ntid.x" -> grid.groupSize();
                    case "%ctaid.x" -> block[0];
                    case "%ctaid.y" -> block[1];
                    case "%ctaid.z" -> block[2];
                    case "%nctaid.x" -> grid.groupsX();
                    case "%nctaid.y" -> grid.groupsY();
                    case "%nctaid.z" -> grid.groupsZ();
                    default -> r[register(operand)];
                };
            }
            if (operand.startsWith("0f")) return Integer.parseUnsignedInt(operand.substring(2), 16);
            if (operand.startsWith("0x")) return Long.parseUnsignedLong(operand.substring(2), 16);
            if (sharedOffsets.containsKey(operand)) return sharedOffsets.get(operand);
            return Long.parseLong(operand);
        }

        float f(String operand) {
            return Float.intBitsToFloat((int) value(operand));
        }

        int i(String operand) {
            return (int) value(operand);
        }

        void set(String operand, long bits) {
            r[register(operand)] = bits;
        }

        void setF(String operand, float x) {
            set(operand, Float.floatToRawIntBits(x) & 0xFFFFFFFFL);
        }

        /** {@code [base]} or {@code [base+offset]} (nvcc's form), base a register, a shared array or a parameter. */
        long address(String operand) {
            String inner = operand.substring(1, operand.length() - 1);
            int plus = inner.indexOf('+');
            return plus < 0 ? value(inner) : value(inner.substring(0, plus)) + Long.parseLong(inner.substring(plus + 1));
        }

        /**
         * {@code address}, refused unless a multiple of {@code bytes}: the GPU stops a kernel at a misaligned access
         * (CUDA_ERROR_MISALIGNED_ADDRESS, which also ends the context), where host memory would read it anyway.
         * Global addresses are the fake driver's, aligned as cuMemAlloc's; shared ones offsets into the group's array.
         */
        long aligned(long address, int bytes, Op op) {
            if (address % bytes != 0) {
                throw new IllegalStateException("misaligned address: '" + op.text() + "' (thread " + tid + ") accesses " + bytes
                        + " bytes at " + (address % 256) + " mod 256, where the GPU needs a multiple of " + bytes);
            }
            return address;
        }

        /** Bytes of one scalar access of PTX type {@code type}. */
        int bytes(String type, Op op) {
            return switch (type) {
                case "f32", "s32", "u32", "b32" -> 4;
                case "s16", "u16", "b16" -> 2;
                case "u64", "s64", "b64", "f64" -> 8;
                case "s8", "u8", "b8" -> 1;
                default -> throw unsupported(op);
            };
        }

        long exchange(long value, int source) {
            int lane = tid % 32;
            warpSlots[lane] = value;
            warpBarrier.arriveAndAwaitAdvance();
            wholeWarp(code.get(current));
            int width = Math.min(32, grid.groupSize() - (tid / 32) * 32);
            long result = source < width ? warpSlots[source] : value;
            warpBarrier.arriveAndAwaitAdvance();
            return result;
        }

        void run() {
            int pc = 0;
            while (pc < code.size()) {
                current = pc;
                Op op = code.get(pc++);
                executed.increment();
                String[] p = op.parts();
                if (p[0].equals("mov")) moves.increment();
                if (op.guard() >= 0 && ((r[op.guard()] != 0) == op.negate())) continue;
                String[] o = op.operands();
                String type = p[p.length - 1];
                try {
                    switch (p[0]) {
                        case "ret" -> {
                            return;
                        }
                        case "bra" -> pc = labels.get(o[0]);
                        case "ld" -> {
                            if (p[1].equals("param")) {
                                int index = paramNames.indexOf(o[1].substring(1, o[1].length() - 1));
                                set(o[0], params[index]);
                            } else {
                                MemorySegment memory = p[1].equals("shared") ? shared : ALL;
                                if (memory == ALL) global(op);
                                if (p[p.length - 2].equals("v4") || p[p.length - 2].equals("v2")) { // {%v_0, …}, [address]
                                    int words = p[p.length - 2].equals("v4") ? 4 : 2;
                                    long a = aligned(address(o[words]), 4 * words, op);
                                    if (memory == shared) {
                                        races.access(tid, interval, a, 4 * words, false, current, code);
                                        bank(a, 4 * words);
                                    }
                                    for (int w = 0; w < words; w++) {
                                        set(o[w].replace("{", "").replace("}", ""), memory.get(ValueLayout.JAVA_INT_UNALIGNED, a + 4L * w) & 0xFFFFFFFFL);
                                    }
                                    continue;
                                }
                                long a = aligned(address(o[1]), bytes(type, op), op);
                                if (memory == shared) {
                                    races.access(tid, interval, a, bytes(type, op), false, current, code);
                                    bank(a, bytes(type, op));
                                }
                                switch (type) {
                                    case "f32" -> setF(o[0], memory.get(ValueLayout.JAVA_FLOAT_UNALIGNED, a));
                                    case "s32", "u32", "b32" -> set(o[0], memory.get(ValueLayout.JAVA_INT_UNALIGNED, a));
                                    case "s16" -> set(o[0], memory.get(ValueLayout.JAVA_SHORT_UNALIGNED, a));
                                    case "u16" -> set(o[0], memory.get(ValueLayout.JAVA_SHORT_UNALIGNED, a) & 0xFFFF);
                                    case "u64" -> set(o[0], memory.get(ValueLayout.JAVA_LONG_UNALIGNED, a));
                                    case "s8" -> set(o[0], memory.get(ValueLayout.JAVA_BYTE, a));
                                    default -> throw unsupported(op);
                                }
                            }
                        }
                        case "st" -> {
                            MemorySegment memory = p[1].equals("shared") ? shared : ALL;
                            if (memory == ALL) global(op);
                            long a = address(o[0]);
                            if (p[p.length - 2].equals("v4") || p[p.length - 2].equals("v2")) { // [address], {%v_0, …} (nvcc's)
                                int words = p[p.length - 2].equals("v4") ? 4 : 2;
                                aligned(a, 4 * words, op);
                                if (memory == shared) {
                                    races.access(tid, interval, a, 4 * words, true, current, code);
                                    bank(a, 4 * words);
                                }
                                if (!type.equals("f32") && !type.equals("b32") && !type.equals("u32") && !type.equals("s32")) throw unsupported(op);
                                for (int w = 0; w < words; w++) {
                                    memory.set(ValueLayout.JAVA_INT_UNALIGNED, a + 4L * w, i(o[1 + w].replace("{", "").replace("}", "")));
                                }
                                continue;
                            }
                            aligned(a, bytes(type, op), op);
                            if (memory == shared) {
                                races.access(tid, interval, a, bytes(type, op), true, current, code);
                                bank(a, bytes(type, op));
                            }
                            switch (type) {
                                case "f32" -> memory.set(ValueLayout.JAVA_FLOAT_UNALIGNED, a, f(o[1]));
                                case "s32", "u32", "b32" -> memory.set(ValueLayout.JAVA_INT_UNALIGNED, a, i(o[1]));
                                case "b16" -> memory.set(ValueLayout.JAVA_SHORT_UNALIGNED, a, (short) i(o[1]));
                                case "b8" -> memory.set(ValueLayout.JAVA_BYTE, a, (byte) i(o[1]));
                                default -> throw unsupported(op);
                            }
                        }
                        case "atom" -> {
                            if (!p[1].equals("shared")) global(op);
                            long a = aligned(address(o[1]), 4, op);
                            synchronized (ATOMICS) {
                                switch (p[2] + "." + type) {
                                    case "add.f32" -> {
                                        float old = ALL.get(ValueLayout.JAVA_FLOAT_UNALIGNED, a);
                                        ALL.set(ValueLayout.JAVA_FLOAT_UNALIGNED, a, old + f(o[2]));
                                        setF(o[0], old);
                                    }
                                    case "add.u32", "max.s32" -> {
                                        int old = ALL.get(ValueLayout.JAVA_INT_UNALIGNED, a);
                                        int v = p[2].equals("add") ? old + i(o[2]) : Math.max(old, i(o[2]));
                                        ALL.set(ValueLayout.JAVA_INT_UNALIGNED, a, v);
                                        set(o[0], old);
                                    }
                                    default -> throw unsupported(op);
                                }
                            }
                        }
                        case "bar" -> {
                            barrier.arriveAndAwaitAdvance();
                            interval++;
                        }
                        case "cp" -> { // cp.async: copies start, are grouped by commit_group, and happen at the wait_group covering them
                            switch (p[2]) {
                                case "cg" -> {
                                    global(op);
                                    long destination = aligned(address(o[0]), 16, op), source = aligned(address(o[1]), 16, op);
                                    // a fourth operand, the source size, reads that many bytes and zero-fills the rest
                                    long read = o.length > 3 ? value(o[3]) : 16;
                                    if (read < 0 || read > 16) throw new IllegalStateException("cp.async source size " + read + " outside 0..16: " + op.text());
                                    int copyOp = current;
                                    // on the GPU the copy may land any time from here to the wait that covers it: a write in both intervals
                                    races.access(tid, interval, destination, 16, true, copyOp, code);
                                    bank(destination, 16); // the copy's write into shared memory, 16 bytes a lane
                                    openCopies.add(() -> { // run at the wait that covers it: written then, in this thread's interval
                                        races.access(tid, interval, destination, 16, true, copyOp, code);
                                        if (read > 0) MemorySegment.copy(ALL, source, shared, destination, read);
                                        shared.asSlice(destination + read, 16 - read).fill((byte) 0);
                                    });
                                }
                                case "commit_group" -> {
                                    copyGroups.addLast(openCopies);
                                    openCopies = new ArrayList<>();
                                }
                                case "wait_group" -> {
                                    long pending = value(o[0]);
                                    while (copyGroups.size() > pending) copyGroups.removeFirst().forEach(Runnable::run);
                                }
                                default -> throw unsupported(op);
                            }
                        }
                        case "prefetch" -> { // prefetch.global.L2 [address]: a hint, touching nothing (allowed before the wait)
                            if (!op.text().startsWith("prefetch.global.L2 ")) throw unsupported(op);
                            prefetched.add(address(o[0]) >>> 7);
                        }
                        case "griddepcontrol" -> {
                            switch (p[1]) {
                                case "wait" -> { // blocks run after the kernels before them here
                                    waited = true;
                                    waits.increment();
                                }
                                case "launch_dependents" -> {
                                    // before the wait it would let the next kernel start while the one before this still runs
                                    if (!waited) throw new IllegalStateException("griddepcontrol.launch_dependents before griddepcontrol.wait (thread " + tid + ")");
                                }
                                default -> throw unsupported(op);
                            }
                        }
                        case "ldmatrix" -> { // ldmatrix.sync.aligned.m8n8.x4.shared.b16 {r0..r3}, [address]: MatrixFragments.rowLane
                            boolean transposed = op.text().startsWith("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16");
                            if (!transposed && !op.text().startsWith("ldmatrix.sync.aligned.m8n8.x4.shared.b16")) throw unsupported(op);
                            long mine = aligned(address(o[4]), 16, op);
                            bank(mine, 16); // each lane's 16-byte row; lanes 8j..8j+7 name matrix j's, a phase each
                            int lane = tid % 32;
                            for (int j = 0; j < 4; j++) {
                                String target = o[j].replace("{", "").replace("}", "").strip();
                                if (!transposed) {
                                    long row = exchange(mine, dev.moa.tasks.kernel.MatrixFragments.rowLane(lane, j));
                                    races.access(tid, interval, row + 4L * (lane % 4), 4, false, current, code);
                                    set(target, shared.get(ValueLayout.JAVA_INT_UNALIGNED, row + 4L * (lane % 4)) & 0xFFFFFFFFL);
                                } else { // element lane / 4 of two rows: MatrixFragments.transposedRowLane
                                    long even = exchange(mine, dev.moa.tasks.kernel.MatrixFragments.transposedRowLane(lane, j, 0));
                                    long odd = exchange(mine, dev.moa.tasks.kernel.MatrixFragments.transposedRowLane(lane, j, 1));
                                    races.access(tid, interval, even + 2L * (lane / 4), 2, false, current, code);
                                    races.access(tid, interval, odd + 2L * (lane / 4), 2, false, current, code);
                                    long low = shared.get(ValueLayout.JAVA_SHORT_UNALIGNED, even + 2L * (lane / 4)) & 0xFFFFL;
                                    long high = shared.get(ValueLayout.JAVA_SHORT_UNALIGNED, odd + 2L * (lane / 4)) & 0xFFFFL;
                                    set(target, low | high << 16);
                                }
                            }
                        }
                        case "mma" -> { // mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {d0..d3}, {a0..a3}, {b0, b1}, {c0..c3}
                            if (!op.text().startsWith("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32")) throw unsupported(op);
                            String[] reg = new String[o.length];
                            for (int k = 0; k < o.length; k++) reg[k] = o[k].replace("{", "").replace("}", "").strip();
                            int lane = tid % 32;
                            for (int k = 0; k < 4; k++) mmaWords[lane][k] = i(reg[4 + k]);
                            mmaWords[lane][4] = i(reg[8]);
                            mmaWords[lane][5] = i(reg[9]);
                            for (int k = 0; k < 4; k++) mmaAcc[lane][k] = f(reg[10 + k]);
                            warpBarrier.arriveAndAwaitAdvance();
                            wholeWarp(op);
                            float[] d = dev.moa.tasks.kernel.MatrixFragments.product(mmaWords, mmaAcc, lane);
                            warpBarrier.arriveAndAwaitAdvance();
                            for (int k = 0; k < 4; k++) setF(reg[k], d[k]);
                        }
                        case "membar" -> {
                            // blocks run one after another here: every write is already seen by the next
                        }
                        case "shfl" -> {
                            int lane = tid % 32, arg = i(o[2]);
                            int source = p[2].equals("bfly") ? lane ^ arg : lane + arg;
                            long v = exchange(value(o[1]), source < 32 ? source : lane);
                            String[] destination = o[0].split("\\|"); // nvcc's %r|%p: the value, and whether its lane was in range
                            set(destination[0], v);
                            if (destination.length > 1) set(destination[1], source < 32 ? 1 : 0);
                        }
                        case "cvta", "mov" -> set(o[0], type.equals("f32") ? value(o[1]) & 0xFFFFFFFFL : value(o[1]));
                        case "setp" -> set(o[0], compare(p[1], type, o[1], o[2]) ? 1 : 0);
                        case "selp" -> set(o[0], value(o[3]) != 0 ? value(o[1]) : value(o[2]));
                        case "cvt" -> convert(op, p, o);
                        default -> arithmetic(op, p, o, type);
                    }
                } catch (RuntimeException e) {
                    throw new IllegalStateException("at '" + op.text() + "': " + e, e);
                }
            }
        }

        boolean compare(String cond, String type, String a, String b) {
            boolean unordered = cond.endsWith("u");
            String c = unordered ? cond.substring(0, cond.length() - 1) : cond;
            if (type.equals("f32")) {
                float x = f(a), y = f(b);
                if (Float.isNaN(x) || Float.isNaN(y)) return unordered;
                return holds(c, Float.compare(x, y) == 0 && x == y ? 0 : x < y ? -1 : 1);
            }
            if (type.equals("u32")) return holds(c, Long.compare(value(a) & 0xFFFFFFFFL, value(b) & 0xFFFFFFFFL));
            if (type.equals("u64")) return holds(c, Long.compareUnsigned(value(a), value(b)));
            long x = type.equals("s32") ? i(a) : value(a), y = type.equals("s32") ? i(b) : value(b);
            return holds(c, Long.compare(x, y));
        }

        boolean holds(String c, int cmp) {
            return switch (c) {
                case "eq" -> cmp == 0;
                case "ne" -> cmp != 0;
                case "lt" -> cmp < 0;
                case "le" -> cmp <= 0;
                case "gt" -> cmp > 0;
                case "ge" -> cmp >= 0;
                default -> throw new IllegalArgumentException(c);
            };
        }

        void convert(Op op, String[] p, String[] o) {
            String conversion = String.join(".", java.util.Arrays.copyOfRange(p, 1, p.length));
            switch (conversion) {
                case "s64.s32" -> set(o[0], i(o[1]));
                case "u64.u32" -> set(o[0], i(o[1]) & 0xFFFFFFFFL);
                case "u32.u16" -> set(o[0], i(o[1]) & 0xFFFF);
                case "u32.u64" -> set(o[0], (int) value(o[1]));
                case "rn.f32.s32" -> setF(o[0], (float) i(o[1]));
                case "rn.f32.s64" -> setF(o[0], (float) value(o[1]));
                case "rzi.s32.f32" -> set(o[0], (int) f(o[1]));
                case "rzi.s64.f32" -> set(o[0], (long) f(o[1]));
                case "s32.s16" -> set(o[0], (short) i(o[1]));
                case "s32.s8" -> set(o[0], (byte) i(o[1]));
                case "u16.u32" -> set(o[0], i(o[1]) & 0xFFFF);
                case "f32.f16" -> setF(o[0], Float.float16ToFloat((short) i(o[1])));
                case "rn.f16.f32" -> set(o[0], Float.isNaN(f(o[1])) ? 0x7FFF : Float.floatToFloat16(f(o[1])) & 0xFFFF);
                case "rn.bf16.f32" -> set(o[0], bf16(f(o[1])));
                case "rn.bf16x2.f32" -> set(o[0], ((long) bf16(f(o[1])) << 16 | bf16(f(o[2]))) & 0xFFFFFFFFL); // d = {a: upper, b: lower}
                default -> throw unsupported(op);
            }
        }

        /** Round-to-nearest-even BF16 written out the long way: the nearer of the two neighbours, ties to even. */
        int bf16(float x) {
            if (Float.isNaN(x)) return 0x7FFF;
            int bits = Float.floatToRawIntBits(x);
            int down = bits & 0xFFFF0000, up = down + 0x10000;
            double dDown = Math.abs((double) Float.intBitsToFloat(down) - x), dUp = Math.abs((double) Float.intBitsToFloat(up) - x);
            int chosen = dDown < dUp ? down : dUp < dDown ? up : ((down >>> 16) & 1) == 0 ? down : up;
            if ((bits & 0xFFFF) == 0) chosen = bits;
            return (chosen >>> 16) & 0xFFFF;
        }

        void arithmetic(Op op, String[] p, String[] o, String type) {
            String name = p[0];
            if (type.equals("f32")) {
                float a = f(o[1]);
                float b = o.length > 2 ? f(o[2]) : 0f;
                float result = switch (name) {
                    case "add" -> a + b;
                    case "sub" -> a - b;
                    case "mul" -> a * b;
                    case "div" -> a / b;
                    case "neg" -> -a;
                    case "abs" -> Math.abs(a);
                    case "max" -> Math.max(a, b);
                    case "min" -> Math.min(a, b);
                    case "fma" -> Math.fma(a, b, f(o[3]));
                    case "ex2" -> (float) Math.pow(2, a);
                    case "lg2" -> (float) (Math.log(a) / Math.log(2));
                    case "sqrt" -> (float) Math.sqrt(a);
                    case "rsqrt" -> (float) (1 / Math.sqrt(a));
                    case "tanh" -> (float) Math.tanh(a);
                    default -> throw unsupported(op);
                };
                // .ftz: subnormal results are zeros (of the result's sign); subnormal inputs the interpreter leaves as they are
                if (op.text().contains(".ftz.") && Math.abs(result) < Float.MIN_NORMAL) result = Math.copySign(0f, result);
                setF(o[0], result);
                return;
            }
            if (type.equals("pred")) { // and/or/not/xor of predicates (nvcc's)
                boolean a = value(o[1]) != 0, b = o.length > 2 && value(o[2]) != 0;
                boolean result = switch (name) {
                    case "and" -> a && b;
                    case "or" -> a || b;
                    case "xor" -> a ^ b;
                    case "not" -> !a;
                    default -> throw unsupported(op);
                };
                set(o[0], result ? 1 : 0);
                return;
            }
            boolean wide = type.endsWith("64"), unsigned = type.startsWith("u");
            long a = wide ? value(o[1]) : i(o[1]);
            long b = o.length > 2 ? (wide ? value(o[2]) : i(o[2])) : 0;
            if (unsigned && !wide) { // 32-bit unsigned operands as their values 0 .. 2^32 - 1
                a &= 0xFFFFFFFFL;
                b &= 0xFFFFFFFFL;
            }
            String mode = p.length > 2 ? p[1] : "";
            if (name.equals("mul") && mode.equals("wide")) { // 32 x 32 -> 64 bits, the whole product kept
                set(o[0], a * b);
                return;
            }
            long result = switch (name) {
                case "add" -> a + b;
                case "sub" -> a - b;
                case "mul" -> !mode.equals("hi") ? a * b
                        : wide ? (unsigned ? Math.unsignedMultiplyHigh(a, b) : Math.multiplyHigh(a, b))
                        : (unsigned ? (a * b) >>> 32 : (a * b) >> 32);
                case "mad" -> a * b + (wide ? value(o[3]) : i(o[3]));
                case "div" -> unsigned && wide ? Long.divideUnsigned(a, b) : a / b;
                case "rem" -> unsigned && wide ? Long.remainderUnsigned(a, b) : a % b;
                case "neg" -> -a;
                case "abs" -> Math.abs(a);
                case "and" -> a & b;
                case "or" -> a | b;
                case "xor" -> a ^ b;
                case "not" -> ~a;
                case "max" -> Math.max(a, b);
                case "min" -> Math.min(a, b);
                case "shl" -> wide ? a << b : (b > 31 ? 0 : (int) a << b);
                case "shr" -> switch (type) {
                    case "u32" -> b > 31 ? 0 : (a & 0xFFFFFFFFL) >>> b;
                    case "u64" -> b > 63 ? 0 : a >>> b;
                    default -> a >> Math.min(b, wide ? 63 : 31);
                };
                default -> throw unsupported(op);
            };
            set(o[0], wide ? result : (int) result);
        }

        IllegalStateException unsupported(Op op) {
            return new IllegalStateException("the interpreter does not know: " + op.text());
        }
    }
}
