package dev.moa.runtime.serve;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.BatchDecoder;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Generation;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.model.LlamaModel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching: one thread runs every admitted request's forward passes. Each turn of its loop admits waiting
 * requests (first come, first served) while their KV caches fit the byte budget and the batch has room, runs one
 * piece of the oldest unfinished prompt, then one decode step for every request past its prompt, all in one
 * {@link BatchDecoder} step (each weight read once for the batch). So a new request joins the running batch at the
 * next step, a long prompt costs the others one piece of prefill per step rather than a stall (on a device the
 * prompt runs layer by layer, a piece being chunks of a layer worth as much work: {@link Session#prefillStep}), and a finished or
 * cancelled request leaves the batch and frees its KV at the next turn.
 *
 * <p>Waiting requests are admitted highest priority first, in arrival order among equals; waiting raises a
 * request's standing one level every {@link #AGING_SECONDS}, so none starves. Admission is by KV bytes, not by request count: a request holds, from admission to its end, the bytes its
 * session's cache keeps for N = prompt + max_tokens under its attention ({@link Model#kvCacheBytes}); a MoA plan
 * that keeps half the KV admits about twice the requests of dense in the same budget. The queue of waiting requests
 * is bounded; a request whose cache alone exceeds the budget is refused when it is submitted, so none waits forever.
 * Each request's tokens come from its own seeded sampler over its own logits row, so a request gets the same text
 * alone or in a batch (up to the order of float sums in a batched matmul).
 */
public final class Engine implements AutoCloseable {
    /** What the engine tells a request's owner; called on the engine's thread, so it must not block. */
    public interface Listener {
        /** Text that became final. */
        void text(String piece);

        /** The request ended: how and why. */
        void finished(GenerationResult result);

        /** The request failed: one sentence why (the engine goes on with the others). */
        void failed(String message);
    }

    /** A request in the engine: submitted, then admitted, prefilled piece by piece, decoded, ended. */
    public static final class Job {
        final int[] prompt;
        final GenerationParams params;
        final long kvBytes;
        final int priority;
        final Listener listener;
        final long submitted = System.nanoTime();
        volatile boolean cancelled;
        Session session;
        Generation generation;
        int prefilled;
        int next = -1; // the token to feed at the next decode step
        boolean ended;

        Job(int[] prompt, GenerationParams params, long kvBytes, int priority, Listener listener) {
            this.prompt = prompt;
            this.params = params;
            this.kvBytes = kvBytes;
            this.priority = priority;
            this.listener = listener;
        }

        /** Its standing in the queue at {@code now}: its priority, plus one level for every {@link #AGING_SECONDS} it has waited. */
        double standing(long now) {
            return priority + (now - submitted) / 1e9 / AGING_SECONDS;
        }

        /** Ends the request at the engine's next turn (its client went away): its session and KV are freed then. */
        public void cancel() {
            cancelled = true;
        }

        /** KV bytes the request holds while admitted. */
        public long kvBytes() {
            return kvBytes;
        }
    }

    /** The queue of waiting requests is full. */
    public static final class QueueFullException extends RuntimeException {
        QueueFullException(String message) {
            super(message);
        }
    }

    private final Model model;
    private final int maxBatch, maxQueue, pieceTokens;
    private final long kvBudget;
    private final BatchDecoder batch;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    /** Seconds of waiting that count as one priority level: a request waits at most this × the levels above it. */
    public static final double AGING_SECONDS = 10;
    /** Waiting requests in arrival order. */
    private final List<Job> waiting = new ArrayList<>();
    /** Admitted requests, oldest first; only the engine thread changes it (under the lock, so metrics can read it). */
    private final List<Job> running = new ArrayList<>();
    private long kvInUse;
    private boolean closed;
    private final Thread thread;
    private final Metrics metrics = new Metrics();

    /**
     * An engine over {@code model}: at most {@code maxBatch} requests decoding together, {@code maxQueue} waiting,
     * {@code kvBudget} bytes of KV cache among the admitted ones (on a GPU reserved now as its KV pool, as far as its
     * memory goes), prompts run {@code prefillPiece} tokens (rounded down to the session's prefill chunk, at least one
     * chunk) between decode steps.
     */
    public Engine(Model model, int maxBatch, int maxQueue, long kvBudget, int prefillPiece) {
        if (maxBatch < 1) throw new IllegalArgumentException("--max-batch must be at least 1, got " + maxBatch);
        if (maxQueue < 0) throw new IllegalArgumentException("--max-queue must be at least 0, got " + maxQueue);
        if (kvBudget < 1) throw new IllegalArgumentException("--kv-budget must be positive, got " + kvBudget);
        this.model = model;
        this.maxBatch = maxBatch;
        this.maxQueue = maxQueue;
        this.kvBudget = kvBudget;
        // on a device the budget is the KV pool, made now: requests joining never grow it (a growth copies every cache)
        model.accelerator().ifPresent(a -> a.reserveKv(kvBudget, model.kvFormat()));
        this.pieceTokens = Math.max(LlamaModel.DEFAULT_CHUNK, prefillPiece / LlamaModel.DEFAULT_CHUNK * LlamaModel.DEFAULT_CHUNK);
        this.batch = new BatchDecoder(model, maxBatch);
        this.thread = Thread.ofPlatform().name("moa-engine").daemon().start(this::loop);
    }

    /**
     * Queues a request: {@code prompt} (fitted to the context with room for {@code params.maxTokens()}) under
     * {@code attention}. Throws {@link QueueFullException} when the queue is full and IllegalArgumentException when
     * the request's KV cache alone is more than the budget.
     */
    public Job submit(int[] prompt, GenerationParams params, Listener listener) {
        return submit(prompt, params, 0, listener);
    }

    /**
     * As {@link #submit(int[], GenerationParams, Listener)} at {@code priority}: a waiting request with a higher
     * priority is admitted first, equal ones in arrival order, and waiting raises a request's standing by one level
     * every {@link #AGING_SECONDS}, so a low priority delays a request but never starves it.
     */
    public Job submit(int[] prompt, GenerationParams params, int priority, Listener listener) {
        long bytes = model.kvCacheBytes(params.attention(), prompt.length, params.maxTokens());
        if (bytes > kvBudget) {
            throw new IllegalArgumentException("the request's KV cache (" + bytes + " bytes for " + prompt.length + " prompt + " + params.maxTokens()
                    + " new tokens, " + params.attention() + " attention) is more than the server's KV budget of " + kvBudget + " bytes; ask for fewer tokens");
        }
        Job job = new Job(prompt, params, bytes, priority, listener);
        lock.lock();
        try {
            if (closed) throw new IllegalStateException("the server is shutting down");
            if (waiting.size() >= maxQueue && !(running.size() < maxBatch && waiting.isEmpty() && kvInUse + bytes <= kvBudget)) {
                metrics.rejected.incrementAndGet();
                throw new QueueFullException(waiting.size() + " requests are waiting, the most --max-queue allows");
            }
            waiting.add(job);
            metrics.submitted.incrementAndGet();
            work.signal();
        } finally {
            lock.unlock();
        }
        return job;
    }

    private void loop() {
        while (true) {
            List<Job> turn;
            lock.lock();
            try {
                while (!closed && running.isEmpty() && waiting.isEmpty()) work.awaitUninterruptibly();
                if (closed) break;
                waiting.removeIf(j -> {
                    if (!j.cancelled) return false;
                    metrics.cancelled.incrementAndGet();
                    return true;
                });
                while (!waiting.isEmpty() && running.size() < maxBatch) {
                    Job j = next();
                    if (kvInUse + j.kvBytes > kvBudget) break; // it waits for KV; none behind it jumps ahead, so it cannot starve
                    waiting.remove(j);
                    kvInUse += j.kvBytes;
                    running.add(j);
                }
                metrics.peakAdmitted = Math.max(metrics.peakAdmitted, running.size());
                turn = List.copyOf(running);
            } finally {
                lock.unlock();
            }
            try {
                for (Job j : turn) if (j.cancelled) end(j, null);
                prefillPiece(turn);
                decodeStep(turn);
            } catch (Throwable e) { // out of memory, a bug: the turn's requests fail, the server goes on
                for (Job j : turn) {
                    try {
                        end(j, "the server failed to run the request: " + e);
                    } catch (Throwable ignored) {
                        j.ended = true;
                    }
                }
            }
        }
        lock.lock();
        try {
            for (Job j : waiting) j.listener.failed("the server is shutting down");
            waiting.clear();
            for (Job j : List.copyOf(running)) end(j, "the server is shutting down");
        } finally {
            lock.unlock();
        }
    }

    /** The waiting request to admit next: the highest standing, the earliest on a tie. */
    private Job next() {
        long now = System.nanoTime();
        Job best = waiting.getFirst();
        for (Job j : waiting) if (j.standing(now) > best.standing(now)) best = j;
        return best;
    }

    /** One piece of the oldest admitted prompt not yet run; its first token when the prompt is done. */
    private void prefillPiece(List<Job> turn) {
        Job job = null;
        for (Job j : turn) {
            if (!j.ended && j.generation == null) {
                job = j;
                break;
            }
        }
        if (job == null) return;
        try {
            if (job.session == null) {
                job.session = model.newSession(job.prompt.length + job.params.maxTokens(), LlamaModel.DEFAULT_CHUNK, job.params.attention(),
                        job.params.maxTokens());
            }
            float[] logits = job.session.prefillStep(job.prompt, pieceTokens);
            int done = job.session.promptTokensDone();
            metrics.promptTokens.addAndGet(done - job.prefilled);
            job.prefilled = done;
            if (logits == null) return;
            Job j = job;
            job.generation = new Generation(model, job.prompt.length, job.session.capacity() - job.prompt.length, job.params, j.listener::text);
            job.generation.prefilled();
            accept(job, job.generation.choose(logits));
        } catch (RuntimeException e) {
            end(job, message(e));
        }
    }

    /** One decode step for every request past its prompt, all rows of one batched step. */
    private void decodeStep(List<Job> turn) {
        List<Job> rows = new ArrayList<>();
        for (Job j : turn) if (!j.ended && j.next >= 0) rows.add(j);
        if (rows.isEmpty()) return;
        List<Session> sessions = new ArrayList<>(rows.size());
        int[] tokens = new int[rows.size()];
        for (int b = 0; b < tokens.length; b++) {
            sessions.add(rows.get(b).session);
            tokens[b] = rows.get(b).next;
        }
        // each request's next token drawn by its own sampler where the step runs (on a device, one int a row comes back)
        dev.moa.runtime.generate.Sampler[] samplers = new dev.moa.runtime.generate.Sampler[rows.size()];
        for (int b = 0; b < samplers.length; b++) samplers[b] = rows.get(b).generation.sampler();
        BatchDecoder.Drawn drawn;
        try {
            drawn = batch.stepDrawing(sessions, tokens, samplers);
        } catch (RuntimeException e) {
            for (Job j : rows) end(j, message(e));
            return;
        }
        metrics.steps.incrementAndGet();
        metrics.lastBatch = rows.size();
        for (int b = 0; b < rows.size(); b++) { // (a request whose row failed ends alone)
            if (drawn.failures()[b] != null) end(rows.get(b), message(drawn.failures()[b]));
            else accept(rows.get(b), drawn.tokens()[b]);
        }
    }

    /** The request's next token, {@code token} chosen from its logits: fed at the next step, or the request ends. */
    private void accept(Job job, int token) {
        try {
            int before = job.generation.tokens();
            job.next = job.generation.accept(token, job.session.position() < job.session.capacity());
            metrics.generated(job.generation.tokens() - before);
            if (job.next < 0) end(job, null);
        } catch (RuntimeException e) {
            end(job, message(e));
        }
    }

    /** Ends a request: closes its session (freeing its KV); tells its listener how it ended. */
    private void end(Job job, String failure) {
        if (job.ended) return;
        job.ended = true;
        job.next = -1;
        long kv = job.session == null ? 0 : job.session.kvCacheBytes();
        if (job.session != null) job.session.close();
        job.session = null;
        lock.lock(); // its KV is free before its owner hears it ended
        try {
            running.remove(job);
            kvInUse -= job.kvBytes;
        } finally {
            lock.unlock();
        }
        if (failure != null) {
            metrics.failed.incrementAndGet();
            job.listener.failed(failure);
        } else if (job.cancelled) {
            metrics.cancelled.incrementAndGet();
        } else {
            metrics.completed.incrementAndGet();
            job.listener.finished(job.generation.result(kv));
        }
    }

    private static String message(RuntimeException e) {
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }

    /** The engine's counters and what it holds now. */
    public Snapshot snapshot() {
        lock.lock();
        try {
            int decoding = 0;
            for (Job j : running) if (!j.ended && j.generation != null) decoding++;
            return new Snapshot(metrics.submitted.get(), metrics.completed.get(), metrics.cancelled.get(), metrics.failed.get(),
                    metrics.rejected.get(), waiting.size(), running.size(), metrics.peakAdmitted, decoding, metrics.lastBatch, metrics.steps.get(),
                    metrics.promptTokens.get(), metrics.generatedTokens.get(), metrics.tokensPerSecond(), kvInUse, kvBudget, maxBatch, maxQueue);
        } finally {
            lock.unlock();
        }
    }

    /**
     * The engine's counters ({@code requests_*} since start) and state: waiting and admitted requests (and the most
     * admitted at once), the last
     * decode step's batch, tokens generated per second over the last ten seconds, KV bytes held and allowed.
     */
    public record Snapshot(long submitted, long completed, long cancelled, long failed, long rejected, int queued, int admitted,
                           int peakAdmitted, int decoding, int lastBatch, long steps, long promptTokens, long generatedTokens, double tokensPerSecond,
                           long kvBytesInUse, long kvBudget, int maxBatch, int maxQueue) {
    }

    /** Counters updated by the engine thread (and submit), read by {@link #snapshot}. */
    private static final class Metrics {
        final AtomicLong submitted = new AtomicLong(), completed = new AtomicLong(), cancelled = new AtomicLong(), failed = new AtomicLong(),
                rejected = new AtomicLong(), steps = new AtomicLong(), promptTokens = new AtomicLong(), generatedTokens = new AtomicLong();
        volatile int lastBatch, peakAdmitted;
        /** Tokens generated in each of the last ten one-second buckets, by second. */
        private final long[] buckets = new long[10], bucketSecond = new long[10];

        synchronized void generated(int tokens) {
            if (tokens == 0) return;
            generatedTokens.addAndGet(tokens);
            long second = System.nanoTime() / 1_000_000_000L;
            int i = (int) (second % buckets.length);
            if (bucketSecond[i] != second) {
                bucketSecond[i] = second;
                buckets[i] = 0;
            }
            buckets[i] += tokens;
        }

        synchronized double tokensPerSecond() {
            long second = System.nanoTime() / 1_000_000_000L, total = 0;
            for (int i = 0; i < buckets.length; i++) if (second - bucketSecond[i] < buckets.length) total += buckets[i];
            return total / (double) buckets.length;
        }
    }

    /** Stops the engine: waiting and running requests fail with one sentence; their sessions close. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            work.signal();
        } finally {
            lock.unlock();
        }
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
