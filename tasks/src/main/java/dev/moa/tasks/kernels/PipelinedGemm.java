package dev.moa.tasks.kernels;

import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.LaunchBounds;
import dev.moa.tasks.kernel.Specialize;
import dev.moa.tasks.kernel.Vec16;

/**
 * The GEMMs of a prompt (and of a batched decode step) on the tensor cores when the kernel before wrote the
 * activations as BF16 parts
 * ({@link #splitRows}, or a producer's own parts output): {@code out[t, r] (+)= Σ_c x[t, c] · w[r, c] (+ bias[r])}
 * with {@code x = xh (+ xl)} — {@code parts} 2: each activation as its BF16 rounding and the BF16 rounding of what
 * that left ({@link GemmKernels#bf16Tensor}'s split, and its bits), 1: rounded once (a bf16 × bf16 matmul's
 * arithmetic, {@link GemmKernels#bf16TensorRounded}'s bits) — and BF16 weights.
 *
 * <p>Why a second kernel: {@link GemmKernels#bf16Tensor} stages F32 activations and splits them in shared memory
 * between two barriers a step, with two buffers; here both operands are already what the tensor cores read, so a
 * step's staging is four to six asynchronous 16-byte copies per work-item into a ring of {@value #STAGES} stages
 * (the copies of step k + 2 fly while step k multiplies) and one barrier: the loop is copies, {@code ldmatrix} and
 * {@code mma} — the structure of CUTLASS's multistage sm_80 GEMMs. Counted on sm_90 (docs/benchmarks.md): about a
 * third of the F32-staging kernel's instructions per {@code mma}.
 *
 * <p>Every element sums its columns in the order {@link GemmKernels}' tensor kernels do (steps in order; per 16
 * columns the first part, then the second), so the results are their bits.
 */
public final class PipelinedGemm {
    /** Columns of x and w one stage holds. */
    public static final int STEP = 32;
    /** Stages in the ring: copies run two steps ahead of the products. */
    public static final int STAGES = 3;
    /**
     * Words of one staged row (a token's parts, a weight row): STEP / 2 words of BF16 pairs plus 4 of padding, so
     * each ldmatrix's eight 16-byte rows (20 words apart) fall in 32 different banks ({@link GemmKernels}' layout).
     */
    private static final int ROW_WORDS = STEP / 2 + 4;
    /** Tokens and rows of {@link #tile}'s output tile; its group is four warps, each 16 tokens × 64 rows. */
    public static final int TILE = 64;
    public static final int GROUP = 128;
    /** Tokens and rows of {@link #large}'s output tile; its group is eight warps, each 32 tokens × 64 rows. */
    public static final int LARGE_TILE = 128;
    public static final int LARGE_GROUP = 256;

    private PipelinedGemm() {
    }

    /** Whether these kernels take rows of {@code cols} BF16 values: whole 16-byte pieces ({@link GemmKernels#tensorTakes}). */
    public static boolean takes(int cols) {
        return GemmKernels.tensorTakes(cols);
    }

    /**
     * The product over 64 × 64 tiles: tile (i, j) — rows {@code 64i…} of tokens {@code 64j…}, its group placed by
     * {@code rastered} — warp v tokens {@code 16v…16v+15} of them against all 64 rows (eight m16n8k16 products per 16
     * columns and part). {@code xl} is read only when {@code parts} is 2 (pass {@code xh} otherwise). Launch
     * {@link #grid}; needs sm_80 or later.
     */
    @LaunchBounds(groupSize = GROUP, groupsPerSm = 4)
    public static void tile(KernelContext ctx, Half16Buffer w, Half16Buffer xh, Half16Buffer xl, F32Buffer bias, F32Buffer out, int tokens, int rows,
                            @Specialize int cols, @Specialize int parts, @Specialize int epilogue) {
        ctx.awaitPriorKernels();
        int[] ring = ctx.sharedDynamicI32(STAGES * stageWords(TILE, parts));
        pipelinedTile(ctx, ring, w, xh, xl, bias, out, null, null, false, tokens, rows, cols, 0, cols, 0L, parts, epilogue, false, GROUP, TILE);
    }

    /**
     * As {@link #tile} over 128 × 128 tiles: warp v multiplies tokens {@code 32(v % 4)…} by rows {@code 64(v / 4)…},
     * so every B fragment it loads feeds two A fragments and each staged weight serves 128 tokens. For long prompts
     * ({@link GemmKernels#large} says when). Launch {@link #largeGrid}.
     */
    @LaunchBounds(groupSize = LARGE_GROUP, groupsPerSm = 2)
    public static void large(KernelContext ctx, Half16Buffer w, Half16Buffer xh, Half16Buffer xl, F32Buffer bias, F32Buffer out, int tokens, int rows,
                             @Specialize int cols, @Specialize int parts, @Specialize int epilogue) {
        ctx.awaitPriorKernels();
        int[] ring = ctx.sharedDynamicI32(STAGES * stageWords(LARGE_TILE, parts));
        pipelinedTile(ctx, ring, w, xh, xl, bias, out, null, null, false, tokens, rows, cols, 0, cols, 0L, parts, epilogue, true, LARGE_GROUP, LARGE_TILE);
    }

    /**
     * As {@link #tile} over columns {@code s·splitCols…} (whole steps) for group (i, j, s): raw sums into
     * {@code partial[s][token][row]}, which {@link GemmKernels#sumSplits} adds in split order with the epilogue — for
     * products of few tokens (a batched decode step's sessions), whose tiles alone are too few groups to keep the
     * GPU's memory busy; {@link GemmKernels#bf16TensorSplit}'s bits. Launch {@link #splitGrid}.
     */
    @LaunchBounds(groupSize = GROUP, groupsPerSm = 4)
    public static void split(KernelContext ctx, Half16Buffer w, Half16Buffer xh, Half16Buffer xl, F32Buffer partial, int tokens, int rows,
                             @Specialize int cols, int splitCols, @Specialize int parts) {
        ctx.awaitPriorKernels();
        int[] ring = ctx.sharedDynamicI32(STAGES * stageWords(TILE, parts));
        int s = ctx.groupId(2), from = s * splitCols;
        pipelinedTile(ctx, ring, w, xh, xl, partial, partial, null, null, false, tokens, rows, cols, from, Math.min(cols, from + splitCols),
                (long) s * tokens * rows, parts, 0, false, GROUP, TILE);
    }

    /**
     * As {@link #tile} over a gate/up matrix ({@code rows} = 2n: the n gate rows, then the n up rows, as the model
     * stacks them) with SwiGLU as its epilogue: {@code act[t, f] = silu(gate_f · x_t) · (up_f · x_t)}, written as
     * {@code parts} BF16 parts ({@link #writeParts}) into {@code oh}, {@code ol} (rows of n): the activations the down
     * product reads, with no float gate/up output and no SwiGLU launch between. Each tile stages its rows as gate and
     * up blocks of eight features in turn ({@link #weightRow}), so every warp holds a feature's gate and up sums in
     * the same lane. The bits of the product, then {@link VectorKernels#swiGluParts}. Launch {@link #grid}.
     */
    @LaunchBounds(groupSize = GROUP, groupsPerSm = 4)
    public static void tileGlu(KernelContext ctx, Half16Buffer w, Half16Buffer xh, Half16Buffer xl, Half16Buffer oh, Half16Buffer ol, int tokens,
                               int rows, @Specialize int cols, @Specialize int parts) {
        ctx.awaitPriorKernels();
        int[] ring = ctx.sharedDynamicI32(STAGES * stageWords(TILE, parts));
        pipelinedTile(ctx, ring, w, xh, xl, null, null, oh, ol, true, tokens, rows, cols, 0, cols, 0L, parts, 0, false, GROUP, TILE);
    }

    /** {@link #tileGlu} over {@link #large}'s tiles. Launch {@link #largeGrid}. */
    @LaunchBounds(groupSize = LARGE_GROUP, groupsPerSm = 2)
    public static void largeGlu(KernelContext ctx, Half16Buffer w, Half16Buffer xh, Half16Buffer xl, Half16Buffer oh, Half16Buffer ol, int tokens,
                                int rows, @Specialize int cols, @Specialize int parts) {
        ctx.awaitPriorKernels();
        int[] ring = ctx.sharedDynamicI32(STAGES * stageWords(LARGE_TILE, parts));
        pipelinedTile(ctx, ring, w, xh, xl, null, null, oh, ol, true, tokens, rows, cols, 0, cols, 0L, parts, 0, true, LARGE_GROUP, LARGE_TILE);
    }

    /** {@link #tileGlu} over {@link #wide}'s tiles. Launch {@link #wideGrid}. */
    @LaunchBounds(groupSize = WIDE_GROUP, groupsPerSm = 2)
    public static void wideGlu(KernelContext ctx, Half16Buffer w, Half16Buffer xh, Half16Buffer xl, Half16Buffer oh, Half16Buffer ol, int tokens,
                               int rows, @Specialize int cols, @Specialize int parts) {
        ctx.awaitPriorKernels();
        int[] ring = ctx.sharedDynamicI32(STAGES * stageWords(LARGE_TILE, parts));
        wideTile(ctx, ring, w, xh, xl, null, null, oh, ol, true, tokens, rows, cols, parts, 0);
    }

    /**
     * The matrix row staged as row {@code r} of the tile whose first staged row is {@code rowBase}: row
     * {@code rowBase + r} (clamped to the last), or for a gate/up matrix ({@code glu}; {@code rows} = 2n) blocks of
     * eight gate rows and eight up rows in turn — staged rows 16i…16i+7 gate features {@code rowBase/2 + 8i…}, the
     * next eight the same features' up rows (features clamped to the last; their outputs are never stored) — so the
     * accumulators of row blocks 2i and 2i + 1 are one feature's gate and up.
     */
    static long weightRow(int rowBase, int r, int rows, boolean glu) {
        if (!glu) return Math.min(rowBase + r, rows - 1);
        int n = rows / 2, feature = Math.min(rowBase / 2 + 8 * (r / 16) + r % 8, n - 1);
        return feature + (long) (r / 8 % 2) * n;
    }

    /** The launch of {@link #split}: {@link #grid}'s tiles, once per split. */
    public static Grid splitGrid(int tokens, int rows, int splits, int parts) {
        return new Grid((rows + TILE - 1) / TILE, (tokens + TILE - 1) / TILE, splits, GROUP).withSharedBytes(4 * STAGES * stageWords(TILE, parts));
    }

    /** Work-items of {@link #wide}'s group: four warps, each 64 tokens × 64 rows of its 128 × 128 tile. */
    public static final int WIDE_GROUP = 128;

    /**
     * As {@link #large}, each warp multiplying 64 tokens by 64 rows (four A fragments against each B fragment, 32
     * products per 16 columns and part for eight {@code ldmatrix}, where {@link #large}'s 32 × 64 warps do 16 for six):
     * with one part a third fewer shared-memory bytes read per product — 128 instead of 192, plus the 64 every tile's
     * staging writes — which on Hopper, where {@code mma.sync} can ask for about 160 bytes a cycle of the SM's 128 at
     * {@link #large}'s ratio, is what may bound a bf16 × bf16 product (with two parts 96 against 128). 128
     * accumulators a work-item, so four warps a group and two groups an SM. Same bits as {@link #large}. Launch
     * {@link #wideGrid}.
     */
    @LaunchBounds(groupSize = WIDE_GROUP, groupsPerSm = 2)
    public static void wide(KernelContext ctx, Half16Buffer w, Half16Buffer xh, Half16Buffer xl, F32Buffer bias, F32Buffer out, int tokens, int rows,
                            @Specialize int cols, @Specialize int parts, @Specialize int epilogue) {
        ctx.awaitPriorKernels();
        int[] ring = ctx.sharedDynamicI32(STAGES * stageWords(LARGE_TILE, parts));
        wideTile(ctx, ring, w, xh, xl, bias, out, null, null, false, tokens, rows, cols, parts, epilogue);
    }

    /** The launch of {@link #wide} over a {@code tokens × rows} output, with its ring of stages. */
    public static Grid wideGrid(int tokens, int rows, int parts) {
        return wideGrid(tokens, rows, parts, TOKEN_WALK);
    }

    /** {@link #wideGrid} walking {@code walk} token tiles per row tile (1: plain order). */
    public static Grid wideGrid(int tokens, int rows, int parts, int walk) {
        return rastered(tokens, rows, LARGE_TILE, walk, WIDE_GROUP).withSharedBytes(sharedBytes(parts));
    }

    /**
     * Token tiles the launches of {@link #grid}, {@link #largeGrid} and {@link #wideGrid} walk together: groups start in
     * launch order, which takes {@value} token tiles of one weight row tile, then of the next, …, so the groups resident
     * at once (two to four an SM) share each weight tile {@value}-fold and each token tile some 30-fold while they read
     * them (Triton's grouped ordering, CUTLASS's threadblock swizzle). In plain order (1) they took every row tile of one
     * token tile, then the next: a product whose weights outgrow the L2 (the 1B's gate/up, 64 MB against 50) read them
     * from memory about once per two token tiles — 16 times at 4096 tokens, where walking eight reads them about four.
     */
    public static final int TOKEN_WALK = 8;

    /**
     * A launch over a {@code tokens × rows} output in {@code tile × tile} tiles, walking {@code walk} token tiles per
     * row tile: {@code groupId(0) = rowTile · w + k}, {@code groupId(1) = j} for token tile {@code j·w + k}, w the walk
     * (at most the token tiles); the kernels read w back from the launch's width.
     */
    static Grid rastered(int tokens, int rows, int tile, int walk, int groupSize) {
        int rowTiles = (rows + tile - 1) / tile, tokenTiles = (tokens + tile - 1) / tile, w = Math.max(1, Math.min(walk, tokenTiles));
        return Grid.of(rowTiles * w, (tokenTiles + w - 1) / w, groupSize);
    }

    /** Words of one stage: a tile's weight rows, then its tokens' first parts (and second parts when {@code parts} is 2). */
    static int stageWords(int tile, int parts) {
        return (1 + parts) * tile * ROW_WORDS;
    }

    /**
     * Bytes of shared memory (the ring) a group of {@link #large} needs, the larger entry: 92,160 with two parts
     * (two groups fit an H100's SM), 61,440 with one; {@link #tile} needs half.
     */
    public static int sharedBytes(int parts) {
        return 4 * STAGES * stageWords(LARGE_TILE, parts);
    }

    /** The launch of {@link #tile} over a {@code tokens × rows} output, with its ring of stages. */
    public static Grid grid(int tokens, int rows, int parts) {
        return grid(tokens, rows, parts, TOKEN_WALK);
    }

    /** {@link #grid} walking {@code walk} token tiles per row tile ({@link #TOKEN_WALK}; 1: plain order, for the benchmark's comparison). */
    public static Grid grid(int tokens, int rows, int parts, int walk) {
        return rastered(tokens, rows, TILE, walk, GROUP).withSharedBytes(4 * STAGES * stageWords(TILE, parts));
    }

    /** The launch of {@link #large} over a {@code tokens × rows} output, with its ring of stages. */
    public static Grid largeGrid(int tokens, int rows, int parts) {
        return largeGrid(tokens, rows, parts, TOKEN_WALK);
    }

    /** {@link #largeGrid} walking {@code walk} token tiles per row tile (1: plain order). */
    public static Grid largeGrid(int tokens, int rows, int parts, int walk) {
        return rastered(tokens, rows, LARGE_TILE, walk, LARGE_GROUP).withSharedBytes(sharedBytes(parts));
    }

    /**
     * {@code x}'s rows as BF16 parts ({@code n} values a row, {@code rows} rows): {@code xh} the rounding of each
     * value, and when {@code parts} is 2 {@code xl} the rounding of what that left — the activations {@link #tile}
     * reads, for a producer that writes F32. Each work-item one value; launch {@code Grid.of(ceil(n / 256), rows, 256)}.
     */
    public static void splitRows(KernelContext ctx, F32Buffer x, Half16Buffer xh, Half16Buffer xl, int n, @Specialize int parts) {
        ctx.awaitPriorKernels();
        int i = ctx.globalId();
        if (i >= n) return;
        long at = (long) ctx.groupId(1) * n + i;
        writeParts(xh, xl, at, x.get(at), parts);
    }

    /** {@code value} at {@code at} as a float into {@code out} ({@code parts} 0) or as that many BF16 parts ({@link #writeParts}). */
    public static void write(F32Buffer out, Half16Buffer high, Half16Buffer low, int parts, long at, float value) {
        if (parts == 0) out.set(at, value);
        else writeParts(high, low, at, value, parts);
    }

    /**
     * Writes {@code value} at {@code at} as its BF16 parts: the rounding to nearest in {@code xh} and, when
     * {@code parts} is 2, the rounding of the remainder in {@code xl} — {@link GemmKernels#remainder}'s rule, one
     * value at a time, so producers that write parts give the staging kernels' bits.
     */
    public static void writeParts(Half16Buffer xh, Half16Buffer xl, long at, float value, int parts) {
        short high = KernelContext.floatToBf16(value);
        xh.set(at, high);
        if (parts == 2) xl.set(at, KernelContext.floatToBf16(value - KernelContext.bf16ToFloat(high)));
    }

    /**
     * The tile, {@code large} and {@code group}/{@code tile} constants of each entry. Each work-item stages, per
     * step, 16 bytes (8 columns, from column {@code 8·(t / 8 % 4)}) of two weight rows and of two tokens' rows per
     * part, rows {@link #firstRow}{@code (t)} and {@code group / 4} after it: {@code tile · 4} pieces per matrix, two
     * per work-item. Rows past the last token or weight row copy the last one (its outputs are never stored), columns
     * past {@code cols} are zeros (a copy that reads nothing). The ring: step k is staged in stage {@code k % STAGES},
     * issued at step {@code k - 2}; at step k a work-item waits for its own copies of step k, the barrier then says
     * everyone's are in and everyone is done with step k - 1, whose stage the copies of step k + 2 then fill.
     */
    private static void pipelinedTile(KernelContext ctx, int[] ring, Half16Buffer w, Half16Buffer xh, Half16Buffer xl, F32Buffer bias, F32Buffer out,
                                      Half16Buffer oh, Half16Buffer ol, boolean glu, int tokens, int rows, int cols, int from, int to, long base,
                                      int parts, int epilogue, boolean large, int group, int tile) {
        int t = ctx.localId(), lane = ctx.laneId(), warp = t / KernelContext.WARP, g = lane / 4, q = lane % 4;
        int rowTiles = (rows + tile - 1) / tile, walk = ctx.groups(0) / rowTiles; // token tiles walked together (rastered)
        int rowBase = ctx.groupId(0) / walk * tile, tokenBase = (ctx.groupId(1) * walk + ctx.groupId(0) % walk) * tile;
        if (tokenBase >= tokens) return; // the last walk's tiles past the product's tokens (the whole group)
        int warpTokens = large ? 32 * (warp % 4) : 16 * warp, warpRows = large ? 64 * (warp / 4) : 0; // this warp's corner of the tile
        // the 16-byte row each lane names to ldmatrix, as in GemmKernels.tensorTile: for A, row lane % 8 (+ 8 for
        // matrices 1 and 3) of the warp's 16 tokens, columns 8 on for matrices 2 and 3; for B, rows lane % 8 (+ 8 for
        // matrices 2 and 3) of a 16-row pair of blocks, columns 8 on for matrices 1 and 3
        int matrixWords = tile * ROW_WORDS, stage = (1 + parts) * matrixWords;
        int a = matrixWords + (warpTokens + lane % 8 + 8 * (lane / 8 % 2)) * ROW_WORDS + 4 * (lane / 16);
        int b = (warpRows + lane % 8 + 8 * (lane / 16)) * ROW_WORDS + 4 * (lane / 8 % 2);
        // this work-item's pieces: where each starts in its matrix (at the next step to stage: advanced a step at a
        // time, as nvcc steps a pointer, rather than recomputed from the step's column — or one stepped column added to
        // the four rows' starts, which ptxas made 104 SASS a k-step against these 96) and in a stage (firstRow)
        int column = 8 * (t / 8 % 4), r0 = firstRow(t), r1 = r0 + group / 4, next = from + column;
        long w0 = weightRow(rowBase, r0, rows, glu) * cols + next, w1 = weightRow(rowBase, r1, rows, glu) * cols + next;
        long x0 = (long) Math.min(tokenBase + r0, tokens - 1) * cols + next, x1 = (long) Math.min(tokenBase + r1, tokens - 1) * cols + next;
        int s0 = r0 * ROW_WORDS + column / 2, s1 = r1 * ROW_WORDS + column / 2;
        int steps = (to - from + STEP - 1) / STEP; // (whole steps from `from`: a split's columns)
        for (int k = 0; k < STAGES - 1; k++) {
            if (k < steps) stage(ctx, ring, k * stage, matrixWords, w, xh, xl, w0, w1, x0, x1, s0, s1, next, cols, parts);
            ctx.commitCopies(); // a group per step, empty or not, so that the waits below count steps
            w0 += STEP;
            w1 += STEP;
            x0 += STEP;
            x1 += STEP;
            next += STEP;
        }
        Vec16 d0 = Vec16.ofFloats(0f, 0f, 0f, 0f), d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0, d6 = d0, d7 = d0; // rows 8j..8j+7
        Vec16 e0 = d0, e1 = d0, e2 = d0, e3 = d0, e4 = d0, e5 = d0, e6 = d0, e7 = d0; // a large tile's second 16 tokens
        int read = 0, write = (STAGES - 1) * stage; // the stages of step k and of step k + STAGES - 1
        for (int k = 0; k < steps; k++) {
            ctx.waitCopies(STAGES - 2); // this work-item's copies of step k are in
            ctx.barrier(); // everyone's are, and everyone is done reading step k - 1's stage
            if (k + STAGES - 1 < steps) {
                stage(ctx, ring, write, matrixWords, w, xh, xl, w0, w1, x0, x1, s0, s1, next, cols, parts);
                w0 += STEP;
                w1 += STEP;
                x0 += STEP;
                x1 += STEP;
                next += STEP;
            }
            ctx.commitCopies();
            KernelContext.unroll(2);
            for (int kk = 0; kk < STEP; kk += 16) {
                int ak = read + a + kk / 2, bk = read + b + kk / 2;
                Vec16 b01 = ctx.loadMatrix(ring, bk), b23 = ctx.loadMatrix(ring, bk + 16 * ROW_WORDS), b45 = ctx.loadMatrix(ring, bk + 32 * ROW_WORDS),
                        b67 = ctx.loadMatrix(ring, bk + 48 * ROW_WORDS);
                KernelContext.unroll(2);
                for (int part = 0; part < parts; part++) { // per 16 columns the first parts' products, then the second's
                    Vec16 a0 = ctx.loadMatrix(ring, ak + part * matrixWords);
                    d0 = ctx.mmaBf16(a0, b01.word(0), b01.word(1), d0);
                    d1 = ctx.mmaBf16(a0, b01.word(2), b01.word(3), d1);
                    d2 = ctx.mmaBf16(a0, b23.word(0), b23.word(1), d2);
                    d3 = ctx.mmaBf16(a0, b23.word(2), b23.word(3), d3);
                    d4 = ctx.mmaBf16(a0, b45.word(0), b45.word(1), d4);
                    d5 = ctx.mmaBf16(a0, b45.word(2), b45.word(3), d5);
                    d6 = ctx.mmaBf16(a0, b67.word(0), b67.word(1), d6);
                    d7 = ctx.mmaBf16(a0, b67.word(2), b67.word(3), d7);
                    if (large) {
                        Vec16 a1 = ctx.loadMatrix(ring, ak + part * matrixWords + 16 * ROW_WORDS);
                        e0 = ctx.mmaBf16(a1, b01.word(0), b01.word(1), e0);
                        e1 = ctx.mmaBf16(a1, b01.word(2), b01.word(3), e1);
                        e2 = ctx.mmaBf16(a1, b23.word(0), b23.word(1), e2);
                        e3 = ctx.mmaBf16(a1, b23.word(2), b23.word(3), e3);
                        e4 = ctx.mmaBf16(a1, b45.word(0), b45.word(1), e4);
                        e5 = ctx.mmaBf16(a1, b45.word(2), b45.word(3), e5);
                        e6 = ctx.mmaBf16(a1, b67.word(0), b67.word(1), e6);
                        e7 = ctx.mmaBf16(a1, b67.word(2), b67.word(3), e7);
                    }
                }
            }
            write = read;
            read = read + stage == STAGES * stage ? 0 : read + stage;
        }
        int token = tokenBase + warpTokens + g, row = rowBase + warpRows + 2 * q;
        if (glu) { // this lane's features: its columns 2q, 2q + 1 of the blocks' features, (rowBase + warpRows) / 2 on
            int feature = (rowBase + warpRows) / 2 + 2 * q;
            storeGlu(oh, ol, token, feature, tokens, rows / 2, parts, d0, d1, d2, d3, d4, d5, d6, d7);
            if (large) storeGlu(oh, ol, token + 16, feature, tokens, rows / 2, parts, e0, e1, e2, e3, e4, e5, e6, e7);
        } else {
            storeRows(out, bias, token, row, tokens, rows, base, epilogue, d0, d1, d2, d3, d4, d5, d6, d7);
            if (large) storeRows(out, bias, token + 16, row, tokens, rows, base, epilogue, e0, e1, e2, e3, e4, e5, e6, e7);
        }
    }

    /**
     * The first of the tile's rows work-item {@code t} stages (16 bytes of each step's 64, from column
     * {@code 8·(t / 8 % 4)}; its others are {@code group / 4} apart): eight consecutive lanes take eight consecutive
     * rows at one column, so each quarter-warp's 16-byte writes into shared memory (a phase of 128 bytes) land in 32
     * different banks, rows being {@value #ROW_WORDS} words apart as {@code ldmatrix} wants them. (Four lanes a row,
     * the obvious order, puts two rows' 64 bytes in each phase, 16 + 4 banks apart: every copy conflicted two ways,
     * {@code SharedBankConflictTest}.) A warp still reads eight rows' 64 bytes from global memory.
     */
    static int firstRow(int t) {
        return t % 8 + 8 * (t / KernelContext.WARP);
    }

    /**
     * {@link #wide}'s tile: {@link #pipelinedTile}'s ring, staged by each work-item in four rows of each matrix
     * ({@link #firstRow}{@code (t) + 32i}), warp v multiplying tokens {@code 64(v % 2)…} by rows {@code 64(v / 2)…}:
     * per 16 columns and part four A fragments (16 tokens each) against four pairs of B blocks, 32 products into the
     * accumulators {@code c[m][j]} (tokens 16m…, rows 8j…: d, e, f, h for m = 0…3).
     */
    private static void wideTile(KernelContext ctx, int[] ring, Half16Buffer w, Half16Buffer xh, Half16Buffer xl, F32Buffer bias, F32Buffer out,
                                 Half16Buffer oh, Half16Buffer ol, boolean glu, int tokens, int rows, int cols, int parts, int epilogue) {
        int t = ctx.localId(), lane = ctx.laneId(), warp = t / KernelContext.WARP, g = lane / 4, q = lane % 4;
        int rowTiles = (rows + LARGE_TILE - 1) / LARGE_TILE, walk = ctx.groups(0) / rowTiles; // as in pipelinedTile
        int rowBase = ctx.groupId(0) / walk * LARGE_TILE, tokenBase = (ctx.groupId(1) * walk + ctx.groupId(0) % walk) * LARGE_TILE;
        if (tokenBase >= tokens) return;
        int warpTokens = 64 * (warp % 2), warpRows = 64 * (warp / 2);
        int matrixWords = LARGE_TILE * ROW_WORDS, stage = (1 + parts) * matrixWords;
        int a = matrixWords + (warpTokens + lane % 8 + 8 * (lane / 8 % 2)) * ROW_WORDS + 4 * (lane / 16); // as in pipelinedTile
        int b = (warpRows + lane % 8 + 8 * (lane / 16)) * ROW_WORDS + 4 * (lane / 8 % 2);
        int column = 8 * (t / 8 % 4), r0 = firstRow(t), r1 = r0 + 32, r2 = r0 + 64, r3 = r0 + 96;
        long w0 = weightRow(rowBase, r0, rows, glu) * cols + column, w1 = weightRow(rowBase, r1, rows, glu) * cols + column;
        long w2 = weightRow(rowBase, r2, rows, glu) * cols + column, w3 = weightRow(rowBase, r3, rows, glu) * cols + column;
        long x0 = (long) Math.min(tokenBase + r0, tokens - 1) * cols + column, x1 = (long) Math.min(tokenBase + r1, tokens - 1) * cols + column;
        long x2 = (long) Math.min(tokenBase + r2, tokens - 1) * cols + column, x3 = (long) Math.min(tokenBase + r3, tokens - 1) * cols + column;
        int next = column; // the next step to stage, its column (the offsets above advanced with it, as in pipelinedTile)
        int s0 = r0 * ROW_WORDS + column / 2, s1 = r1 * ROW_WORDS + column / 2, s2 = r2 * ROW_WORDS + column / 2, s3 = r3 * ROW_WORDS + column / 2;
        int steps = (cols + STEP - 1) / STEP;
        for (int k = 0; k < STAGES - 1; k++) {
            if (k < steps) {
                stage(ctx, ring, k * stage, matrixWords, w, xh, xl, w0, w1, x0, x1, s0, s1, next, cols, parts);
                stage(ctx, ring, k * stage, matrixWords, w, xh, xl, w2, w3, x2, x3, s2, s3, next, cols, parts);
            }
            ctx.commitCopies();
            w0 += STEP;
            w1 += STEP;
            w2 += STEP;
            w3 += STEP;
            x0 += STEP;
            x1 += STEP;
            x2 += STEP;
            x3 += STEP;
            next += STEP;
        }
        Vec16 d0 = Vec16.ofFloats(0f, 0f, 0f, 0f), d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0, d6 = d0, d7 = d0;
        Vec16 e0 = d0, e1 = d0, e2 = d0, e3 = d0, e4 = d0, e5 = d0, e6 = d0, e7 = d0;
        Vec16 f0 = d0, f1 = d0, f2 = d0, f3 = d0, f4 = d0, f5 = d0, f6 = d0, f7 = d0;
        Vec16 h0 = d0, h1 = d0, h2 = d0, h3 = d0, h4 = d0, h5 = d0, h6 = d0, h7 = d0;
        int read = 0, write = (STAGES - 1) * stage;
        for (int k = 0; k < steps; k++) {
            ctx.waitCopies(STAGES - 2);
            ctx.barrier();
            if (k + STAGES - 1 < steps) {
                stage(ctx, ring, write, matrixWords, w, xh, xl, w0, w1, x0, x1, s0, s1, next, cols, parts);
                stage(ctx, ring, write, matrixWords, w, xh, xl, w2, w3, x2, x3, s2, s3, next, cols, parts);
                w0 += STEP;
                w1 += STEP;
                w2 += STEP;
                w3 += STEP;
                x0 += STEP;
                x1 += STEP;
                x2 += STEP;
                x3 += STEP;
                next += STEP;
            }
            ctx.commitCopies();
            KernelContext.unroll(2);
            for (int kk = 0; kk < STEP; kk += 16) {
                int ak = read + a + kk / 2, bk = read + b + kk / 2;
                Vec16 b01 = ctx.loadMatrix(ring, bk), b23 = ctx.loadMatrix(ring, bk + 16 * ROW_WORDS), b45 = ctx.loadMatrix(ring, bk + 32 * ROW_WORDS),
                        b67 = ctx.loadMatrix(ring, bk + 48 * ROW_WORDS);
                KernelContext.unroll(2);
                for (int part = 0; part < parts; part++) { // per 16 columns the first parts' products, then the second's
                    int ap = ak + part * matrixWords;
                    Vec16 a0 = ctx.loadMatrix(ring, ap), a1 = ctx.loadMatrix(ring, ap + 16 * ROW_WORDS), a2 = ctx.loadMatrix(ring, ap + 32 * ROW_WORDS),
                            a3 = ctx.loadMatrix(ring, ap + 48 * ROW_WORDS);
                    d0 = ctx.mmaBf16(a0, b01.word(0), b01.word(1), d0);
                    d1 = ctx.mmaBf16(a0, b01.word(2), b01.word(3), d1);
                    d2 = ctx.mmaBf16(a0, b23.word(0), b23.word(1), d2);
                    d3 = ctx.mmaBf16(a0, b23.word(2), b23.word(3), d3);
                    d4 = ctx.mmaBf16(a0, b45.word(0), b45.word(1), d4);
                    d5 = ctx.mmaBf16(a0, b45.word(2), b45.word(3), d5);
                    d6 = ctx.mmaBf16(a0, b67.word(0), b67.word(1), d6);
                    d7 = ctx.mmaBf16(a0, b67.word(2), b67.word(3), d7);
                    e0 = ctx.mmaBf16(a1, b01.word(0), b01.word(1), e0);
                    e1 = ctx.mmaBf16(a1, b01.word(2), b01.word(3), e1);
                    e2 = ctx.mmaBf16(a1, b23.word(0), b23.word(1), e2);
                    e3 = ctx.mmaBf16(a1, b23.word(2), b23.word(3), e3);
                    e4 = ctx.mmaBf16(a1, b45.word(0), b45.word(1), e4);
                    e5 = ctx.mmaBf16(a1, b45.word(2), b45.word(3), e5);
                    e6 = ctx.mmaBf16(a1, b67.word(0), b67.word(1), e6);
                    e7 = ctx.mmaBf16(a1, b67.word(2), b67.word(3), e7);
                    f0 = ctx.mmaBf16(a2, b01.word(0), b01.word(1), f0);
                    f1 = ctx.mmaBf16(a2, b01.word(2), b01.word(3), f1);
                    f2 = ctx.mmaBf16(a2, b23.word(0), b23.word(1), f2);
                    f3 = ctx.mmaBf16(a2, b23.word(2), b23.word(3), f3);
                    f4 = ctx.mmaBf16(a2, b45.word(0), b45.word(1), f4);
                    f5 = ctx.mmaBf16(a2, b45.word(2), b45.word(3), f5);
                    f6 = ctx.mmaBf16(a2, b67.word(0), b67.word(1), f6);
                    f7 = ctx.mmaBf16(a2, b67.word(2), b67.word(3), f7);
                    h0 = ctx.mmaBf16(a3, b01.word(0), b01.word(1), h0);
                    h1 = ctx.mmaBf16(a3, b01.word(2), b01.word(3), h1);
                    h2 = ctx.mmaBf16(a3, b23.word(0), b23.word(1), h2);
                    h3 = ctx.mmaBf16(a3, b23.word(2), b23.word(3), h3);
                    h4 = ctx.mmaBf16(a3, b45.word(0), b45.word(1), h4);
                    h5 = ctx.mmaBf16(a3, b45.word(2), b45.word(3), h5);
                    h6 = ctx.mmaBf16(a3, b67.word(0), b67.word(1), h6);
                    h7 = ctx.mmaBf16(a3, b67.word(2), b67.word(3), h7);
                }
            }
            write = read;
            read = read + stage == STAGES * stage ? 0 : read + stage;
        }
        int token = tokenBase + warpTokens + g, row = rowBase + warpRows + 2 * q;
        if (glu) { // this lane's features: its columns 2q, 2q + 1 of the blocks' features, (rowBase + warpRows) / 2 on
            int feature = (rowBase + warpRows) / 2 + 2 * q;
            storeGlu(oh, ol, token, feature, tokens, rows / 2, parts, d0, d1, d2, d3, d4, d5, d6, d7);
            storeGlu(oh, ol, token + 16, feature, tokens, rows / 2, parts, e0, e1, e2, e3, e4, e5, e6, e7);
            storeGlu(oh, ol, token + 32, feature, tokens, rows / 2, parts, f0, f1, f2, f3, f4, f5, f6, f7);
            storeGlu(oh, ol, token + 48, feature, tokens, rows / 2, parts, h0, h1, h2, h3, h4, h5, h6, h7);
        } else {
            storeRows(out, bias, token, row, tokens, rows, 0L, epilogue, d0, d1, d2, d3, d4, d5, d6, d7);
            storeRows(out, bias, token + 16, row, tokens, rows, 0L, epilogue, e0, e1, e2, e3, e4, e5, e6, e7);
            storeRows(out, bias, token + 32, row, tokens, rows, 0L, epilogue, f0, f1, f2, f3, f4, f5, f6, f7);
            storeRows(out, bias, token + 48, row, tokens, rows, 0L, epilogue, h0, h1, h2, h3, h4, h5, h6, h7);
        }
    }

    /**
     * A warp's 16 tokens × 64 rows of results (eight 16×8 products, rows 8j… in {@code cj}) through the epilogue, from
     * element {@code base} of {@code out}.
     */
    private static void storeRows(F32Buffer out, F32Buffer bias, int token, int row, int tokens, int rows, long base, int epilogue, Vec16 c0, Vec16 c1,
                                  Vec16 c2, Vec16 c3, Vec16 c4, Vec16 c5, Vec16 c6, Vec16 c7) {
        GemmKernels.storeTile(out, bias, token, row, tokens, rows, base, c0, epilogue);
        GemmKernels.storeTile(out, bias, token, row + 8, tokens, rows, base, c1, epilogue);
        GemmKernels.storeTile(out, bias, token, row + 16, tokens, rows, base, c2, epilogue);
        GemmKernels.storeTile(out, bias, token, row + 24, tokens, rows, base, c3, epilogue);
        GemmKernels.storeTile(out, bias, token, row + 32, tokens, rows, base, c4, epilogue);
        GemmKernels.storeTile(out, bias, token, row + 40, tokens, rows, base, c5, epilogue);
        GemmKernels.storeTile(out, bias, token, row + 48, tokens, rows, base, c6, epilogue);
        GemmKernels.storeTile(out, bias, token, row + 56, tokens, rows, base, c7, epilogue);
    }

    /**
     * A warp's 16 tokens × 32 features of SwiGLU from a gate/up tile's accumulators ({@link #weightRow}: row blocks
     * 2i and 2i + 1 are features {@code feature + 8i…}'s gate and up; this lane's features {@code feature},
     * {@code feature + 1} of each), as BF16 parts into rows of {@code n}.
     */
    private static void storeGlu(Half16Buffer oh, Half16Buffer ol, int token, int feature, int tokens, int n, int parts, Vec16 c0, Vec16 c1,
                                 Vec16 c2, Vec16 c3, Vec16 c4, Vec16 c5, Vec16 c6, Vec16 c7) {
        storeGlu(oh, ol, token, feature, tokens, n, parts, c0, c1);
        storeGlu(oh, ol, token, feature + 8, tokens, n, parts, c2, c3);
        storeGlu(oh, ol, token, feature + 16, tokens, n, parts, c4, c5);
        storeGlu(oh, ol, token, feature + 24, tokens, n, parts, c6, c7);
    }

    /** One 16×8 block's four SwiGLU outputs (tokens g, g + 8; features f, f + 1) from its gate and up fragments, where they exist. */
    private static void storeGlu(Half16Buffer oh, Half16Buffer ol, int token, int f, int tokens, int n, int parts, Vec16 gate, Vec16 up) {
        writeGlu(oh, ol, token, f, tokens, n, parts, gate.f32(0), up.f32(0));
        writeGlu(oh, ol, token, f + 1, tokens, n, parts, gate.f32(1), up.f32(1));
        writeGlu(oh, ol, token + 8, f, tokens, n, parts, gate.f32(2), up.f32(2));
        writeGlu(oh, ol, token + 8, f + 1, tokens, n, parts, gate.f32(3), up.f32(3));
    }

    private static void writeGlu(Half16Buffer oh, Half16Buffer ol, int token, int f, int tokens, int n, int parts, float gate, float up) {
        if (token < tokens && f < n) writeParts(oh, ol, (long) token * n + f, VectorKernels.glu(gate, up), parts);
    }

    /**
     * Issues this work-item's copies of one step into the stage at word {@code at}: columns {@code column…column+7}
     * (this work-item's piece of the step) of its two weight rows and of its two tokens' parts, which start at elements
     * {@code w0}, {@code w1}, {@code x0}, {@code x1} of their matrices; zeros where the piece lies past {@code cols}
     * (all eight columns or none: {@code cols % 8 == 0}), read from the row's start then, which exists.
     */
    private static void stage(KernelContext ctx, int[] ring, int at, int matrixWords, Half16Buffer w, Half16Buffer xh, Half16Buffer xl, long w0,
                              long w1, long x0, long x1, int s0, int s1, int column, int cols, int parts) {
        boolean inside = cols % STEP == 0 || column < cols; // a constant where cols, specialized, is whole steps
        long back = inside ? 0 : column;
        ctx.copyAsync(ring, at + s0, w, w0 - back, inside);
        ctx.copyAsync(ring, at + s1, w, w1 - back, inside);
        ctx.copyAsync(ring, at + matrixWords + s0, xh, x0 - back, inside);
        ctx.copyAsync(ring, at + matrixWords + s1, xh, x1 - back, inside);
        if (parts == 2) {
            ctx.copyAsync(ring, at + 2 * matrixWords + s0, xl, x0 - back, inside);
            ctx.copyAsync(ring, at + 2 * matrixWords + s1, xl, x1 - back, inside);
        }
    }
}
