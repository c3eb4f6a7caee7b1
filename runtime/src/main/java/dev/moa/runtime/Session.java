package dev.moa.runtime;

import dev.moa.runtime.model.DenseKvCache;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.LlamaModel;

/**
 * One conversation's state: its KV cache (preallocated for {@code capacity} positions), scratch buffers and
 * the next position. A session is used by one thread at a time; many sessions can share one {@link Model}.
 */
public final class Session {
    private final LlamaModel model;
    private final KvCache cache;
    private final LlamaModel.State state;
    private int position;

    Session(LlamaModel model, int capacity, int chunk) {
        this.model = model;
        this.cache = new DenseKvCache(model.config(), capacity);
        this.state = new LlamaModel.State(model.config(), chunk);
    }

    /** Runs the prompt (in chunks) and returns the logits after its last token. */
    public float[] prefill(int[] tokens) {
        return append(tokens, 0, tokens.length);
    }

    /** Feeds one generated token and returns the logits for the next one. */
    public float[] decode(int token) {
        return append(new int[] {token}, 0, 1);
    }

    private float[] append(int[] tokens, int from, int count) {
        if (position + count > cache.capacity()) {
            throw new ContextOverflowException("the session's context holds " + cache.capacity() + " tokens; "
                    + position + " are used and " + count + " more were given");
        }
        float[] logits = model.forward(state, cache, tokens, from, count, position);
        position += count;
        return logits;
    }

    public int position() {
        return position;
    }

    public int capacity() {
        return cache.capacity();
    }

    public long kvCacheBytes() {
        return cache.byteSize();
    }

    /** Forgets all tokens (the cache is overwritten from position 0). */
    public void reset() {
        position = 0;
    }
}
