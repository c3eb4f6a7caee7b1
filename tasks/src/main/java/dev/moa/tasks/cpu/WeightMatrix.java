package dev.moa.tasks.cpu;

import java.lang.foreign.MemorySegment;

/**
 * A [rows × cols] weight matrix in its stored format (row-major, little-endian), multiplied against F32
 * activations. One subclass per storage format, each owning its SIMD inner loop; 16-bit weights are widened
 * to F32 in registers, never copied.
 *
 * <p>{@link #multiply} computes {@code out[t][r] = Σ_c W[r][c] · x[t][c]} for {@code t < tokens}: a matrix–vector
 * product at decode (tokens = 1) and a matrix–matrix product over a prefill chunk, rows split across all cores.
 */
public abstract sealed class WeightMatrix permits F32Matrix, Bf16Matrix, F16Matrix {
    /** Weights per parallel task at least: below this, handing work to another core costs more than it saves. */
    private static final int MIN_TASK_WEIGHTS = 1 << 16;

    protected final MemorySegment data;
    protected final int rows;
    protected final int cols;

    protected WeightMatrix(MemorySegment data, int rows, int cols, WeightFormat format) {
        long expected = (long) rows * cols * format.byteSize();
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("weight matrix [" + rows + " x " + cols + "] " + format + " needs "
                    + expected + " bytes, got " + data.byteSize());
        }
        this.data = data;
        this.rows = rows;
        this.cols = cols;
    }

    public static WeightMatrix of(WeightFormat format, MemorySegment data, int rows, int cols) {
        return switch (format) {
            case F32 -> new F32Matrix(data, rows, cols);
            case BF16 -> new Bf16Matrix(data, rows, cols);
            case F16 -> new F16Matrix(data, rows, cols);
        };
    }

    public final int rows() {
        return rows;
    }

    public final int cols() {
        return cols;
    }

    public abstract WeightFormat format();

    /** The stored bytes, row-major and little-endian (what a device copy uploads). */
    public final MemorySegment data() {
        return data;
    }

    public final long byteSize() {
        return data.byteSize();
    }

    /** One element widened to F32. */
    public abstract float get(int row, int col);

    /** Copies one row, widened to F32, into {@code out[offset ..]} (embedding lookup). */
    public void copyRow(int row, float[] out, int offset) {
        for (int c = 0; c < cols; c++) out[offset + c] = get(row, c);
    }

    /** out[t·rows + r] = Σ_c W[r][c] · x[t·cols + c], for every row r and token t < tokens. */
    public final void multiply(float[] x, int tokens, float[] out) {
        multiply(x, tokens, new WeightMatrix[] {this}, new float[][] {out});
    }

    /**
     * Several products of the same activations (q/k/v, gate/up) in one parallel region: one hand-off to the
     * worker threads instead of one per matrix, which matters at decode, where a small matrix takes well
     * under a millisecond.
     */
    public static void multiply(float[] x, int tokens, WeightMatrix[] matrices, float[][] outs) {
        WeightMatrix first = matrices[0];
        int totalRows = 0;
        for (int i = 0; i < matrices.length; i++) {
            WeightMatrix m = matrices[i];
            if ((long) tokens * m.cols > x.length || (long) tokens * m.rows > outs[i].length) {
                throw new IllegalArgumentException("multiply: [" + m.rows + " x " + m.cols + "] with " + tokens
                        + " tokens needs x >= " + (long) tokens * m.cols + " and out >= " + (long) tokens * m.rows
                        + " (got " + x.length + ", " + outs[i].length + ")");
            }
            if (m.getClass() != first.getClass() || m.cols != first.cols) {
                // Different layouts need different prepared activations: run them one by one.
                for (int j = 0; j < matrices.length; j++) multiply(x, tokens, new WeightMatrix[] {matrices[j]}, new float[][] {outs[j]});
                return;
            }
            totalRows += m.rows;
        }
        float[] prepared = first.prepare(x, tokens);
        int grain = Math.max(PanelKernel.PANEL_ROWS, MIN_TASK_WEIGHTS / first.cols / Math.max(1, tokens));
        Parallel.forRange(totalRows, grain, (start, end) -> {
            int offset = 0;
            for (int i = 0; i < matrices.length && offset < end; offset += matrices[i++].rows) {
                WeightMatrix m = matrices[i];
                int from = Math.max(start, offset) - offset, to = Math.min(end, offset + m.rows) - offset;
                if (from >= to) continue;
                if (tokens >= m.panelTokens()) m.multiplyPanels(prepared, tokens, outs[i], from, to);
                else m.multiplyRows(x, prepared, tokens, outs[i], from, to);
            }
        });
    }

    /**
     * The transposed product, for backpropagation: {@code out[t·cols + c] = Σ_r W[r][c] · dy[t·rows + r]} for every
     * column c and token t < tokens (the gradient of {@link #multiply}'s input). Tokens are split across cores in
     * blocks; each block walks the matrix once, a panel of rows at a time widened to F32, and adds every panel row,
     * scaled by the tokens' coefficients, into the tokens' output rows.
     */
    public final void multiplyTransposed(float[] dy, int tokens, float[] out) {
        if ((long) tokens * rows > dy.length || (long) tokens * cols > out.length) {
            throw new IllegalArgumentException("multiplyTransposed: [" + rows + " x " + cols + "] with " + tokens + " tokens needs dy >= "
                    + (long) tokens * rows + " and out >= " + (long) tokens * cols + " (got " + dy.length + ", " + out.length + ")");
        }
        Parallel.forRange((tokens + TRANSPOSED_TOKENS - 1) / TRANSPOSED_TOKENS, 1, (startBlock, endBlock) -> {
            int panelRows = PanelKernel.PANEL_ROWS;
            float[] panel = new float[panelRows * cols];
            int from = startBlock * TRANSPOSED_TOKENS, to = Math.min(tokens, endBlock * TRANSPOSED_TOKENS);
            float[] acc = new float[(to - from) * cols];
            for (int r = 0; r < rows; r += panelRows) {
                int n = Math.min(panelRows, rows - r);
                widenRows(r, n, panel);
                for (int t = from; t < to; t++) PanelKernel.accumulateRows(panel, n, cols, dy, t * rows + r, acc, (t - from) * cols);
            }
            restore(acc, to - from, out, from * cols);
        });
    }

    /** Tokens per task of {@link #multiplyTransposed}: the matrix is widened once per block, so blocks keep that cheap. */
    static final int TRANSPOSED_TOKENS = 16;

    /** From this many tokens on, widening a panel of rows once and reusing it for every token pays off. */
    static final int PREFILL_TOKENS = 4;

    /** Tokens from which a product takes the panels ({@link #multiplyPanels}) rather than streaming rows. */
    int panelTokens() {
        return PREFILL_TOKENS;
    }
    private static final java.util.Set<Class<?>> WARMED = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private static final ThreadLocal<float[]> PANEL = ThreadLocal.withInitial(() -> new float[0]);

    private void multiplyPanels(float[] prepared, int tokens, float[] out, int rowStart, int rowEnd) {
        int panelRows = PanelKernel.PANEL_ROWS;
        float[] panel = PANEL.get();
        if (panel.length < panelRows * cols) {
            panel = new float[panelRows * cols];
            PANEL.set(panel);
        }
        for (int r = rowStart; r < rowEnd; r += panelRows) {
            int n = Math.min(panelRows, rowEnd - r);
            widenRows(r, n, panel);
            PanelKernel.multiply(panel, n, cols, prepared, tokens, out, rows, r);
        }
    }

    /**
     * Runs this format's kernels on the first rows of this matrix until C2 has compiled them. Vector API code is
     * only fast once intrinsified; before that every vector operation allocates, and the first forward pass of a
     * large model would take seconds. Warm one matrix per storage format, on its own (each format has its own
     * hot loops, so warming one never slows another).
     */
    public void warmUp() {
        if (!WARMED.add(getClass())) return;
        int n = Math.min(rows, 2 * PanelKernel.PANEL_ROWS);
        float[] x = new float[PREFILL_TOKENS * cols], out = new float[PREFILL_TOKENS * rows];
        for (int i = 0; i < 2_000; i++) {
            multiplyPanels(prepare(x, PREFILL_TOKENS), PREFILL_TOKENS, out, 0, n);
            multiplyRows(x, prepare(x, 1), 1, out, 0, n);
            multiplyRows(x, prepare(x, 2), 2, out, 0, n); // a batched step's pairs of sessions (BF16's dot4x2)
        }
    }

    /**
     * Activations rearranged once per call into the column order the product of {@code tokens} tokens reads: that of
     * {@link #widenRows} from {@link #panelTokens} tokens on (the panels), that of {@link #multiplyRows} below (the
     * same for BF16; F16 streams de-interleaved rows but widens its panels in natural order; identity for F32).
     */
    abstract float[] prepare(float[] x, int tokens);

    /** Rows in {@link #widenRows}'s column order back to natural order, into out[offset ..] (the transposed product's). */
    void restore(float[] prepared, int tokens, float[] out, int offset) {
        System.arraycopy(prepared, 0, out, offset, tokens * cols);
    }

    /** Rows [row, row+count) widened to F32 into {@code panel[i·cols ..]}, in the column order of {@link #prepare}. */
    abstract void widenRows(int row, int count, float[] panel);

    /** Decode-sized products (fewer than {@link #panelTokens} tokens), streaming the weights once. */
    abstract void multiplyRows(float[] x, float[] prepared, int tokens, float[] out, int rowStart, int rowEnd);
}
