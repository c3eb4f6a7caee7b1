package dev.moa.tasks.kernels;

import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.LaunchBounds;
import dev.moa.tasks.kernel.Specialize;
import dev.moa.tasks.kernel.Vec16;

/**
 * Matrix products for prefill, where a chunk of tokens meets each weight matrix at once:
 * {@code out[t, r] (+)= Σ_c x[t, c] · w[r, c] (+ bias[r])} for {@code tokens × cols} activations (F32) and
 * {@code rows × cols} 16-bit weights (BF16 or IEEE half), F32 accumulation. This is the FFMA kernel: tiles in shared
 * memory, sixteen sums per work-item, no tensor cores (the fallback for targets without {@code mma}, and the
 * reference a tensor-core kernel is checked against).
 */
public final class GemmKernels {
    /** Tokens and rows of one group's output tile. */
    public static final int TILE = 64;
    /** Columns of x and w one tile step stages in shared memory. */
    public static final int STEP = 32;
    /** Work-items per group: 16 × 16, each owning a 4 × 4 corner of the tile. */
    public static final int GROUP = 256;
    private static final int SIDE = 16;
    /** Weight rows in shared memory are STEP + 1 floats apart, so the 16 rows a warp reads at once sit in 16 banks. */
    private static final int W_STRIDE = STEP + 1;

    private GemmKernels() {
    }

    /** The launch over a {@code tokens × rows} output: one group per 64 × 64 tile. */
    public static Grid grid(int tokens, int rows) {
        return Grid.of((rows + TILE - 1) / TILE, (tokens + TILE - 1) / TILE, GROUP);
    }

    /**
     * The product with {@link MatVecKernels}' epilogue flags (BIAS adds {@code bias[r]}, ACCUMULATE adds to what
     * {@code out} holds: a residual). Group (i, j) computes rows {@code 64i…} of tokens {@code 64j…}. Each tile step
     * stages 64 tokens × 32 columns of x and 64 rows × 32 columns of w (widened to F32) in shared memory — with
     * 16-byte loads, one per work-item for w and two for x, when {@code cols} is a multiple of 8; one element per
     * load otherwise, zeros past the edges — then work-item (ty, tx) adds, for each staged column, the products of
     * tokens ty, ty+16, ty+32, ty+48 with rows tx, tx+16, tx+32, tx+48. Out-of-range tokens and rows are never
     * written. Launch {@link #grid}{@code (tokens, rows)} groups of {@value #GROUP}.
     */
    public static void half(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int tokens, int rows,
                            @Specialize int cols, @Specialize int epilogue, @Specialize int ieee) {
        ctx.awaitPriorKernels();
        ffmaTile(ctx, w, x, x, bias, out, tokens, rows, cols, epilogue, ieee, false); // (x stands for the F32 weights it never reads)
    }

    /**
     * As {@link #half} for F32 weights (checkpoints stored in float32), read 16 bytes (four weights) per load where
     * {@code cols % 8 == 0}. {@code none} is any Half16Buffer (never read: the tile reads {@code w} only). Launch
     * {@link #grid}{@code (tokens, rows)} groups of {@value #GROUP}.
     */
    public static void f32(KernelContext ctx, F32Buffer w, Half16Buffer none, F32Buffer x, F32Buffer bias, F32Buffer out, int tokens, int rows,
                           @Specialize int cols, @Specialize int epilogue) {
        ctx.awaitPriorKernels();
        ffmaTile(ctx, none, w, x, bias, out, tokens, rows, cols, epilogue, 0, true);
    }

    /** {@link #half}'s and {@link #f32}'s tile: the weights from {@code w32} when {@code f32} (a constant in each kernel), else {@code w16}. */
    private static void ffmaTile(KernelContext ctx, Half16Buffer w16, F32Buffer w32, F32Buffer x, F32Buffer bias, F32Buffer out, int tokens,
                                 int rows, int cols, int epilogue, int ieee, boolean f32) {
        float[] xs = ctx.sharedF32(TILE * STEP);
        float[] ws = ctx.sharedF32(TILE * W_STRIDE);
        int t = ctx.localId(), tx = t % SIDE, ty = t / SIDE;
        int rowBase = ctx.groupId(0) * TILE, tokenBase = ctx.groupId(1) * TILE;
        boolean wide = cols % 8 == 0;
        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f;
        float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f; // c[token i][row j]
        for (int k0 = 0; k0 < cols; k0 += STEP) {
            if (wide) {
                if (f32) stageWeights8(w32, ws, rowBase + t / 4, t / 4, k0 + t % 4 * 8, t % 4 * 8, rows, cols);
                else stageWeights8(w16, ws, rowBase + t / 4, t / 4, k0 + t % 4 * 8, t % 4 * 8, rows, cols, ieee);
                stageTokens4(x, xs, tokenBase + t / 8, t / 8, k0 + t % 8 * 4, t % 8 * 4, tokens, cols);
                stageTokens4(x, xs, tokenBase + 32 + t / 8, 32 + t / 8, k0 + t % 8 * 4, t % 8 * 4, tokens, cols);
            } else {
                KernelContext.unroll(8);
                for (int i = 0; i < 8; i++) {
                    int e = t + GROUP * i, r = e / STEP, k = e % STEP, gr = rowBase + r, gt = tokenBase + r, gk = k0 + k;
                    float weight = 0f;
                    if (gr < rows && gk < cols) weight = f32 ? w32.get((long) gr * cols + gk) : NormedMatVecKernels.widen(w16.get((long) gr * cols + gk), 0, ieee);
                    ws[r * W_STRIDE + k] = weight;
                    xs[r * STEP + k] = gt < tokens && gk < cols ? x.get((long) gt * cols + gk) : 0f;
                }
            }
            ctx.barrier();
            KernelContext.unroll(8);
            for (int k = 0; k < STEP; k++) {
                float a0 = xs[ty * STEP + k], a1 = xs[(ty + SIDE) * STEP + k], a2 = xs[(ty + 2 * SIDE) * STEP + k], a3 = xs[(ty + 3 * SIDE) * STEP + k];
                float b0 = ws[tx * W_STRIDE + k], b1 = ws[(tx + SIDE) * W_STRIDE + k], b2 = ws[(tx + 2 * SIDE) * W_STRIDE + k];
                float b3 = ws[(tx + 3 * SIDE) * W_STRIDE + k];
                c00 += a0 * b0;
                c01 += a0 * b1;
                c02 += a0 * b2;
                c03 += a0 * b3;
                c10 += a1 * b0;
                c11 += a1 * b1;
                c12 += a1 * b2;
                c13 += a1 * b3;
                c20 += a2 * b0;
                c21 += a2 * b1;
                c22 += a2 * b2;
                c23 += a2 * b3;
                c30 += a3 * b0;
                c31 += a3 * b1;
                c32 += a3 * b2;
                c33 += a3 * b3;
            }
            ctx.barrier();
        }
        int t0 = tokenBase + ty, r0 = rowBase + tx;
        store(out, bias, t0, r0, tokens, rows, 0L, c00, epilogue);
        store(out, bias, t0, r0 + SIDE, tokens, rows, 0L, c01, epilogue);
        store(out, bias, t0, r0 + 2 * SIDE, tokens, rows, 0L, c02, epilogue);
        store(out, bias, t0, r0 + 3 * SIDE, tokens, rows, 0L, c03, epilogue);
        store(out, bias, t0 + SIDE, r0, tokens, rows, 0L, c10, epilogue);
        store(out, bias, t0 + SIDE, r0 + SIDE, tokens, rows, 0L, c11, epilogue);
        store(out, bias, t0 + SIDE, r0 + 2 * SIDE, tokens, rows, 0L, c12, epilogue);
        store(out, bias, t0 + SIDE, r0 + 3 * SIDE, tokens, rows, 0L, c13, epilogue);
        store(out, bias, t0 + 2 * SIDE, r0, tokens, rows, 0L, c20, epilogue);
        store(out, bias, t0 + 2 * SIDE, r0 + SIDE, tokens, rows, 0L, c21, epilogue);
        store(out, bias, t0 + 2 * SIDE, r0 + 2 * SIDE, tokens, rows, 0L, c22, epilogue);
        store(out, bias, t0 + 2 * SIDE, r0 + 3 * SIDE, tokens, rows, 0L, c23, epilogue);
        store(out, bias, t0 + 3 * SIDE, r0, tokens, rows, 0L, c30, epilogue);
        store(out, bias, t0 + 3 * SIDE, r0 + SIDE, tokens, rows, 0L, c31, epilogue);
        store(out, bias, t0 + 3 * SIDE, r0 + 2 * SIDE, tokens, rows, 0L, c32, epilogue);
        store(out, bias, t0 + 3 * SIDE, r0 + 3 * SIDE, tokens, rows, 0L, c33, epilogue);
    }

    /** Work-items per group of {@link #bf16Tensor}: four warps, each owning 16 tokens of the tile. */
    public static final int TENSOR_GROUP = 128;
    /**
     * Words of one staged row in {@link #bf16Tensor} (a token's activation parts, a weight row): STEP / 2 words of
     * BF16 pairs plus 4 of padding: 80 bytes, so every row starts 16-byte aligned as ldmatrix needs. An ldmatrix
     * reads eight 16-byte rows at a time; rows 20 words apart start in banks {@code 20r mod 32} = 0, 20, 8, 28, 16, 4,
     * 24, 12 for r = 0..7, each covering four banks: all 32 banks once, no conflict. (Rows 32 floats apart, as the
     * first version staged activations, put a warp's eight rows in the same banks: an 8-way conflict.)
     */
    private static final int T_WORDS = STEP / 2 + 4;

    /**
     * As {@link #half} for BF16 weights on the tensor cores ({@link KernelContext#mmaBf16}, m16n8k16). Each tile step
     * stages 64 tokens × 32 columns of x and 64 rows × 32 columns of w in shared memory as BF16 pairs; warp w
     * multiplies tokens {@code 16w…16w+15} of the tile with all 64 rows as eight 16×8 products per 16 columns. x is F32
     * and the tensor core reads BF16, so each activation is split, once, as it is staged, into a BF16 part and the
     * BF16 rounding of what remains, and both are multiplied: the product keeps about 16 bits of each activation
     * (against 8 for x rounded to BF16 once), which keeps it within 1e-4 of the F32 product. Rows must start 16-byte
     * aligned ({@link #tensorTakes}: {@code cols % 8 == 0}), so that staging is asynchronous 16-byte copies
     * ({@link KernelContext#copyAsync}: four activations, eight weights) without a branch (the tile's edges are
     * zero-filled or clamped): the next step's activations (as F32, into a staging buffer, split after this step's
     * products) and weights (into a second buffer) are copied while this step computes, so no step waits for memory
     * that a step's products could hide; fragments come from shared memory by
     * {@link KernelContext#loadMatrix} (ldmatrix: six per 16 columns, where word reads took 24), rows 16-byte aligned
     * and free of bank conflicts ({@link #T_WORDS}). Launch {@link #tensorGrid}{@code (tokens, rows)} groups of
     * {@value #TENSOR_GROUP}; needs sm_80 or later.
     */
    public static void bf16Tensor(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int tokens, int rows,
                                  @Specialize int cols, @Specialize int epilogue) {
        ctx.awaitPriorKernels();
        int[] xh = ctx.sharedI32(TILE * T_WORDS), xl = ctx.sharedI32(TILE * T_WORDS), ws = ctx.sharedI32(2 * TILE * T_WORDS); // w: two buffers
        int[] raw = ctx.sharedI32(TILE * STEP);
        tensorTile(ctx, xh, xl, raw, ws, w, x, bias, out, tokens, rows, cols, 0, cols, 0L, epilogue, true, false, TENSOR_GROUP, TILE);
    }

    /**
     * As {@link #bf16Tensor} with each activation rounded to BF16 once instead of split in two parts: half the
     * tensor-core products and no second staged copy of x, at BF16's precision for x (relative error about 2^-9 per
     * activation, as PyTorch's bf16 matmul has; the model's parity with the CPU needs the split). Timed beside it by
     * {@code moa kernels --bench} to show what the split costs. The model's products take {@link PipelinedGemm}
     * over BF16 parts; these F32-staging kernels only where a checkpoint mixes BF16 matrices with others (then the
     * norms write floats), and as the benchmark's baseline.
     */
    public static void bf16TensorRounded(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int tokens, int rows,
                                         @Specialize int cols, @Specialize int epilogue) {
        ctx.awaitPriorKernels();
        int[] xh = ctx.sharedI32(TILE * T_WORDS), unused = ctx.sharedI32(4), ws = ctx.sharedI32(2 * TILE * T_WORDS), raw = ctx.sharedI32(TILE * STEP);
        tensorTile(ctx, xh, unused, raw, ws, w, x, bias, out, tokens, rows, cols, 0, cols, 0L, epilogue, false, false, TENSOR_GROUP, TILE);
    }

    /**
     * Whether the tensor-core GEMMs take a product of {@code cols} columns: rows of 16-bit weights and of F32
     * activations start 16-byte aligned ({@code cols % 8 == 0}, as in every real model), which their asynchronous
     * copies need; other widths take the FFMA tiles ({@link #half}).
     */
    public static boolean tensorTakes(int cols) {
        return cols % 8 == 0;
    }

    /** Tokens and rows of one group's output tile in {@link #bf16TensorLarge}. */
    public static final int LARGE_TILE = 128;
    /** Work-items per group of {@link #bf16TensorLarge}: eight warps, each 32 tokens × 64 rows of the tile. */
    public static final int LARGE_GROUP = 256;

    /**
     * As {@link #bf16Tensor} (the same bits) over 128 × 128 tiles: each warp multiplies 32 tokens by 64 rows, so every B
     * fragment it loads from shared memory feeds two A fragments (16 products per 8 fragment loads per 16 columns, where
     * the 64 × 64 tile's warps do 8 per 6), and each staged weight serves 128 tokens. For long prompts; a chunk of few
     * tokens leaves most of such a tile empty. 56 KB of shared memory (its 16 KB staging buffer dynamic: static arrays
     * stop at 48 KB). Launch {@link #largeGrid}{@code (tokens, rows)}.
     */
    @LaunchBounds(groupSize = LARGE_GROUP, groupsPerSm = 2) // LARGE_MIN_GROUPS counts on two per SM
    public static void bf16TensorLarge(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int tokens, int rows,
                                       @Specialize int cols, @Specialize int epilogue) {
        ctx.awaitPriorKernels();
        int[] xh = ctx.sharedI32(LARGE_TILE * T_WORDS), xl = ctx.sharedI32(LARGE_TILE * T_WORDS), ws = ctx.sharedI32(2 * LARGE_TILE * T_WORDS);
        int[] raw = ctx.sharedDynamicI32(LARGE_TILE * STEP); // past the 48 KB of static arrays a launch may have
        tensorTile(ctx, xh, xl, raw, ws, w, x, bias, out, tokens, rows, cols, 0, cols, 0L, epilogue, true, true, LARGE_GROUP, LARGE_TILE);
    }

    /**
     * As {@link #bf16TensorLarge} with each activation rounded to BF16 once ({@link #bf16TensorRounded}'s arithmetic):
     * the same products as a bf16 × bf16 matmul, on the large tiles, so {@code moa kernels --bench} can set the
     * tile shape long prompts use against cuBLAS doing the same arithmetic ({@link PipelinedGemm#large} with one part
     * is the layers' kernel for that now).
     */
    @LaunchBounds(groupSize = LARGE_GROUP, groupsPerSm = 2)
    public static void bf16TensorLargeRounded(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int tokens, int rows,
                                              @Specialize int cols, @Specialize int epilogue) {
        ctx.awaitPriorKernels();
        int[] xh = ctx.sharedI32(LARGE_TILE * T_WORDS), unused = ctx.sharedI32(4), ws = ctx.sharedI32(2 * LARGE_TILE * T_WORDS);
        int[] raw = ctx.sharedDynamicI32(LARGE_TILE * STEP);
        tensorTile(ctx, xh, unused, raw, ws, w, x, bias, out, tokens, rows, cols, 0, cols, 0L, epilogue, false, true, LARGE_GROUP, LARGE_TILE);
    }

    /**
     * Large tiles' groups a product needs at least to take {@link #bf16TensorLarge}: two per SM of an H100 or H200
     * (132 SMs), which its registers (about 122 a work-item) allow at once. Fewer would leave SMs idle that 64 × 64
     * tiles fill. Chosen from the kernel's resources, not yet timed on a GPU.
     */
    static final int LARGE_MIN_GROUPS = 264;

    /**
     * Whether a {@code tokens × rows} product runs on {@link #bf16TensorLarge} (the same bits as {@link #bf16Tensor}):
     * at least a tile's tokens (fewer would leave half a tile or more as padding) and {@link #LARGE_MIN_GROUPS} tiles.
     */
    public static boolean large(int tokens, int rows) {
        return tokens >= LARGE_TILE && (long) ((tokens + LARGE_TILE - 1) / LARGE_TILE) * ((rows + LARGE_TILE - 1) / LARGE_TILE) >= LARGE_MIN_GROUPS;
    }

    /** The launch of {@link #bf16TensorLarge}: one group per 128 × 128 tile. */
    public static Grid largeGrid(int tokens, int rows) {
        return Grid.of((rows + LARGE_TILE - 1) / LARGE_TILE, (tokens + LARGE_TILE - 1) / LARGE_TILE, LARGE_GROUP)
                .withSharedBytes(4 * LARGE_TILE * STEP); // the activations' staging buffer
    }

    /**
     * Where few tokens meet each weight (a batched decode step: 8–64 sessions), {@link #bf16Tensor}'s 64-row tiles are
     * too few groups to keep the GPU's memory busy (48 for Llama-3.2-1B's q/k/v on 132 SMs), so the columns are split
     * too: group (i, j, s) computes tile (i, j) over columns {@code s·splitCols…} (a multiple of {@value #STEP}) and
     * writes its raw sums to {@code partial[s][token][row]}; {@link #sumSplits} then adds the splits in order, with the
     * epilogue (so the result does not depend on which split finishes first). Launch
     * {@link #tensorSplitGrid}{@code (tokens, rows, splits)} groups of {@value #TENSOR_GROUP}, {@code partial} holding
     * {@code splits × tokens × rows} floats; {@link #splits} chooses how many.
     */
    public static void bf16TensorSplit(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer partial, int tokens, int rows,
                                       @Specialize int cols, int splitCols) {
        ctx.awaitPriorKernels();
        int[] xh = ctx.sharedI32(TILE * T_WORDS), xl = ctx.sharedI32(TILE * T_WORDS), ws = ctx.sharedI32(2 * TILE * T_WORDS);
        int[] raw = ctx.sharedI32(TILE * STEP);
        int split = ctx.groupId(2), from = split * splitCols;
        tensorTile(ctx, xh, xl, raw, ws, w, x, partial, partial, tokens, rows, cols, from, Math.min(cols, from + splitCols),
                (long) split * tokens * rows, 0, true, false, TENSOR_GROUP, TILE);
    }

    /**
     * {@code out[t, r] (+)= Σ_s partial[s][t][r] (+ bias[r])}: the splits of {@link #bf16TensorSplit} added in split
     * order through {@link MatVecKernels}' epilogue flags. Each work-item one output element. Launch
     * {@link #sumGrid}{@code (tokens, rows)}.
     */
    public static void sumSplits(KernelContext ctx, F32Buffer partial, F32Buffer bias, F32Buffer out, int tokens, int rows, int splits,
                                 @Specialize int epilogue) {
        ctx.awaitPriorKernels();
        int e = ctx.globalId(), elements = tokens * rows;
        if (e >= elements) return;
        float sum = 0f;
        for (int s = 0; s < splits; s++) sum += partial.get((long) s * elements + e);
        store(out, bias, e / rows, e % rows, tokens, rows, 0L, sum, epilogue);
    }

    /**
     * Groups the tensor cores' products aim for when split ({@link #splits}): a few per SM of a large GPU, about one
     * wave (chosen from the H200's 132 SMs and the kernel's registers, not yet tuned on a GPU).
     */
    static final int SPLIT_TARGET_GROUPS = 512;
    /** Tile steps a split covers at least: fewer leave each group little but its prologue and the partials' traffic. */
    static final int SPLIT_MIN_STEPS = 4;

    /**
     * Column splits for a {@code tokens × rows × cols} product on the tensor cores: enough that its tiles times
     * splits reach {@link #SPLIT_TARGET_GROUPS} groups, each split at least {@link #SPLIT_MIN_STEPS} steps; 1 when the
     * tiles alone are that many (then {@link #bf16Tensor} runs it whole).
     */
    public static int splits(int tokens, int rows, int cols) {
        long tiles = (long) ((rows + TILE - 1) / TILE) * ((tokens + TILE - 1) / TILE);
        int steps = (cols + STEP - 1) / STEP;
        int wanted = (int) Math.min(Integer.MAX_VALUE, (SPLIT_TARGET_GROUPS + tiles - 1) / tiles);
        int most = Math.max(1, steps / SPLIT_MIN_STEPS);
        int each = splitCols(cols, Math.max(1, Math.min(wanted, most)));
        return (cols + each - 1) / each; // whole steps per split can leave fewer splits than asked
    }

    /** Columns of each of {@code splits} splits of {@code cols}: whole tile steps. */
    public static int splitCols(int cols, int splits) {
        int steps = (cols + STEP - 1) / STEP;
        return (steps + splits - 1) / splits * STEP;
    }

    /** The launch of {@link #bf16TensorSplit}: {@link #tensorGrid}'s tiles, once per split. */
    public static Grid tensorSplitGrid(int tokens, int rows, int splits) {
        return new Grid((rows + TILE - 1) / TILE, (tokens + TILE - 1) / TILE, splits, TENSOR_GROUP);
    }

    /** The launch of {@link #sumSplits}: one work-item per output element. */
    public static Grid sumGrid(int tokens, int rows) {
        return Grid.of((int) (((long) tokens * rows + 255) / 256), 256);
    }

    /**
     * {@link #bf16Tensor}'s tile over columns {@code from…to} (whole steps from {@code from}), stored from element
     * {@code base} of {@code out} through the epilogue. Two constants choose the variant (each kernel passes its own,
     * so each compiles to one): {@code split}: activations in two BF16 parts (xl holds the second), else rounded to
     * one; {@code large}: a 128 × 128 tile for eight warps, each 32 tokens × 64 rows (two A fragments against each B
     * fragment), else 64 × 64 for four, each 16 tokens × all 64 rows; {@code group} and {@code tile} are its work-items
     * and tile side, passed as constants. Every output element sums its columns in the same order either way (tile
     * steps in order; per 16 columns the high part, then the low), so both give the same bits.
     */
    private static void tensorTile(KernelContext ctx, int[] xh, int[] xl, int[] raw, int[] ws, Half16Buffer w, F32Buffer x, F32Buffer bias,
                                   F32Buffer out, int tokens, int rows, int cols, int from, int to, long base, int epilogue, boolean split, boolean large,
                                   int group, int tile) {
        int t = ctx.localId(), lane = ctx.laneId(), warp = t / KernelContext.WARP, g = lane / 4, q = lane % 4;
        int rowBase = ctx.groupId(0) * tile, tokenBase = ctx.groupId(1) * tile;
        int warpTokens = large ? 32 * (warp % 4) : 16 * warp, warpRows = large ? 64 * (warp / 4) : 0; // this warp's corner of the tile
        // the row each lane names to ldmatrix: for A, row lane % 8 (+ 8 for matrices 1 and 3) of this warp's 16 tokens
        // (the next 16 for a large tile's second fragment), columns 8 on (4 words) for matrices 2 and 3; for B, rows
        // lane % 8 (+ 8 for matrices 2 and 3: the second block) of a 16-row pair of blocks, columns 8 on for matrices
        // 1 and 3 — so words 0, 1 are one block's b0, b1
        int aRow = warpTokens + lane % 8 + 8 * (lane / 8 % 2), aWord = 4 * (lane / 16);
        int bRow = warpRows + lane % 8 + 8 * (lane / 16), bWord = 4 * (lane / 8 % 2);
        Vec16 d0 = Vec16.ofFloats(0f, 0f, 0f, 0f), d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0, d6 = d0, d7 = d0; // rows 8j..8j+7
        Vec16 e0 = d0, e1 = d0, e2 = d0, e3 = d0, e4 = d0, e5 = d0, e6 = d0, e7 = d0; // a large tile's second 16 tokens
        int buffer = tile * T_WORDS; // words of one weight buffer
        // what this work-item stages each step: four groups of four activations, token rows xRow + group/8·i from
        // column xCol of the step, and two groups of eight weights, rows wRow + group/4·i from column wCol; the first
        // step's here, then, while each step multiplies, the next one's
        int xRow = t / (STEP / 4), xCol = 4 * (t % (STEP / 4)), wRow = PipelinedGemm.firstRow(t), wCol = 8 * (t / 8 % (STEP / 8)); // 8 lanes, 8 rows: no bank conflicts
        stageActivations(ctx, x, raw, xRow, xCol, group, tokenBase, from, tokens, cols);
        stageWeights(ctx, w, ws, 0, wRow, wCol, group, rowBase, from, rows, cols);
        ctx.commitCopies();
        ctx.waitCopies(0);
        splitActivations(raw, xh, xl, xRow, xCol, group, split); // each work-item splits the activations it copied itself
        int current = 0; // which weight buffer this step reads: words 0.. or buffer..
        for (int k0 = from; k0 < to; k0 += STEP) {
            ctx.barrier(); // this step's x parts are split and its weights in, for every warp; raw is free again
            boolean next = k0 + STEP < to;
            if (next) {
                stageActivations(ctx, x, raw, xRow, xCol, group, tokenBase, k0 + STEP, tokens, cols);
                stageWeights(ctx, w, ws, buffer - current, wRow, wCol, group, rowBase, k0 + STEP, rows, cols);
            }
            ctx.commitCopies();
            for (int kk = 0; kk < STEP; kk += 16) {
                // A (tokens of this warp) and B (two 8-row blocks of w per load) by ldmatrix: each lane names one
                // 16-byte row, MatrixFragments.rowLane says which (see aRow/aWord and bRow/bWord above the loop)
                int a = aRow * T_WORDS + kk / 2 + aWord, b = current + bRow * T_WORDS + kk / 2 + bWord;
                Vec16 b01 = ctx.loadMatrix(ws, b), b23 = ctx.loadMatrix(ws, b + 16 * T_WORDS), b45 = ctx.loadMatrix(ws, b + 32 * T_WORDS),
                        b67 = ctx.loadMatrix(ws, b + 48 * T_WORDS);
                Vec16 aHigh = ctx.loadMatrix(xh, a);
                d0 = ctx.mmaBf16(aHigh, b01.word(0), b01.word(1), d0);
                d1 = ctx.mmaBf16(aHigh, b01.word(2), b01.word(3), d1);
                d2 = ctx.mmaBf16(aHigh, b23.word(0), b23.word(1), d2);
                d3 = ctx.mmaBf16(aHigh, b23.word(2), b23.word(3), d3);
                d4 = ctx.mmaBf16(aHigh, b45.word(0), b45.word(1), d4);
                d5 = ctx.mmaBf16(aHigh, b45.word(2), b45.word(3), d5);
                d6 = ctx.mmaBf16(aHigh, b67.word(0), b67.word(1), d6);
                d7 = ctx.mmaBf16(aHigh, b67.word(2), b67.word(3), d7);
                if (large) {
                    Vec16 aHigh2 = ctx.loadMatrix(xh, a + 16 * T_WORDS);
                    e0 = ctx.mmaBf16(aHigh2, b01.word(0), b01.word(1), e0);
                    e1 = ctx.mmaBf16(aHigh2, b01.word(2), b01.word(3), e1);
                    e2 = ctx.mmaBf16(aHigh2, b23.word(0), b23.word(1), e2);
                    e3 = ctx.mmaBf16(aHigh2, b23.word(2), b23.word(3), e3);
                    e4 = ctx.mmaBf16(aHigh2, b45.word(0), b45.word(1), e4);
                    e5 = ctx.mmaBf16(aHigh2, b45.word(2), b45.word(3), e5);
                    e6 = ctx.mmaBf16(aHigh2, b67.word(0), b67.word(1), e6);
                    e7 = ctx.mmaBf16(aHigh2, b67.word(2), b67.word(3), e7);
                }
                if (split) { // the activations' second parts against the same weights
                    Vec16 aLow = ctx.loadMatrix(xl, a);
                    d0 = ctx.mmaBf16(aLow, b01.word(0), b01.word(1), d0);
                    d1 = ctx.mmaBf16(aLow, b01.word(2), b01.word(3), d1);
                    d2 = ctx.mmaBf16(aLow, b23.word(0), b23.word(1), d2);
                    d3 = ctx.mmaBf16(aLow, b23.word(2), b23.word(3), d3);
                    d4 = ctx.mmaBf16(aLow, b45.word(0), b45.word(1), d4);
                    d5 = ctx.mmaBf16(aLow, b45.word(2), b45.word(3), d5);
                    d6 = ctx.mmaBf16(aLow, b67.word(0), b67.word(1), d6);
                    d7 = ctx.mmaBf16(aLow, b67.word(2), b67.word(3), d7);
                    if (large) {
                        Vec16 aLow2 = ctx.loadMatrix(xl, a + 16 * T_WORDS);
                        e0 = ctx.mmaBf16(aLow2, b01.word(0), b01.word(1), e0);
                        e1 = ctx.mmaBf16(aLow2, b01.word(2), b01.word(3), e1);
                        e2 = ctx.mmaBf16(aLow2, b23.word(0), b23.word(1), e2);
                        e3 = ctx.mmaBf16(aLow2, b23.word(2), b23.word(3), e3);
                        e4 = ctx.mmaBf16(aLow2, b45.word(0), b45.word(1), e4);
                        e5 = ctx.mmaBf16(aLow2, b45.word(2), b45.word(3), e5);
                        e6 = ctx.mmaBf16(aLow2, b67.word(0), b67.word(1), e6);
                        e7 = ctx.mmaBf16(aLow2, b67.word(2), b67.word(3), e7);
                    }
                }
            }
            ctx.waitCopies(0); // this work-item's copies of the next step are in (each waits for its own)
            ctx.barrier(); // and every warp is done with this step's x parts before they are overwritten
            if (next) splitActivations(raw, xh, xl, xRow, xCol, group, split);
            current = buffer - current;
        }
        int token = tokenBase + warpTokens + g, row = rowBase + warpRows + 2 * q;
        storeTile(out, bias, token, row, tokens, rows, base, d0, epilogue);
        storeTile(out, bias, token, row + 8, tokens, rows, base, d1, epilogue);
        storeTile(out, bias, token, row + 16, tokens, rows, base, d2, epilogue);
        storeTile(out, bias, token, row + 24, tokens, rows, base, d3, epilogue);
        storeTile(out, bias, token, row + 32, tokens, rows, base, d4, epilogue);
        storeTile(out, bias, token, row + 40, tokens, rows, base, d5, epilogue);
        storeTile(out, bias, token, row + 48, tokens, rows, base, d6, epilogue);
        storeTile(out, bias, token, row + 56, tokens, rows, base, d7, epilogue);
        if (large) {
            storeTile(out, bias, token + 16, row, tokens, rows, base, e0, epilogue);
            storeTile(out, bias, token + 16, row + 8, tokens, rows, base, e1, epilogue);
            storeTile(out, bias, token + 16, row + 16, tokens, rows, base, e2, epilogue);
            storeTile(out, bias, token + 16, row + 24, tokens, rows, base, e3, epilogue);
            storeTile(out, bias, token + 16, row + 32, tokens, rows, base, e4, epilogue);
            storeTile(out, bias, token + 16, row + 40, tokens, rows, base, e5, epilogue);
            storeTile(out, bias, token + 16, row + 48, tokens, rows, base, e6, epilogue);
            storeTile(out, bias, token + 16, row + 56, tokens, rows, base, e7, epilogue);
        }
    }

    /**
     * One tile step's activations, {@code tile} tokens × 32 columns from column {@code k0}, as F32 into {@code raw}
     * (32 words a token): this work-item's four groups of four, token rows {@code xRow + group/8·i} from column
     * {@code xCol} of the step, each an asynchronous 16-byte copy with no branch around it: zeros past the columns (a
     * copy that reads nothing), the last token's activations for a token past the last (a token's activations reach
     * only its own outputs, which are then never stored). So the next step's activations travel while this step
     * multiplies, as its weights do; {@link #splitActivations} then turns the work-item's own groups into the BF16
     * parts the tensor cores read.
     */
    private static void stageActivations(KernelContext ctx, F32Buffer x, int[] raw, int xRow, int xCol, int group, int tokenBase, int k0,
                                         int tokens, int cols) {
        int gk = k0 + xCol;
        boolean inside = gk < cols; // all four columns or none (cols % 8 == 0)
        KernelContext.unroll(4);
        for (int i = 0; i < 4; i++) {
            int r = xRow + group / 8 * i;
            ctx.copyAsync(raw, r * STEP + xCol, x, (long) Math.min(tokenBase + r, tokens - 1) * cols + (inside ? gk : 0), inside);
        }
    }

    /**
     * The activations this work-item staged in {@code raw} ({@link #stageActivations}: rows {@code xRow + group/8·i},
     * four from column {@code xCol}), each pair packed as BF16 into its token's row of {@code xh} ({@link #T_WORDS}
     * words a row) and, when {@code split}, the BF16 rounding of what that left into {@code xl}: the two parts of
     * every activation.
     */
    private static void splitActivations(int[] raw, int[] xh, int[] xl, int xRow, int xCol, int group, boolean split) {
        KernelContext.unroll(4);
        for (int i = 0; i < 4; i++) {
            int r = xRow + group / 8 * i, word = r * T_WORDS + xCol / 2;
            Vec16 v = KernelContext.load4(raw, r * STEP + xCol);
            float a0 = v.f32(0), a1 = v.f32(1), a2 = v.f32(2), a3 = v.f32(3);
            int h01 = KernelContext.packBf16(a0, a1), h23 = KernelContext.packBf16(a2, a3);
            xh[word] = h01;
            xh[word + 1] = h23;
            if (split) {
                xl[word] = remainder(a0, a1, h01);
                xl[word + 1] = remainder(a2, a3, h23);
            }
        }
    }

    /**
     * One tile step's weights, {@code group / 2} rows (64, or 128 for a large tile) × 32 columns from column {@code k0},
     * into the words of {@code ws} from {@code base}: this work-item's two groups of eight, rows {@code wRow + group/4·i}
     * from column {@code wCol} of the step, as {@link #stageActivations} stages its groups: asynchronous 16-byte copies
     * ({@link KernelContext#copyAsync}), zeros past the columns, the last row standing in for rows past it.
     */
    private static void stageWeights(KernelContext ctx, Half16Buffer w, int[] ws, int base, int wRow, int wCol, int group, int rowBase, int k0,
                                     int rows, int cols) {
        int gk = k0 + wCol;
        boolean inside = gk < cols; // all eight columns or none
        KernelContext.unroll(2);
        for (int i = 0; i < 2; i++) {
            int r = wRow + group / 4 * i;
            ctx.copyAsync(ws, base + r * T_WORDS + wCol / 2, w, (long) Math.min(rowBase + r, rows - 1) * cols + (inside ? gk : 0), inside);
        }
    }

    /** The launch of {@link #bf16Tensor} over a {@code tokens × rows} output: one group per 64 × 64 tile. */
    public static Grid tensorGrid(int tokens, int rows) {
        return Grid.of((rows + TILE - 1) / TILE, (tokens + TILE - 1) / TILE, TENSOR_GROUP);
    }

    /** A lane's four results of a 16×8 product: [token][row, row+1] and [token+8][row, row+1]. */
    static void storeTile(F32Buffer out, F32Buffer bias, int token, int row, int tokens, int rows, long base, Vec16 d, int epilogue) {
        store(out, bias, token, row, tokens, rows, base, d.f32(0), epilogue);
        store(out, bias, token, row + 1, tokens, rows, base, d.f32(1), epilogue);
        store(out, bias, token + 8, row, tokens, rows, base, d.f32(2), epilogue);
        store(out, bias, token + 8, row + 1, tokens, rows, base, d.f32(3), epilogue);
    }

    /**
     * What BF16 rounding left of two activations ({@code high}: their packed BF16 parts), rounded to BF16 in turn, as
     * one fragment word: the second of the two parts each activation is split into.
     */
    static int remainder(float x0, float x1, int high) {
        return KernelContext.packBf16(x0 - Float.intBitsToFloat(high << 16), x1 - Float.intBitsToFloat(high & 0xFFFF0000));
    }

    /** Eight weights of row {@code gr} from column {@code gk} (one 16-byte load), widened into shared row {@code r} at {@code k}; zeros past the rows. */
    private static void stageWeights8(Half16Buffer w, float[] ws, int gr, int r, int gk, int k, int rows, int cols, int ieee) {
        int at = r * W_STRIDE + k;
        if (gr < rows && gk < cols) {
            Vec16 v = w.load8((long) gr * cols + gk);
            ws[at] = NormedMatVecKernels.widen(v.word(0), 0, ieee);
            ws[at + 1] = NormedMatVecKernels.widen(v.word(0), 1, ieee);
            ws[at + 2] = NormedMatVecKernels.widen(v.word(1), 0, ieee);
            ws[at + 3] = NormedMatVecKernels.widen(v.word(1), 1, ieee);
            ws[at + 4] = NormedMatVecKernels.widen(v.word(2), 0, ieee);
            ws[at + 5] = NormedMatVecKernels.widen(v.word(2), 1, ieee);
            ws[at + 6] = NormedMatVecKernels.widen(v.word(3), 0, ieee);
            ws[at + 7] = NormedMatVecKernels.widen(v.word(3), 1, ieee);
        } else {
            for (int i = 0; i < 8; i++) ws[at + i] = 0f;
        }
    }

    /** As the 16-bit {@code stageWeights8} for F32 weights: two 16-byte loads ({@link #stage4}). */
    private static void stageWeights8(F32Buffer w, float[] ws, int gr, int r, int gk, int k, int rows, int cols) {
        long from = (long) gr * cols + gk;
        boolean inside = gr < rows && gk < cols; // all eight when the first is: rows are whole 8-column blocks here
        stage4(w, from, inside, ws, r * W_STRIDE + k);
        stage4(w, from + 4, inside, ws, r * W_STRIDE + k + 4);
    }

    /** Four activations of token {@code gt} from column {@code gk} (one 16-byte load) into shared row {@code r} at {@code k}; zeros past the tokens. */
    private static void stageTokens4(F32Buffer x, float[] xs, int gt, int r, int gk, int k, int tokens, int cols) {
        stage4(x, (long) gt * cols + gk, gt < tokens && gk < cols, xs, r * STEP + k);
    }

    /** Four floats of {@code source} from {@code from} (one 16-byte load) into {@code shared[at..at+3]}, or zeros when not {@code inside}. */
    private static void stage4(F32Buffer source, long from, boolean inside, float[] shared, int at) {
        if (inside) {
            Vec16 v = source.load4(from);
            shared[at] = v.f32(0);
            shared[at + 1] = v.f32(1);
            shared[at + 2] = v.f32(2);
            shared[at + 3] = v.f32(3);
        } else {
            for (int i = 0; i < 4; i++) shared[at + i] = 0f;
        }
    }

    /** {@code out[base + token·rows + row]} through the epilogue, when the element exists. */
    private static void store(F32Buffer out, F32Buffer bias, int token, int row, int tokens, int rows, long base, float sum, int epilogue) {
        if (token >= tokens || row >= rows) return;
        long at = base + (long) token * rows + row;
        float value = sum;
        if ((epilogue & MatVecKernels.BIAS) != 0) value += bias.get(row);
        if ((epilogue & MatVecKernels.ACCUMULATE) != 0) value += out.get(at);
        out.set(at, value);
    }
}
