package dev.moa.tasks.kernel;

/**
 * Which lane of a warp holds which element of a tensor-core product {@code D = A·B + C} with shape m16n8k16 (A 16×16
 * BF16 row-major, B 16×8 BF16 column-major, C and D 16×8 F32), as the PTX ISA's "Matrix Fragments for
 * mma.m16n8k16 with floating point type" lays them out. With {@code g = lane / 4} (groupID) and {@code c = lane % 4}
 * (threadID_in_group), lane {@code lane} holds:
 * <ul>
 *   <li>A: four words of two BF16 each (low half first): word 0 = A[g][2c, 2c+1], word 1 = A[g+8][2c, 2c+1],
 *       word 2 = A[g][2c+8, 2c+9], word 3 = A[g+8][2c+8, 2c+9];</li>
 *   <li>B: two words: word 0 = B[2c, 2c+1][g], word 1 = B[2c+8, 2c+9][g] (rows are k);</li>
 *   <li>C and D: four floats: C[g][2c], C[g][2c+1], C[g+8][2c], C[g+8][2c+1].</li>
 * </ul>
 * The kernel emulator and the PTX interpreter compute {@code mma.sync} from these rules; a kernel loads its
 * fragments by them ({@link KernelContext#mmaBf16}).
 */
public final class MatrixFragments {
    private MatrixFragments() {
    }

    /**
     * {@code ldmatrix.sync.aligned.m8n8.x4.shared.b16}: four 8×8 matrices of 16-bit elements, each row 16 contiguous
     * bytes of shared memory. Lane l supplies the address of row {@code l % 8} of matrix {@code l / 8}; it receives,
     * in word j, elements {@code 2(l % 4)} and {@code 2(l % 4) + 1} (low half first) of row {@code l / 4} of matrix j
     * — the row whose address lane {@link #rowLane}{@code (l, j)} supplied, word {@code l % 4} of it. For A of an
     * m16n8k16 product (matrices: rows 0–7 and 8–15 of columns 0–7, then of columns 8–15) those are exactly A's four
     * fragment words; for B stored as rows of n (columns of B), matrix pairs give words 0 and 1 of two 8-column blocks.
     */
    public static int rowLane(int lane, int word) {
        return 8 * word + lane / 4;
    }

    /**
     * {@code ldmatrix … .trans}: lane l receives in word j, low half first, element {@code l / 4} of row {@code 2(l % 4)}
     * and of row {@code 2(l % 4) + 1} of matrix j: those rows' addresses come from lanes {@code transposedRowLane(l, j,
     * 0)} and {@code (l, j, 1)}. The word is then column {@code l / 4}, rows {@code 2(l % 4)}, +1 — of a K×N matrix
     * stored a row per k, B's fragment word for column n = l / 4.
     */
    public static int transposedRowLane(int lane, int word, int half) {
        return 8 * word + 2 * (lane % 4) + half;
    }

    /** The lane holding A[row][col]. */
    public static int aLane(int row, int col) {
        return row % 8 * 4 + col % 8 / 2;
    }

    /** The word of {@link #aLane} holding A[row][col]; its half is {@code col % 2}. */
    public static int aWord(int row, int col) {
        return (row >= 8 ? 1 : 0) + (col >= 8 ? 2 : 0);
    }

    /** The lane holding B[k][n]. */
    public static int bLane(int k, int n) {
        return n * 4 + k % 8 / 2;
    }

    /** The word of {@link #bLane} holding B[k][n]; its half is {@code k % 2}. */
    public static int bWord(int k, int n) {
        return k >= 8 ? 1 : 0;
    }

    /** The lane holding C[row][n] and D[row][n]. */
    public static int cLane(int row, int n) {
        return row % 8 * 4 + n / 2;
    }

    /** The float of {@link #cLane} holding C[row][n]. */
    public static int cIndex(int row, int n) {
        return (row >= 8 ? 2 : 0) + n % 2;
    }

    /**
     * Lane {@code lane}'s four floats of D, given every lane's fragments: {@code words[l]} = A's four words then B's
     * two, {@code acc[l]} = its four floats of C. Products are exact in F32 (BF16 × BF16); sums run in double and
     * round once, as a tensor core keeps at least F32 precision.
     */
    public static float[] product(int[][] words, float[][] acc, int lane) {
        int g = lane / 4, c = lane % 4;
        // the lane's two rows of A (g, g + 8) and two columns of B (2c, 2c + 1), a word (two elements of k) at a time,
        // unpacked as they are used: each of D's four sums adds its sixteen products in k order
        float[] mine = acc[lane];
        double d0 = mine[0], d1 = mine[1], d2 = mine[2], d3 = mine[3];
        for (int k = 0; k < 16; k += 2) {
            int top = words[aLane(g, k)][aWord(g, k)], bottom = words[aLane(g + 8, k)][aWord(g + 8, k)];
            int left = words[bLane(k, 2 * c)][4 + bWord(k, 2 * c)], right = words[bLane(k, 2 * c + 1)][4 + bWord(k, 2 * c + 1)];
            for (int h = 0; h < 2; h++) {
                double a0 = half(top, h), a1 = half(bottom, h), b0 = half(left, h), b1 = half(right, h);
                d0 += a0 * b0;
                d1 += a0 * b1;
                d2 += a1 * b0;
                d3 += a1 * b1;
            }
        }
        return new float[] {(float) d0, (float) d1, (float) d2, (float) d3};
    }

    private static float half(int word, int high) {
        return Float.intBitsToFloat(high == 0 ? word << 16 : word & 0xFFFF0000);
    }
}
