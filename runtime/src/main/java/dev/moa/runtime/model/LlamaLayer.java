package dev.moa.runtime.model;

/**
 * The Llama decoder layer, written once: {@code x += Wo·Attention(RoPE(Wqkv·RMSNorm(x) + b)) (+ bo)};
 * {@code x += Wdown·SwiGLU(Wgate/up·RMSNorm(x))}, as a sequence of {@link Steps}. Each backend implements the
 * steps over its own activations and weights: the CPU forward runs them at once on float rows
 * ({@code LlamaModel}, also the profiler's recomputation), the device programs append them as kernels to a task
 * graph ({@code DeviceDecoder}'s decode step, {@code DevicePrefill}'s prompt chunks). A change to the layer (another norm, a bias, a different order) is made here and
 * every backend follows, or fails to compile until it implements the new step.
 */
public final class LlamaLayer {
    private LlamaLayer() {
    }

    /** Which of the layer's two RMSNorms. */
    public enum Norm { ATTENTION, FFN }

    /**
     * A backend's steps of layer {@code layer} over the current rows of the residual stream {@code x} (one row per
     * token of a prefill chunk, or per session of a batched decode step).
     */
    public interface Steps {
        /** {@code xb = RMSNorm(x) · weight}, the layer's attention or FFN norm. */
        void rmsNorm(int layer, Norm which);

        /** {@code q, k, v = xb · Wq/Wk/Wvᵀ (+ bq/bk/bv)}. */
        void qkv(int layer);

        /** RoPE on q and k at each row's position; where the backend keeps the KV cache in this step, k and v go there. */
        void rope(int layer);

        /** Every query head attends over the keys and values its span keeps (written to the cache first where needed). */
        void attention(int layer);

        /** {@code x += attention · Woᵀ (+ bo)}. */
        void outputResidual(int layer);

        /** {@code gate, up = xb · Wgate/Wupᵀ}. */
        void gateUp(int layer);

        /** {@code act = silu(gate) · up}. */
        void swiGlu(int layer);

        /** {@code x += act · Wdownᵀ}. */
        void downResidual(int layer);
    }

    /** The whole layer. */
    public static void run(Steps steps, int layer) {
        attentionInput(steps, layer);
        steps.attention(layer);
        steps.outputResidual(layer);
        feedForward(steps, layer);
    }

    /** What attention reads: the attention norm, q/k/v and RoPE. */
    public static void attentionInput(Steps steps, int layer) {
        steps.rmsNorm(layer, Norm.ATTENTION);
        steps.qkv(layer);
        steps.rope(layer);
    }

    /** The feed-forward half: the FFN norm, gate/up, SwiGLU, down and its residual. */
    public static void feedForward(Steps steps, int layer) {
        steps.rmsNorm(layer, Norm.FFN);
        steps.gateUp(layer);
        steps.swiGlu(layer);
        steps.downResidual(layer);
    }
}
