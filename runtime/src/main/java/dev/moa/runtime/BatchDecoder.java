package dev.moa.runtime;

import dev.moa.runtime.device.DeviceDecoder;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.NonFiniteException;
import dev.moa.runtime.model.LlamaModel;
import java.util.IdentityHashMap;
import java.util.List;

/**
 * Decodes one token for each of several sessions of one model in a single forward: the matmuls read each weight
 * once for the whole batch (a skinny GEMM instead of B matvecs), attention stays per session over its own cache, so
 * sessions of different lengths and different attention (dense, any MoA plan) step together. Each row's logits are
 * what {@link Session#decode} would return for that session alone, up to the order of float sums.
 *
 * <p>On a model with an accelerator the step runs there: the sessions become the rows of one device step over their
 * regions of the device's KV pool, replayed while the same sessions step together in the same order; another set of
 * sessions gets a new step over the same regions (nothing copied; a session new to the device fills its region
 * once, from its prompt's keys and values there or from the CPU).
 *
 * <p>Holds the scratch buffers for {@code maxBatch} rows; used by one thread at a time.
 */
public final class BatchDecoder {
    private final LlamaModel model;
    private final int maxBatch;
    private final LlamaModel.State state;
    private final float[] logits;

    public BatchDecoder(Model model, int maxBatch) {
        if (maxBatch < 1) throw new IllegalArgumentException("the batch must hold at least one session, got " + maxBatch);
        this.model = model.llama();
        this.maxBatch = maxBatch;
        this.state = new LlamaModel.State(model.config(), maxBatch);
        this.logits = KvCache.floats((long) maxBatch * model.config().vocabSize(), "the logits of a batch of " + maxBatch);
    }

    public int maxBatch() {
        return maxBatch;
    }

    /**
     * Feeds {@code tokens[b]} to {@code sessions.get(b)} (each prefilled, each at most once) and returns the
     * next-token logits of every session, {@code [b][vocab]}; every session advances by one position.
     */
    public float[][] step(List<Session> sessions, int[] tokens) {
        int n = sessions.size();
        KvCache[] caches = new KvCache[n];
        int[] positions = new int[n];
        check(sessions, tokens, caches, positions);
        if (sessions.get(0).accelerator() != null) {
            float[][] rows;
            synchronized (sessions.get(0).accelerator()) { // no session grows the KV pool between choosing the step and running it
                rows = device(sessions).decode(tokens, positions);
            }
            float[][] out = new float[n][];
            for (int b = 0; b < n; b++) {
                NonFiniteException.check(rows[b], 1, rows[b].length, new int[] {positions[b]}, "the output head's logits");
                out[b] = rows[b].clone();
            }
            for (Session s : sessions) s.advance(); // (all or none: a row that is not finite throws before any advances, as on the CPU)
            return out;
        }
        model.decodeBatch(state, caches, tokens, positions, logits);
        int vocab = model.config().vocabSize();
        float[][] rows = new float[n][];
        for (int b = 0; b < n; b++) {
            sessions.get(b).advance();
            rows[b] = java.util.Arrays.copyOfRange(logits, b * vocab, (b + 1) * vocab);
        }
        return rows;
    }

    /**
     * As {@link #step}, returning each session's next token by argmax (greedy decoding): on a device the argmax runs
     * there and only the tokens come back.
     */
    public int[] stepGreedy(List<Session> sessions, int[] tokens) {
        return stepGreedy(sessions, tokens, false);
    }

    /**
     * As {@link #stepGreedy(List, int[])}; with {@code sameNext} (these sessions step together again next: a fixed
     * batch), a device queues the next step before the host reads this one's tokens, as it does for one session (see
     * {@link DeviceDecoder#decodeGreedy(int[], int[])}: a step queued ahead and not taken costs a whole step).
     */
    public int[] stepGreedy(List<Session> sessions, int[] tokens, boolean sameNext) {
        int n = sessions.size();
        if (sessions.isEmpty() || sessions.get(0).accelerator() == null) {
            float[][] rows = step(sessions, tokens);
            int[] next = new int[n];
            for (int b = 0; b < n; b++) next[b] = Sampler.argmax(rows[b]);
            return next;
        }
        int[] positions = new int[n];
        check(sessions, tokens, new KvCache[n], positions);
        DeviceDecoder device;
        int[] next;
        synchronized (sessions.get(0).accelerator()) { // no session grows the KV pool between choosing the step and running it
            device = device(sessions);
            next = device.decodeGreedy(tokens, positions, sameNext || n == 1);
        }
        for (int b = 0; b < n; b++) {
            if (next[b] < 0) {
                float[] row = device.logits()[b];
                NonFiniteException.check(row, 1, row.length, new int[] {positions[b]}, "the output head's logits");
            }
        }
        for (Session s : sessions) s.advance();
        return next;
    }

    /**
     * As {@link #step}, for a batch of greedy and sampled sessions: each session's next token as its {@code samplers[b]}
     * draws it (one uniform of its sequence a sampled session; the argmax a greedy one). On a device the draws run there
     * and no logits come back but a row's whose nucleus is too flat for the device (the host then draws from them with
     * the same uniform, walking the distribution as the device does); on the CPU the rows are drawn here, in parallel (a
     * tenth of a millisecond or more a draw over a large vocabulary: one after another, a batch of 32 would wait
     * milliseconds a step). On a device a row whose logits are not all finite numbers, or whose draw fails, fails alone
     * ({@link Drawn#failures}): the others' tokens stand, and every session has advanced. On the CPU, whose forward checks
     * every row after every layer and stops at the first that is not finite, such a row fails the whole step (thrown; no
     * session advances); a failed draw there fails its row alone.
     */
    public Drawn stepDrawing(List<Session> sessions, int[] tokens, Sampler[] samplers) {
        return stepDrawing(sessions, tokens, samplers, false);
    }

    /** As {@link #stepDrawing(List, int[], Sampler[])}, and where {@code sameNext}, as {@link #stepGreedy(List, int[], boolean)}. */
    public Drawn stepDrawing(List<Session> sessions, int[] tokens, Sampler[] samplers, boolean sameNext) {
        int n = sessions.size();
        if (samplers.length != n) throw new IllegalArgumentException(n + " sessions but " + samplers.length + " samplers");
        int[] next = new int[n];
        RuntimeException[] failures = new RuntimeException[n];
        if (sessions.isEmpty() || sessions.get(0).accelerator() == null) {
            float[][] rows = step(sessions, tokens);
            java.util.stream.IntStream.range(0, n).parallel().forEach(b -> draw(b, next, failures, () -> samplers[b].next(rows[b])));
            return new Drawn(next, failures);
        }
        int[] positions = new int[n];
        check(sessions, tokens, new KvCache[n], positions);
        boolean ahead = sameNext || n == 1;
        DeviceDecoder.Draw[] draws = new DeviceDecoder.Draw[n], nextDraws = ahead ? new DeviceDecoder.Draw[n] : null;
        for (int b = 0; b < n; b++) {
            draws[b] = DeviceDecoder.Draw.of(samplers[b]);
            if (ahead) nextDraws[b] = DeviceDecoder.Draw.next(samplers[b]); // (the next step's, queued ahead)
        }
        DeviceDecoder.Chosen chosen;
        synchronized (sessions.get(0).accelerator()) { // no session grows the KV pool between choosing the step and running it
            chosen = device(sessions).decodeDrawing(tokens, positions, draws, nextDraws);
        }
        for (Session s : sessions) s.advance();
        java.util.stream.IntStream.range(0, n).parallel().forEach(b -> draw(b, next, failures, () -> chosen.token(b, draws[b], samplers[b], positions[b])));
        return new Drawn(next, failures);
    }

    private static void draw(int b, int[] next, RuntimeException[] failures, java.util.function.IntSupplier token) {
        try {
            next[b] = token.getAsInt();
        } catch (RuntimeException e) {
            next[b] = -1;
            failures[b] = e;
        }
    }

    /** A {@link #stepDrawing}'s tokens, and per row what failed it (null where it did not; its token is then -1). */
    public record Drawn(int[] tokens, RuntimeException[] failures) {
    }

    /** Checks a step's sessions and tokens; fills their caches and positions. */
    private void check(List<Session> sessions, int[] tokens, KvCache[] caches, int[] positions) {
        int n = sessions.size();
        if (n != tokens.length) throw new IllegalArgumentException(n + " sessions but " + tokens.length + " tokens");
        if (n < 1 || n > maxBatch) throw new IllegalArgumentException("a step takes 1 to " + maxBatch + " sessions, got " + n);
        int vocab = model.config().vocabSize();
        var seen = new IdentityHashMap<Session, Boolean>();
        for (int b = 0; b < n; b++) {
            Session s = sessions.get(b);
            if (s.model() != model) throw new IllegalArgumentException("session " + b + " belongs to another model");
            if (seen.put(s, true) != null) throw new IllegalArgumentException("session " + b + " appears twice in one step");
            if (tokens[b] < 0 || tokens[b] >= vocab) throw new IllegalArgumentException("token id " + tokens[b] + " of session " + b + " is outside the vocabulary [0, " + vocab + ")");
            caches[b] = s.cacheForDecode();
            positions[b] = s.position();
        }
    }

    /** The device step whose rows are exactly these sessions, built when there is none (or the KV pool grew since). */
    private static DeviceDecoder device(List<Session> sessions) {
        DeviceDecoder step = Session.sharedStep(sessions);
        return step != null ? step : Session.newStep(sessions);
    }
}
