package dev.moa.runtime.device;

/**
 * How a prompt's products multiply on a GPU's tensor cores (which read BF16): the matmuls (activations × BF16
 * weights) and the attention (Q·Kᵀ and P·V). Decode steps are unaffected: their matvecs read F32 activations.
 */
public enum PromptPrecision {
    /**
     * Each activation, query, key, value and probability split into a BF16 part and the BF16 rounding of what it
     * left: about 16 bits, the CPU's results within 1e-4 (the default). Two tensor-core products a matmul term takes,
     * three an attention term.
     */
    F32,
    /**
     * Each rounded to BF16 once, as PyTorch's bf16 matmul and attention (and vLLM's) compute: one product a term,
     * half a matmul's tensor-core work and a third of the attention's, at about 8 bits per operand.
     */
    BF16
}
