package dev.moa.runtime.device;

/**
 * A prompt's keys and values left on the device by {@link DevicePrefill}, per layer in its session's cache layout
 * (one session's slots, from slot 0), until the session's first decode step copies them into its rows there
 * ({@link DeviceDecoder.Row#prompt}): so a prompt's cache does not go to the host and back up between its prefill and
 * its first token. The session's CPU cache does not hold the prompt meanwhile. Close it to free it.
 */
public final class PromptKv implements AutoCloseable {
    private final KvBuffers[] layers;
    private final OwnedBuffers buffers;
    private boolean closed;

    PromptKv(KvBuffers[] layers, OwnedBuffers buffers) {
        this.layers = layers;
        this.buffers = buffers;
    }

    /** Layer {@code l}'s keys and values. */
    KvBuffers layer(int l) {
        if (closed) throw new IllegalStateException("the prompt's cache on the device was freed");
        return layers[l];
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        buffers.close();
    }
}
