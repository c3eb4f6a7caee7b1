package dev.moa.tasks.kernels;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The project's GPU kernels by readable name: what the CLI prints and what the assembly tests cover. */
public final class KernelCatalog {
    /**
     * A kernel: its name and the static method that defines it; for one with {@code @Specialize} parameters, the
     * values Llama-3.2-1B's decode step gives them ({@code example}: what {@code moa kernels --sass} shows beside the
     * general kernel).
     */
    public record Entry(String name, Class<?> owner, String method, String summary, Map<String, Integer> example) {
        Entry(String name, Class<?> owner, String method, String summary) {
            this(name, owner, method, summary, Map.of());
        }
    }

    /** Llama-3.2-1B's q/o and gate/up products (2048 columns), plain stores. */
    private static final Map<String, Integer> GEMM_1B = Map.of("cols", 2048, "epilogue", 0);
    /** Llama-3.2-1B's prompt attention: 32 query heads over 8, head_dim 64, fused q/k/v rows of 3072 floats. */
    private static final Map<String, Integer> PREFILL_1B = Map.of("heads", 32, "kvHeads", 8, "headDim", 64, "stride", 3072);

    /** Llama-3.2-1B's attention shapes with an F32 cache (the format nvcc's reference kernels read). */
    private static final Map<String, Integer> ATTENTION_1B = Map.of("heads", 32, "kvHeads", 8, "headDim", 64, "kvFormat", KvStore.F32);

    private static final List<Entry> ALL = List.of(
            new Entry("add", VectorKernels.class, "add", "c = a + b, one work-item per element"),
            new Entry("rmsnorm", VectorKernels.class, "rmsNorm", "RMSNorm, one group per row, shared-memory reduction"),
            new Entry("rmsnorm-parts", VectorKernels.class, "rmsNormParts", "RMSNorm written as the BF16 parts a prompt's pipelined GEMM reads",
                    Map.of("parts", 2)),
            new Entry("softmax", VectorKernels.class, "softmax", "in-place softmax, one group per row"),
            new Entry("silu-times", VectorKernels.class, "siluTimes", "SwiGLU silu(gate) * up"),
            new Entry("swiglu", VectorKernels.class, "swiGlu", "SwiGLU over a fused gate/up output"),
            new Entry("swiglu-parts", VectorKernels.class, "swiGluParts", "SwiGLU written as BF16 parts for the down projection's pipelined GEMM",
                    Map.of("parts", 2)),
            new Entry("embed-bf16", VectorKernels.class, "embedBf16", "embedding row of the step's token, BF16 table"),
            new Entry("embed-f16", VectorKernels.class, "embedF16", "embedding row of the step's token, F16 table"),
            new Entry("embed-f32", VectorKernels.class, "embedF32", "embedding row of the step's token, F32 table"),
            new Entry("argmax", VectorKernels.class, "argmax", "index of the largest logit, chunks merged by the last group"),
            new Entry("argmax-onward", VectorKernels.class, "argmaxOnward", "the argmax, then each row's step moved on to its token, for the next replay"),
            new Entry("step-onward", VectorKernels.class, "stepOnward", "each row's step moved on to the token drawn for it, for the next replay"),
            new Entry("sample", SamplingKernels.class, "sample", "temperature, top-k, top-p and one draw per row, candidates ranked in shared memory"),
            new Entry("sample-wide", SamplingKernels.class, "sampleWide", "the draws too wide for shared memory, by bisection over the row"),
            new Entry("matvec-bf16", MatVecKernels.class, "bf16", "BF16 weights x F32 vector, one warp per row", Map.of("cols", 2048)),
            new Entry("matvec-f16", MatVecKernels.class, "f16", "F16 weights x F32 vector, one warp per row"),
            new Entry("matvec-bf16-into", MatVecKernels.class, "bf16Into", "BF16 matvec with bias and residual epilogue, a row's columns shared by warps",
                    Map.of("cols", 2048, "epilogue", MatVecKernels.ACCUMULATE | MatVecKernels.PREFETCH_WHOLE, "parts", MatVecKernels.parts(2048, 2048))),
            new Entry("matvec-f16-into", MatVecKernels.class, "f16Into", "F16 matvec with bias and residual epilogue"),
            new Entry("matvec-f32-into", MatVecKernels.class, "f32Into", "F32 matvec with bias and residual epilogue"),
            new Entry("matvec-half-batch", MatVecKernels.class, "halfBatchInto", "BF16/F16 matvec over up to 4 vectors per weight load, epilogue",
                    Map.of("cols", 2048, "epilogue", MatVecKernels.ACCUMULATE | MatVecKernels.PREFETCH_WHOLE, "ieee", 0, "parts",
                            MatVecKernels.batchParts(2048, 2048, 4))),
            new Entry("matvec-f32-batch", MatVecKernels.class, "f32BatchInto", "F32 matvec over up to 4 vectors per weight load, epilogue"),
            new Entry("matvec-normed-half", NormedMatVecKernels.class, "half", "RMSNorm inside a 16-bit matvec, two rows per warp, bias or SwiGLU epilogue",
                    Map.of("cols", 2048, "epilogue", NormedMatVecKernels.GLU, "ieee", 0, "parts", NormedMatVecKernels.parts(8192, 2048))),
            new Entry("matvec-normed-rope", NormedMatVecKernels.class, "halfRope", "RMSNorm + q/k/v matvec + RoPE + MoA cache write in one launch",
                    Map.of("heads", 32, "kvHeads", 8, "headDim", 64, "cols", 2048, "epilogue", NormedMatVecKernels.PREFETCH_KV, "ieee", 0,
                            "kvFormat", KvStore.F32, "parts", NormedMatVecKernels.parts(1536, 2048))),
            new Entry("mma-bf16-tile", TensorCoreKernels.class, "tile", "one warp: a 16x16 by 16x8 BF16 tile product on the tensor core (mma.sync m16n8k16)"),
            new Entry("gemm-bf16-tensor", GemmKernels.class, "bf16Tensor", "prefill GEMM on the tensor cores: BF16 weights, F32 activations split in two BF16 parts", GEMM_1B),
            new Entry("gemm-bf16-tensor-large", GemmKernels.class, "bf16TensorLarge",
                    "the tensor-core GEMM over 128x128 tiles of eight warps (32 tokens x 64 rows each): the same bits, for long prompts", GEMM_1B),
            new Entry("gemm-bf16-tensor-rounded", GemmKernels.class, "bf16TensorRounded",
                    "the tensor-core GEMM with activations rounded to BF16 once (half the products): --prompt-precision bf16"),
            new Entry("gemm-bf16-tensor-large-rounded", GemmKernels.class, "bf16TensorLargeRounded",
                    "the rounded GEMM over the large tiles: a bf16 x bf16 matmul's arithmetic, set against cuBLAS; --prompt-precision bf16", GEMM_1B),
            new Entry("gemm-pipelined", PipelinedGemm.class, "tile",
                    "the tensor-core GEMM over activations already in BF16 parts, a 3-stage ring of asynchronous copies (64x64 tiles)",
                    Map.of("cols", 2048, "parts", 2, "epilogue", 0)),
            new Entry("gemm-pipelined-large", PipelinedGemm.class, "large",
                    "the pipelined GEMM over 128x128 tiles: a prompt's GEMMs (parts 2: F32 prompts' bits; 1: --prompt-precision bf16)",
                    Map.of("cols", 2048, "parts", 2, "epilogue", 0)),
            new Entry("gemm-pipelined-wide", PipelinedGemm.class, "wide",
                    "the pipelined GEMM over 128x128 tiles of four 64x64 warps: a third less shared-memory reading a product (bf16 prompts)",
                    Map.of("cols", 2048, "parts", 1, "epilogue", 0)),
            new Entry("gemm-pipelined-glu", PipelinedGemm.class, "tileGlu",
                    "the pipelined GEMM over a stacked gate/up matrix with SwiGLU as its epilogue, the down product's BF16 parts out (64x64 tiles)",
                    Map.of("cols", 2048, "parts", 2)),
            new Entry("gemm-pipelined-large-glu", PipelinedGemm.class, "largeGlu", "the gate/up GEMM with SwiGLU over 128x128 tiles (a prompt's)",
                    Map.of("cols", 2048, "parts", 2)),
            new Entry("gemm-pipelined-wide-glu", PipelinedGemm.class, "wideGlu", "the gate/up GEMM with SwiGLU over 128x128 tiles of 64x64 warps (bf16 prompts)",
                    Map.of("cols", 2048, "parts", 1)),
            new Entry("gemm-pipelined-split", PipelinedGemm.class, "split",
                    "the pipelined GEMM over one split of the columns (a batched decode step's few tokens), partial sums out"),
            new Entry("split-rows", PipelinedGemm.class, "splitRows", "F32 rows into the BF16 parts the pipelined GEMM reads"),
            new Entry("gemm-bf16-tensor-split", GemmKernels.class, "bf16TensorSplit",
                    "the tensor-core GEMM over one split of the columns (few tokens: a batched decode step), partial sums out"),
            new Entry("gemm-sum-splits", GemmKernels.class, "sumSplits", "adds the column splits' partial sums in order, bias and residual epilogue"),
            new Entry("gemm-half", GemmKernels.class, "half", "prefill GEMM, F32 activations x BF16/F16 weights, 64x64 tiles in shared memory (FFMA)",
                    Map.of("cols", 2048, "epilogue", 0, "ieee", 0)),
            new Entry("gemm-f32", GemmKernels.class, "f32", "prefill GEMM for F32 weights: the same FFMA tiles, weights read four per 16-byte load"),
            new Entry("prefill-rope", PrefillKernels.class, "rope", "RoPE on a prompt's q/k in place, the kept keys and values into the MoA cache",
                    Map.of("heads", 32, "kvHeads", 8, "headDim", 64, "stride", 3072, "kvFormat", KvStore.F32)),
            new Entry("prefill-rope-split", PrefillKernels.class, "ropeSplit",
                    "the same, the prompt's keys and values staged as the tensor-core attention's BF16 parts (no float copy, no split pass)",
                    Map.of("heads", 32, "kvHeads", 8, "headDim", 64, "stride", 3072, "kvFormat", KvStore.F32)),
            new Entry("copy-rows", VectorKernels.class, "copyRows", "rows of one buffer into another (a prompt chunk's residual stream)"),
            new Entry("prefill-attention", PrefillKernels.class, "blockSparse", "MoA block-sparse prefill attention: sink block + band, online softmax",
                    PREFILL_1B),
            new Entry("prefill-split-kv", PrefillKernels.class, "splitKeysValues",
                    "staged keys and values split into two BF16 parts for the tensor-core attention (the device check's; prompts stage them split: prefill-rope-split)"),
            new Entry("prefill-attention-tensor", PrefillKernels.class, "blockSparseTensor",
                    "the same on the tensor cores: 64x64 tiles, K and V copied ahead, mma.sync m16n8k16 on split Q, K, P, V", PREFILL_1B),
            new Entry("prefill-attention-tensor-rounded", PrefillKernels.class, "blockSparseTensorRounded",
                    "the tensor-core attention with Q, K, P, V rounded to BF16 once (one product where the split takes three): --prompt-precision bf16",
                    PREFILL_1B),
            new Entry("prefill-attention-tensor-parts", PrefillKernels.class, "blockSparseTensorParts",
                    "the tensor-core attention writing its output as the output projection's two BF16 parts", PREFILL_1B),
            new Entry("prefill-attention-tensor-rounded-parts", PrefillKernels.class, "blockSparseTensorRoundedParts",
                    "the rounded tensor-core attention writing its output rounded to BF16", PREFILL_1B),
            new Entry("rope-cache", AttentionKernels.class, "ropeAndCache", "RoPE on a fused q/k/v, k and v written into the MoA cache", ATTENTION_1B),
            new Entry("attention-split", AttentionKernels.class, "decodeSplit", "MoA decode attention, one split of a head's slots", ATTENTION_1B),
            new Entry("attention-grouped", AttentionKernels.class, "decodeGrouped", "MoA decode attention, one split of a KV group for all its query heads",
                    ATTENTION_1B),
            new Entry("attention-staged", AttentionKernels.class, "decodeStaged",
                    "the grouped decode attention with its keys and values staged in shared memory by cp.async, coalesced", ATTENTION_1B),
            new Entry("attention-grouped-parts", AttentionKernels.class, "decodeGroupedParts",
                    "the grouped decode attention writing its output as the output projection's two BF16 parts (batched tensor-core steps)",
                    ATTENTION_1B),
            new Entry("attention-staged-parts", AttentionKernels.class, "decodeStagedParts",
                    "the staged decode attention writing its output as the output projection's two BF16 parts (batched tensor-core steps)",
                    ATTENTION_1B),
            new Entry("attention-combine", AttentionKernels.class, "combine", "merges the splits of each head", Map.of("headDim", 64)));

    private KernelCatalog() {
    }

    public static List<Entry> all() {
        return ALL;
    }

    public static Optional<Entry> find(String name) {
        return ALL.stream().filter(e -> e.name().equals(name)).findFirst();
    }
}
