package dev.moa.tasks.emulator;

import dev.moa.tasks.kernel.KernelContext;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Runs one group's work-items on the calling thread as continuations, switching at every wait, the way a GPU's
 * warp scheduler interleaves them: each runnable work-item runs until it waits at a group barrier or a warp shuffle
 * (or ends); a group barrier is released when every live work-item of the group waits at one, a warp's shuffle
 * when every live lane of that warp waits at one. A wait that can never be released (a barrier inside code only
 * some work-items reach, or lanes of a warp at different kinds of wait) is an error naming it, not a hang.
 *
 * <p>Continuations are the JDK's own ({@code jdk.internal.vm.Continuation}, what virtual threads run on), reached
 * by method handles because the package is exported only on request
 * ({@code --add-exports java.base/jdk.internal.vm=ALL-UNNAMED}); without it {@link #AVAILABLE} is false.
 */
final class Lockstep {
    static final int RUNNABLE = 0, GROUP = 1, WARP = 2, DONE = 3;

    private static final Object SCOPE;
    private static final MethodHandle NEW, RUN, YIELD, IS_DONE;
    static final boolean AVAILABLE;

    static {
        Object scope = null;
        MethodHandle create = null, run = null, yield = null, done = null;
        try {
            Class<?> scopeClass = Class.forName("jdk.internal.vm.ContinuationScope");
            Class<?> continuation = Class.forName("jdk.internal.vm.Continuation");
            MethodHandles.Lookup lookup = MethodHandles.lookup(); // not publicLookup: the package is exported to this module only
            scope = lookup.findConstructor(scopeClass, MethodType.methodType(void.class, String.class)).invoke("moa-emulator");
            create = lookup.findConstructor(continuation, MethodType.methodType(void.class, scopeClass, Runnable.class))
                    .asType(MethodType.methodType(Object.class, Object.class, Runnable.class));
            run = lookup.findVirtual(continuation, "run", MethodType.methodType(void.class)).asType(MethodType.methodType(void.class, Object.class));
            yield = lookup.findStatic(continuation, "yield", MethodType.methodType(boolean.class, scopeClass))
                    .asType(MethodType.methodType(boolean.class, Object.class));
            done = lookup.findVirtual(continuation, "isDone", MethodType.methodType(boolean.class))
                    .asType(MethodType.methodType(boolean.class, Object.class));
        } catch (Throwable notExported) {
            scope = null;
        }
        SCOPE = scope;
        NEW = create;
        RUN = run;
        YIELD = yield;
        IS_DONE = done;
        AVAILABLE = scope != null;
    }

    private final int[] state;
    private final Object[] items;

    Lockstep(int groupSize) {
        state = new int[groupSize];
        items = new Object[groupSize];
    }

    /** Runs the work-items' bodies to their ends. */
    void run(Runnable[] bodies) {
        try {
            for (int i = 0; i < bodies.length; i++) items[i] = NEW.invokeExact(SCOPE, bodies[i]);
            int live = bodies.length;
            while (live > 0) {
                boolean ran = false;
                for (int i = 0; i < items.length; i++) {
                    if (state[i] != RUNNABLE) continue;
                    RUN.invokeExact(items[i]);
                    ran = true;
                    if ((boolean) IS_DONE.invokeExact(items[i])) {
                        state[i] = DONE;
                        live--;
                    }
                }
                if (live > 0 && !release() && !ran) throw new IllegalStateException(stuck());
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** Called by work-item {@code local}: waits (yields) until its wait of {@code kind} is released. */
    void await(int local, int kind) {
        state[local] = kind;
        try {
            boolean yielded = (boolean) YIELD.invokeExact(SCOPE);
            if (!yielded) throw new IllegalStateException("a work-item could not wait (pinned continuation)");
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Releases the waits that are complete: every warp all of whose live lanes wait at a shuffle, and the group when
     * all its live work-items wait at a barrier. Returns whether anything was released. A warp whose lanes wait at a
     * shuffle after some of its lanes ended is an error, as it is undefined on a GPU.
     */
    private boolean release() {
        boolean released = false, allAtBarrier = true, anyAtBarrier = false;
        for (int from = 0; from < state.length; from += KernelContext.WARP) {
            int to = Math.min(state.length, from + KernelContext.WARP);
            boolean allShuffling = true, anyShuffling = false;
            int left = 0;
            for (int i = from; i < to; i++) {
                if (state[i] == DONE) {
                    left++;
                    continue;
                }
                allShuffling &= state[i] == WARP;
                anyShuffling |= state[i] == WARP;
                allAtBarrier &= state[i] == GROUP;
                anyAtBarrier |= state[i] == GROUP;
            }
            if (allShuffling && anyShuffling) {
                if (left > 0) { // on a GPU a full-mask shuffle (or ldmatrix, mma) with lanes gone is undefined: it may hang
                    throw new IllegalStateException("a warp-wide operation (shuffle, matrix load or mma) in warp " + from / KernelContext.WARP
                            + " after " + left + " of its lanes left the kernel: it needs every lane of the warp");
                }
                for (int i = from; i < to; i++) if (state[i] == WARP) state[i] = RUNNABLE;
                released = true;
                allAtBarrier = false; // these lanes were not at the barrier
            }
        }
        if (allAtBarrier && anyAtBarrier) {
            for (int i = 0; i < state.length; i++) if (state[i] == GROUP) state[i] = RUNNABLE;
            released = true;
        }
        return released;
    }

    private String stuck() {
        StringBuilder waiting = new StringBuilder();
        for (int i = 0; i < state.length; i++) {
            if (state[i] == GROUP || state[i] == WARP) {
                if (waiting.length() > 200) {
                    waiting.append(" ...");
                    break;
                }
                waiting.append(waiting.isEmpty() ? "" : ", ").append(i).append(state[i] == GROUP ? ":barrier" : ":shuffle");
            }
        }
        return "work-items wait at barriers or shuffles that not every live work-item of their group or warp reaches"
                + " (a barrier in divergent code?): " + waiting;
    }
}
