package dev.moa.tasks.emulator;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Phaser;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs a kernel on the CPU with GPU semantics: every work-item of a group is a virtual thread, {@code barrier()}
 * is a real barrier of the group, shuffles exchange values inside a warp of 32, shared arrays are per group.
 * Groups run one after another (work-items of different groups must not depend on each other anyway). This is
 * how kernels are tested without a GPU; it is a semantic reference, not a fast path.
 */
public final class Emulator {
    private static final Object ATOMICS = new Object();

    private Emulator() {
    }

    /** Runs {@code owner.name(ctx, args...)} over the grid. */
    public static void launch(Class<?> owner, String name, Grid grid, Object... args) {
        Method kernel = find(owner, name);
        for (int z = 0; z < grid.groupsZ(); z++) {
            for (int y = 0; y < grid.groupsY(); y++) {
                for (int x = 0; x < grid.groupsX(); x++) runGroup(kernel, grid, new int[] {x, y, z}, args);
            }
        }
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
        List<Thread> threads = new ArrayList<>(grid.groupSize());
        for (int local = 0; local < grid.groupSize(); local++) {
            Object[] call = new Object[args.length + 1];
            call[0] = new WorkItem(group, local);
            System.arraycopy(args, 0, call, 1, args.length);
            threads.add(Thread.ofVirtual().start(() -> {
                try {
                    kernel.invoke(null, call);
                } catch (InvocationTargetException e) {
                    failure.compareAndSet(null, e.getCause());
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    // A finished (or failed) work-item no longer holds up its group's barriers, as on the GPU.
                    group.leave(((WorkItem) call[0]).localId());
                }
            }));
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while emulating " + kernel.getName(), e);
            }
        }
        if (failure.get() != null) {
            throw new IllegalStateException("kernel " + kernel.getName() + " failed in group " + Arrays.toString(groupId)
                    + ": " + failure.get(), failure.get());
        }
    }

    /** State one group shares: its barrier, warps and shared arrays. */
    private static final class Group {
        final Grid grid;
        final int[] id;
        final Phaser barrier;
        final Phaser[] warpBarriers;
        final int[][] warpInts;
        final List<Object> shared = new ArrayList<>();

        Group(Grid grid, int[] id) {
            this.grid = grid;
            this.id = id;
            this.barrier = new Phaser(grid.groupSize());
            int warps = (grid.groupSize() + KernelContext.WARP - 1) / KernelContext.WARP;
            warpBarriers = new Phaser[warps];
            warpInts = new int[warps][KernelContext.WARP];
            for (int w = 0; w < warps; w++) {
                warpBarriers[w] = new Phaser(Math.min(KernelContext.WARP, grid.groupSize() - w * KernelContext.WARP));
            }
        }

        void leave(int local) {
            barrier.arriveAndDeregister();
            warpBarriers[local / KernelContext.WARP].arriveAndDeregister();
        }

        static void await(Phaser b) {
            b.arriveAndAwaitAdvance();
        }

        synchronized Object shared(int index, Class<?> type, int length) {
            if (index == shared.size()) {
                shared.add(type == float.class ? new float[length] : new int[length]);
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
            Group.await(group.barrier);
        }

        private int warp() {
            return local / WARP;
        }

        private int warpWidth() {
            return Math.min(WARP, groupSize() - warp() * WARP);
        }

        /** Every lane publishes its bits, all wait, each reads its source lane, all wait again before reuse. */
        private int exchange(int bits, int sourceLane) {
            int[] slots = group.warpInts[warp()];
            slots[laneId()] = bits;
            Group.await(group.warpBarriers[warp()]);
            int result = sourceLane < warpWidth() ? slots[sourceLane] : bits;
            Group.await(group.warpBarriers[warp()]);
            return result;
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
