package dev.moa.tasks.emulator;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.MatrixFragments;
import dev.moa.tasks.kernel.Vec16;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs a kernel on the CPU with GPU semantics: every work-item of a group runs the kernel method, {@code barrier()}
 * is a real barrier of the group, shuffles exchange values inside a warp of 32, shared arrays are per group.
 * Groups are independent (work-items of different groups must not depend on each other), so they run in parallel.
 * This is how kernels are tested without a GPU; it is a semantic reference, not a fast path.
 *
 * <p>A group's work-items are {@link Lockstep} continuations run by one thread: each runs until it waits (a barrier
 * or a shuffle), and a wait ends once every live work-item it waits for has arrived, so a barrier costs a
 * continuation switch per work-item. Where the JVM does not export {@code jdk.internal.vm} (the launchers and the
 * build do), each work-item is a virtual thread and waits on a {@link YieldingBarrier}: the same semantics, many
 * times slower.
 */
public final class Emulator {
    private static final Object ATOMICS = new Object();

    private Emulator() {
    }

    /** Runs {@code owner.name(ctx, args...)} over the grid. */
    public static void launch(Class<?> owner, String name, Grid grid, Object... args) {
        Method kernel = find(owner, name);
        dev.moa.tasks.kernel.LaunchBounds bounds = kernel.getAnnotation(dev.moa.tasks.kernel.LaunchBounds.class);
        if (bounds != null && grid.groupSize() > bounds.groupSize()) {
            throw new IllegalArgumentException(owner.getSimpleName() + "." + name + " is compiled for groups of at most " + bounds.groupSize()
                    + " work-items (@LaunchBounds), launched with " + grid.groupSize());
        }
        int groups = grid.groupsX() * grid.groupsY() * grid.groupsZ();
        java.util.stream.IntStream range = java.util.stream.IntStream.range(0, groups);
        // one group per task; many small groups are worth spreading, a single one is not
        (groups > 1 ? range.parallel() : range).forEach(g -> runGroup(kernel, grid,
                new int[] {g % grid.groupsX(), g / grid.groupsX() % grid.groupsY(), g / (grid.groupsX() * grid.groupsY())}, args));
    }

    static Method find(Class<?> owner, String name) {
        for (Method m : owner.getDeclaredMethods()) {
            if (m.getName().equals(name) && Modifier.isStatic(m.getModifiers()) && m.getParameterCount() > 0
                    && m.getParameterTypes()[0] == KernelContext.class) {
                m.setAccessible(true);
                return m;
            }
        }
        throw new IllegalArgumentException(owner.getName() + " has no static kernel method " + name + "(KernelContext, ...)");
    }

    private static void runGroup(Method kernel, Grid grid, int[] groupId, Object[] args) {
        Group group = new Group(grid, groupId);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Runnable[] bodies = new Runnable[grid.groupSize()];
        for (int local = 0; local < grid.groupSize(); local++) {
            Object[] call = new Object[args.length + 1];
            WorkItem item = new WorkItem(group, local);
            call[0] = item;
            System.arraycopy(args, 0, call, 1, args.length);
            bodies[local] = () -> {
                try {
                    kernel.invoke(null, call);
                } catch (InvocationTargetException e) {
                    failure.compareAndSet(null, e.getCause());
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    // A finished (or failed) work-item no longer holds up its group's barriers, as on the GPU.
                    group.leave(item.localId());
                }
            };
        }
        if (group.lockstep != null) {
            group.lockstep.run(bodies);
        } else {
            List<Thread> threads = new ArrayList<>(bodies.length);
            for (Runnable body : bodies) threads.add(Thread.ofVirtual().start(body));
            for (Thread t : threads) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while emulating " + kernel.getName(), e);
                }
            }
        }
        if (failure.get() != null) {
            throw new IllegalStateException("kernel " + kernel.getName() + " failed in group " + Arrays.toString(groupId)
                    + ": " + failure.get(), failure.get());
        }
    }

    /**
     * A barrier for virtual threads that waits by yielding its carrier instead of parking: the other work-items it
     * waits for are runnable virtual threads on the same few carriers, so a yield lets them run. A work-item that
     * finishes leaves, and no longer holds the others up.
     */
    static final class YieldingBarrier {
        private int parties, arrived;
        private volatile int generation;

        YieldingBarrier(int parties) {
            this.parties = parties;
        }

        void await() {
            int gen;
            synchronized (this) {
                gen = generation;
                if (++arrived == parties) {
                    arrived = 0;
                    generation = gen + 1;
                    return;
                }
            }
            while (generation == gen) Thread.yield();
        }

        synchronized void leave() {
            parties--;
            if (arrived > 0 && arrived == parties) {
                arrived = 0;
                generation++;
            }
        }
    }

    /** State one group shares: its barriers, warps and shared arrays. */
    private static final class Group {
        final Grid grid;
        final int[] id;
        /** The group's scheduler, or null where continuations are not available (then the barriers below). */
        final Lockstep lockstep;
        final YieldingBarrier barrier;
        final YieldingBarrier[] warpBarriers;
        /** Per warp, two exchange areas used alternately by successive shuffles (see {@code exchange}). */
        final int[][][] warpInts;
        /**
         * Per warp, two areas used by successive {@code mmaBf16} calls in turn (as shuffles use theirs): each lane's
         * fragments (A's four words, B's two) and accumulator. One wait per product suffices: an area is written again
         * only two products later, after the next product's wait, which no lane passes before it has read this one.
         */
        final int[][][][] mmaWords;
        final float[][][][] mmaAcc;
        final List<Object> shared = new ArrayList<>();

        Group(Grid grid, int[] id) {
            this.grid = grid;
            this.id = id;
            int warps = (grid.groupSize() + KernelContext.WARP - 1) / KernelContext.WARP;
            warpInts = new int[warps][2][KernelContext.WARP];
            mmaWords = new int[warps][2][KernelContext.WARP][6];
            mmaAcc = new float[warps][2][KernelContext.WARP][4];
            lockstep = Lockstep.AVAILABLE ? new Lockstep(grid.groupSize()) : null;
            if (lockstep != null) {
                barrier = null;
                warpBarriers = null;
            } else {
                barrier = new YieldingBarrier(grid.groupSize());
                warpBarriers = new YieldingBarrier[warps];
                for (int w = 0; w < warps; w++) {
                    warpBarriers[w] = new YieldingBarrier(Math.min(KernelContext.WARP, grid.groupSize() - w * KernelContext.WARP));
                }
            }
        }

        void leave(int local) {
            if (lockstep != null) return; // the scheduler sees a finished continuation by itself
            barrier.leave();
            warpBarriers[local / KernelContext.WARP].leave();
        }

        /** Waits until every live work-item of the group is here. */
        void awaitGroup(int local) {
            if (lockstep != null) {
                lockstep.await(local, Lockstep.GROUP);
            } else {
                barrier.await();
            }
        }

        /** Waits until every live lane of work-item {@code local}'s warp is here. */
        void awaitWarp(int local) {
            if (lockstep != null) {
                lockstep.await(local, Lockstep.WARP);
            } else {
                warpBarriers[local / KernelContext.WARP].await();
            }
        }

        /**
         * The group's {@code index}th shared array. It starts as every bit set (NaN as floats, -1 as ints), not zeros:
         * on a GPU shared memory holds whatever the group before left there, so a kernel that reads a word it never
         * wrote must show it here too (as the fake driver's fresh device memory does).
         */
        synchronized Object shared(int index, Class<?> type, int length) {
            if (index == shared.size()) {
                Object array;
                if (type == float.class) {
                    float[] f = new float[length];
                    java.util.Arrays.fill(f, Float.intBitsToFloat(-1));
                    array = f;
                } else {
                    int[] i = new int[length];
                    java.util.Arrays.fill(i, -1);
                    array = i;
                }
                shared.add(array);
            }
            Object array = shared.get(index);
            int actual = array instanceof float[] f ? f.length : ((int[]) array).length;
            if (actual != length || (type == float.class) != (array instanceof float[])) {
                throw new IllegalStateException("shared allocation #" + index + " differs between work-items of a group");
            }
            return array;
        }
    }

    /** One work-item's view of the launch. */
    private static final class WorkItem extends KernelContext {
        private final Group group;
        private final int local;
        private int sharedAllocations;
        private int shuffles, products;

        WorkItem(Group group, int local) {
            this.group = group;
            this.local = local;
        }

        @Override
        public int localId() {
            return local;
        }

        @Override
        public int groupId(int dimension) {
            return group.id[dimension];
        }

        @Override
        public int groupSize() {
            return group.grid.groupSize();
        }

        @Override
        public int groups(int dimension) {
            return switch (dimension) {
                case 0 -> group.grid.groupsX();
                case 1 -> group.grid.groupsY();
                case 2 -> group.grid.groupsZ();
                default -> throw new IllegalArgumentException("dimension " + dimension);
            };
        }

        @Override
        public void barrier() {
            group.awaitGroup(local);
        }

        @Override
        public Vec16 mmaBf16(Vec16 a, int b0, int b1, Vec16 acc) {
            int lane = laneId(), warp = warp(), area = products++ & 1;
            int[][] words = group.mmaWords[warp][area];
            float[][] accumulators = group.mmaAcc[warp][area];
            int[] mine = words[lane];
            mine[0] = a.w0();
            mine[1] = a.w1();
            mine[2] = a.w2();
            mine[3] = a.w3();
            mine[4] = b0;
            mine[5] = b1;
            for (int i = 0; i < 4; i++) accumulators[lane][i] = acc.f32(i);
            group.awaitWarp(local); // every lane's fragments are in
            float[] d = MatrixFragments.product(words, accumulators, lane);
            return Vec16.ofFloats(d[0], d[1], d[2], d[3]);
        }

        @Override
        public Vec16 loadMatrix(int[] shared, int index) {
            if (index % 4 != 0 || index < 0 || index + 4 > shared.length) {
                throw new IllegalArgumentException("loadMatrix: row at word " + index + " is not a 16-byte row inside the " + shared.length
                        + "-word array (lane " + laneId() + ")");
            }
            int lane = laneId();
            int[] rows = exchangeAll(index); // every lane's row address, one wait
            int[] words = new int[4];
            for (int j = 0; j < 4; j++) words[j] = shared[rowOf(rows, MatrixFragments.rowLane(lane, j), index) + lane % 4];
            return Vec16.ofWords(words[0], words[1], words[2], words[3]);
        }

        @Override
        public Vec16 loadMatrixTransposed(int[] shared, int index) {
            if (index % 4 != 0 || index < 0 || index + 4 > shared.length) {
                throw new IllegalArgumentException("loadMatrixTransposed: row at word " + index + " is not a 16-byte row inside the " + shared.length
                        + "-word array (lane " + laneId() + ")");
            }
            int lane = laneId(), column = lane / 4;
            int[] rows = exchangeAll(index); // every lane's row address, one wait
            int[] words = new int[4];
            for (int j = 0; j < 4; j++) {
                int even = rowOf(rows, MatrixFragments.transposedRowLane(lane, j, 0), index), odd = rowOf(rows, MatrixFragments.transposedRowLane(lane, j, 1), index);
                words[j] = (shared[even + column / 2] >>> 16 * (column % 2) & 0xFFFF) | (shared[odd + column / 2] >>> 16 * (column % 2)) << 16;
            }
            return Vec16.ofWords(words[0], words[1], words[2], words[3]);
        }

        /** Lane {@code source}'s row address from an {@link #exchangeAll} of them ({@code own} past the warp's width, as a shuffle). */
        private int rowOf(int[] rows, int source, int own) {
            return source < warpWidth() ? rows[source] : own;
        }

        /** Copies started and not yet in a group, and the committed groups, oldest first: done at the wait that covers them. */
        private List<Runnable> openCopies = new ArrayList<>();
        private final java.util.ArrayDeque<List<Runnable>> copyGroups = new java.util.ArrayDeque<>();

        @Override
        public void copyAsync(int[] shared, int index, Half16Buffer source, long sourceIndex) {
            if (index % 4 != 0 || index < 0 || index + 4 > shared.length || sourceIndex % 8 != 0 || sourceIndex < 0
                    || sourceIndex + 8 > source.length()) {
                throw new IllegalArgumentException("copyAsync: 16 bytes from element " + sourceIndex + " of a " + source.length()
                        + "-element buffer to word " + index + " of a " + shared.length + "-word array are not both 16-byte aligned and inside");
            }
            openCopies.add(() -> {
                for (int k = 0; k < 4; k++) {
                    shared[index + k] = (source.get(sourceIndex + 2 * k) & 0xFFFF) | (source.get(sourceIndex + 2 * k + 1) << 16);
                }
            });
        }

        @Override
        public void copyAsync(int[] shared, int index, Half16Buffer source, long sourceIndex, boolean inside) {
            copyAsync(shared, index, source, sourceIndex); // the same checks; the copy, or zeros, at the wait
            if (!inside) openCopies.set(openCopies.size() - 1, () -> java.util.Arrays.fill(shared, index, index + 4, 0));
        }

        @Override
        public void copyAsync(int[] shared, int index, F32Buffer source, long sourceIndex, boolean inside) {
            copyAsync(shared, index, source, sourceIndex);
            if (!inside) openCopies.set(openCopies.size() - 1, () -> java.util.Arrays.fill(shared, index, index + 4, 0));
        }

        @Override
        public void copyAsync(int[] shared, int index, F32Buffer source, long sourceIndex) {
            if (index % 4 != 0 || index < 0 || index + 4 > shared.length || sourceIndex % 4 != 0 || sourceIndex < 0
                    || sourceIndex + 4 > source.length()) {
                throw new IllegalArgumentException("copyAsync: 16 bytes from element " + sourceIndex + " of a " + source.length()
                        + "-float buffer to word " + index + " of a " + shared.length + "-word array are not both 16-byte aligned and inside");
            }
            openCopies.add(() -> {
                for (int k = 0; k < 4; k++) shared[index + k] = Float.floatToRawIntBits(source.get(sourceIndex + k));
            });
        }

        @Override
        public void commitCopies() {
            copyGroups.addLast(openCopies);
            openCopies = new ArrayList<>();
        }

        @Override
        public void waitCopies(int pending) {
            while (copyGroups.size() > pending) copyGroups.removeFirst().forEach(Runnable::run);
        }

        @Override
        public void awaitPriorKernels() {
            // launches run one after another here: the previous kernel has finished
        }

        @Override
        public void prefetchL2(Half16Buffer buffer, long index) {
            if (index < 0 || index >= buffer.length()) {
                throw new IllegalArgumentException("prefetchL2: element " + index + " is outside the " + buffer.length() + "-element buffer");
            }
        }

        @Override
        public void prefetchL2(F32Buffer buffer, long index) {
            if (index < 0 || index >= buffer.length()) {
                throw new IllegalArgumentException("prefetchL2: element " + index + " is outside the " + buffer.length() + "-element buffer");
            }
        }

        @Override
        public void fence() {
            // the atomics' lock already orders writes before them for other groups; the fence keeps the contract
            java.lang.invoke.VarHandle.fullFence();
        }

        private int warp() {
            return local / WARP;
        }

        private int warpWidth() {
            return Math.min(WARP, groupSize() - warp() * WARP);
        }

        /**
         * Every lane publishes its bits, all wait, each reads its source lane. Successive shuffles alternate between
         * two areas, so one barrier per shuffle suffices: the area is written again only two shuffles later, after
         * the next shuffle's barrier, which no lane reaches before it has read this one.
         */
        private int exchange(int bits, int sourceLane) {
            int[] slots = exchangeAll(bits);
            return sourceLane < warpWidth() ? slots[sourceLane] : bits;
        }

        /**
         * Puts {@code bits} where the warp's lanes exchange them and waits for them all: the returned slots hold every
         * lane's until this lane's exchange after next (the next one uses the other area, and no lane passes its wait
         * before every lane has read this one). One wait for what reads several lanes' values (ldmatrix, a reduction).
         */
        private int[] exchangeAll(int bits) {
            int[] slots = group.warpInts[warp()][shuffles++ & 1];
            slots[laneId()] = bits;
            group.awaitWarp(local);
            return slots;
        }

        /** The butterfly of {@code KernelContext.warpSum} (the same additions in the same order), after one exchange, not five. */
        @Override
        public float warpSum(float value) {
            return butterfly(value, false);
        }

        /** As {@link #warpSum}, for {@code KernelContext.warpMax}. */
        @Override
        public float warpMax(float value) {
            return butterfly(value, true);
        }

        private float butterfly(float value, boolean max) {
            int[] slots = exchangeAll(Float.floatToRawIntBits(value));
            int width = warpWidth();
            float[] v = new float[WARP], next = new float[WARP];
            for (int l = 0; l < width; l++) v[l] = Float.intBitsToFloat(slots[l]);
            for (int mask = WARP / 2; mask > 0; mask >>= 1) { // each lane's shuffleXor: its partner's value, or its own past the warp's width
                for (int l = 0; l < width; l++) {
                    int partner = (l ^ mask) & (WARP - 1);
                    float other = partner < width ? v[partner] : v[l];
                    next[l] = max ? Math.max(v[l], other) : v[l] + other;
                }
                float[] t = v;
                v = next;
                next = t;
            }
            return v[laneId()];
        }

        private float exchange(float value, int sourceLane) {
            return Float.intBitsToFloat(exchange(Float.floatToRawIntBits(value), sourceLane));
        }

        @Override
        public float shuffleDown(float value, int delta) {
            int source = laneId() + delta;
            return source < WARP ? exchange(value, source) : exchange(value, laneId());
        }

        @Override
        public float shuffleXor(float value, int mask) {
            return exchange(value, (laneId() ^ mask) & (WARP - 1));
        }

        @Override
        public int shuffleXor(int value, int mask) {
            return exchange(value, (laneId() ^ mask) & (WARP - 1));
        }

        @Override
        public float[] sharedDynamicF32(int length) {
            requireDynamicBytes("sharedDynamicF32", length);
            return sharedF32(length);
        }

        @Override
        public int[] sharedDynamicI32(int length) {
            requireDynamicBytes("sharedDynamicI32", length);
            return sharedI32(length);
        }

        /**
         * The launch must give the dynamic arrays' bytes, as a GPU launch must: each carved after the ones before it, at a
         * 16-byte boundary.
         */
        private void requireDynamicBytes(String what, int length) {
            long end = dynamicBytes + 4L * length;
            if (length < 0 || end > group.grid.sharedBytes()) {
                throw new IllegalStateException(what + "(" + length + ") needs bytes " + dynamicBytes + ".." + end + " of the dynamic shared "
                        + "memory; the launch gives " + group.grid.sharedBytes() + " (Grid.withSharedBytes)");
            }
            dynamicBytes = (end + 15) & ~15L;
        }

        /** Bytes of the launch's dynamic shared memory this work-item's arrays have taken so far. */
        private long dynamicBytes;

        @Override
        public float[] sharedF32(int length) {
            return (float[]) group.shared(sharedAllocations++, float.class, length);
        }

        @Override
        public int[] sharedI32(int length) {
            return (int[]) group.shared(sharedAllocations++, int.class, length);
        }

        @Override
        public float atomicAdd(F32Buffer buffer, long index, float value) {
            synchronized (ATOMICS) {
                float old = buffer.get(index);
                buffer.set(index, old + value);
                return old;
            }
        }

        @Override
        public int atomicAdd(I32Buffer buffer, long index, int value) {
            synchronized (ATOMICS) {
                int old = buffer.get(index);
                buffer.set(index, old + value);
                return old;
            }
        }

        @Override
        public int atomicMax(I32Buffer buffer, long index, int value) {
            synchronized (ATOMICS) {
                int old = buffer.get(index);
                buffer.set(index, Math.max(old, value));
                return old;
            }
        }
    }
}
