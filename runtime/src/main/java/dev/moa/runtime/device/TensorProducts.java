package dev.moa.runtime.device;

/** How a product of many rows (a prompt, or a batched decode step) runs: which GEMM and attention kernels it takes. */
enum TensorProducts {
    /** FFMA tiles: no tensor cores, or a device whose tensor cores failed {@link dev.moa.tasks.kernels.TensorCoreCheck}. */
    NONE,
    /** On the tensor cores, operands split in two BF16 parts ({@link PromptPrecision#F32}). */
    SPLIT,
    /** On the tensor cores, operands rounded to BF16 once ({@link PromptPrecision#BF16}). */
    ROUNDED;

    /** The products of a prompt on a device whose tensor cores {@code pass} their check, at {@code precision}. */
    static TensorProducts of(boolean pass, PromptPrecision precision) {
        return !pass ? NONE : precision == PromptPrecision.BF16 ? ROUNDED : SPLIT;
    }

    boolean tensorCores() {
        return this != NONE;
    }

    /** BF16 parts each activation enters the tensor cores as: 2 split, 1 rounded ({@link ActivationParts}); none on FFMA tiles. */
    int parts() {
        return switch (this) {
            case NONE -> throw new IllegalStateException("FFMA tiles multiply activations as floats, not in BF16 parts");
            case SPLIT -> 2;
            case ROUNDED -> 1;
        };
    }
}
