package dev.moa.runtime;

import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.LlamaModel;
import java.util.IdentityHashMap;
import java.util.List;

/**
 * Decodes one token for each of several sessions of one model in a single forward: the matmuls read each weight
 * once for the whole batch (a skinny GEMM instead of B matvecs), attention stays per session over its own cache, so
 * sessions of different lengths and different attention (dense, any MoA plan) step together. Each row's logits are
 * what {@link Session#decode} would return for that session alone, up to the order of float sums.
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
        if (n != tokens.length) throw new IllegalArgumentException(n + " sessions but " + tokens.length + " tokens");
        if (n < 1 || n > maxBatch) throw new IllegalArgumentException("a step takes 1 to " + maxBatch + " sessions, got " + n);
        KvCache[] caches = new KvCache[n];
        int[] positions = new int[n];
        var seen = new IdentityHashMap<Session, Boolean>();
        for (int b = 0; b < n; b++) {
            Session s = sessions.get(b);
            if (s.model() != model) throw new IllegalArgumentException("session " + b + " belongs to another model");
            if (seen.put(s, true) != null) throw new IllegalArgumentException("session " + b + " appears twice in one step");
            caches[b] = s.cacheForDecode();
            positions[b] = s.position();
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
}
