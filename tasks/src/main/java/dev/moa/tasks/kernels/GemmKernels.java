package dev.moa.tasks.kernels;

import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
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
    public static void half(KernelContext ctx, Half16Buffer w, F32Buffer x, F32Buffer bias, F32Buffer out, int tokens, int rows, int cols,
                            int epilogue, int ieee) {
        float[] xs = ctx.sharedF32(TILE * STEP);
        float[] ws = ctx.sharedF32(TILE * W_STRIDE);
        int t = ctx.localId(), tx = t % SIDE, ty = t / SIDE;
        int rowBase = ctx.groupId(0) * TILE, tokenBase = ctx.groupId(1) * TILE;
        boolean wide = cols % 8 == 0;
        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f;
        float c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f; // c[token i][row j]
        for (int k0 = 0; k0 < cols; k0 += STEP) {
            if (wide) {
                stageWeights8(w, ws, rowBase + t / 4, t / 4, k0 + t % 4 * 8, t % 4 * 8, rows, cols, ieee);
                stageTokens4(x, xs, tokenBase + t / 8, t / 8, k0 + t % 8 * 4, t % 8 * 4, tokens, cols);
                stageTokens4(x, xs, tokenBase + 32 + t / 8, 32 + t / 8, k0 + t % 8 * 4, t % 8 * 4, tokens, cols);
            } else {
                KernelContext.unroll(8);
                for (int i = 0; i < 8; i++) {
                    int e = t + GROUP * i, r = e / STEP, k = e % STEP, gr = rowBase + r, gt = tokenBase + r, gk = k0 + k;
                    ws[r * W_STRIDE + k] = gr < rows && gk < cols ? widen(w.get((long) gr * cols + gk), ieee) : 0f;
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
        store(out, bias, t0, r0, tokens, rows, c00, epilogue);
        store(out, bias, t0, r0 + SIDE, tokens, rows, c01, epilogue);
        store(out, bias, t0, r0 + 2 * SIDE, tokens, rows, c02, epilogue);
        store(out, bias, t0, r0 + 3 * SIDE, tokens, rows, c03, epilogue);
        store(out, bias, t0 + SIDE, r0, tokens, rows, c10, epilogue);
        store(out, bias, t0 + SIDE, r0 + SIDE, tokens, rows, c11, epilogue);
        store(out, bias, t0 + SIDE, r0 + 2 * SIDE, tokens, rows, c12, epilogue);
        store(out, bias, t0 + SIDE, r0 + 3 * SIDE, tokens, rows, c13, epilogue);
        store(out, bias, t0 + 2 * SIDE, r0, tokens, rows, c20, epilogue);
        store(out, bias, t0 + 2 * SIDE, r0 + SIDE, tokens, rows, c21, epilogue);
        store(out, bias, t0 + 2 * SIDE, r0 + 2 * SIDE, tokens, rows, c22, epilogue);
        store(out, bias, t0 + 2 * SIDE, r0 + 3 * SIDE, tokens, rows, c23, epilogue);
        store(out, bias, t0 + 3 * SIDE, r0, tokens, rows, c30, epilogue);
        store(out, bias, t0 + 3 * SIDE, r0 + SIDE, tokens, rows, c31, epilogue);
        store(out, bias, t0 + 3 * SIDE, r0 + 2 * SIDE, tokens, rows, c32, epilogue);
        store(out, bias, t0 + 3 * SIDE, r0 + 3 * SIDE, tokens, rows, c33, epilogue);
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

    /** Four activations of token {@code gt} from column {@code gk} (one 16-byte load) into shared row {@code r} at {@code k}; zeros past the tokens. */
    private static void stageTokens4(F32Buffer x, float[] xs, int gt, int r, int gk, int k, int tokens, int cols) {
        int at = r * STEP + k;
        if (gt < tokens && gk < cols) {
            Vec16 v = x.load4((long) gt * cols + gk);
            xs[at] = v.f32(0);
            xs[at + 1] = v.f32(1);
            xs[at + 2] = v.f32(2);
            xs[at + 3] = v.f32(3);
        } else {
            for (int i = 0; i < 4; i++) xs[at + i] = 0f;
        }
    }

    /** One 16-bit weight widened: IEEE half when {@code ieee} is set, else BF16. */
    private static float widen(short bits, int ieee) {
        return ieee != 0 ? KernelContext.f16ToFloat(bits) : KernelContext.bf16ToFloat(bits);
    }

    /** {@code out[token, row]} through the epilogue, when the element exists. */
    private static void store(F32Buffer out, F32Buffer bias, int token, int row, int tokens, int rows, float sum, int epilogue) {
        if (token >= tokens || row >= rows) return;
        long at = (long) token * rows + row;
        float value = sum;
        if ((epilogue & MatVecKernels.BIAS) != 0) value += bias.get(row);
        if ((epilogue & MatVecKernels.ACCUMULATE) != 0) value += out.get(at);
        out.set(at, value);
    }
}
