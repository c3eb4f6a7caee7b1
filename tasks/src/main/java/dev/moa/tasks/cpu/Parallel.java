package dev.moa.tasks.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/**
 * The thread pool every CPU kernel shares. Work is split into contiguous ranges no smaller than a grain,
 * so a matmul over thousands of rows costs a handful of tasks, not thousands.
 */
public final class Parallel {
    private static volatile ForkJoinPool pool = newPool(defaultThreads());

    /** A body that processes the half-open range [start, end). */
    @FunctionalInterface
    public interface RangeBody {
        void run(int start, int end);
    }

    private Parallel() {
    }

    static int defaultThreads() {
        String configured = System.getProperty("moa.threads", System.getenv("MOA_THREADS"));
        if (configured != null && !configured.isBlank()) return ThreadCount.parse(configured, "moa.threads / MOA_THREADS");
        return Runtime.getRuntime().availableProcessors();
    }

    private static ForkJoinPool newPool(int threads) {
        return new ForkJoinPool(threads, p -> {
            var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("moa-cpu-" + t.getPoolIndex());
            t.setDaemon(true);
            return t;
        }, null, false);
    }

    /** Replaces the pool (CLI {@code --threads}); call before any work starts. */
    public static synchronized void setThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        if (threads == pool.getParallelism()) return;
        ForkJoinPool old = pool;
        pool = newPool(threads);
        old.shutdown();
    }

    public static int threads() {
        return pool.getParallelism();
    }

    /**
     * Runs {@code work} on a pool thread and waits for it. A whole forward pass should run this way: its
     * parallel loops then fork from inside the pool, where hand-offs are cheap and the calling thread works
     * too, instead of waking the pool from outside for every small matmul of a decode step.
     */
    public static <T> T call(java.util.function.Supplier<T> work) {
        if (java.util.concurrent.ForkJoinTask.getPool() == pool) return work.get();
        return pool.submit(work::get).join();
    }

    /** Runs body over [0, n) in parallel, in chunks of at least {@code grain} items. */
    public static void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        int threads = pool.getParallelism();
        int chunks = Math.max(1, Math.min(threads * 4, (n + grain - 1) / grain));
        if (chunks == 1 || threads == 1) {
            body.run(0, n);
            return;
        }
        var task = new Split(body, 0, n, (n + chunks - 1) / chunks);
        if (java.util.concurrent.ForkJoinTask.getPool() == pool) task.invoke();
        else pool.invoke(task);
    }

    private static final class Split extends RecursiveAction {
        private final RangeBody body;
        private final int start, end, chunk;

        Split(RangeBody body, int start, int end, int chunk) {
            this.body = body;
            this.start = start;
            this.end = end;
            this.chunk = chunk;
        }

        @Override
        protected void compute() {
            if (end - start <= chunk) {
                body.run(start, end);
                return;
            }
            int mid = start + ((end - start) / chunk / 2) * chunk;
            if (mid == start) mid = start + chunk;
            invokeAll(new Split(body, start, mid, chunk), new Split(body, mid, end, chunk));
        }
    }
}
