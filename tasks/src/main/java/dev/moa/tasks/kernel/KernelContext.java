package dev.moa.tasks.kernel;

/**
 * What a kernel sees of its launch: the first parameter of every kernel. Each method documents what it compiles
 * to in PTX; the CPU emulator implements the same semantics with one virtual thread per work-item.
 *
 * <p>Launch shape: a grid of groups (x, y, z) of {@link #groupSize()} work-items each (a 1-D CUDA block).
 * Work-items of a group are split into warps of {@value #WARP} consecutive ids.
 */
public abstract class KernelContext {
    public static final int WARP = 32;

    /** Work-item id inside its group: {@code %tid.x}. */
    public abstract int localId();

    /** Group id along x (0), y (1) or z (2): {@code %ctaid.x/y/z}. */
    public abstract int groupId(int dimension);

    /** Work-items per group: {@code %ntid.x}. */
    public abstract int groupSize();

    /** Groups along x (0), y (1) or z (2): {@code %nctaid.x/y/z}. */
    public abstract int groups(int dimension);

    /** {@code groupId(0) * groupSize() + localId()}: {@code mad.lo.s32 %ctaid.x, %ntid.x, %tid.x}. */
    public final int globalId() {
        return groupId(0) * groupSize() + localId();
    }

    /** Lane inside the warp: {@code %laneid}. */
    public final int laneId() {
        return localId() % WARP;
    }

    /** Waits until every work-item of the group arrives; shared memory writes before are visible after: {@code bar.sync 0}. */
    public abstract void barrier();

    /**
     * Orders this work-item's global memory writes before its later ones for every group of the launch:
     * {@code membar.gl}. With a barrier and an atomic counter, the last group to finish a shared piece of work can
     * read what the others wrote (CUDA's {@code __threadfence}).
     */
    public abstract void fence();

    /**
     * Waits until the kernels queued before this one have finished and their memory writes are visible, then lets the
     * next kernel begin launching: {@code griddepcontrol.wait; griddepcontrol.launch_dependents} (sm_90 on). The CUDA
     * backend launches a kernel whose PTX waits so with programmatic stream serialization: its groups are made
     * resident and run up to this call while the previous kernel finishes, so a graph of small kernels stops paying
     * each launch's ramp-up between them. Because each kernel lets the next one launch only after its own wait, the
     * code before this call overlaps the previous kernel alone, which may still be reading and writing anything: it
     * may compute and {@link #prefetchL2 prefetch} but must not read or write global memory (the PTX interpreter
     * refuses such an access). Every work-item that touches global memory calls it first; those that touch none may
     * return without. Nothing on targets before sm_90 and in the emulator (whose launches run one after another),
     * and harmless in a kernel launched plainly.
     */
    public abstract void awaitPriorKernels();

    /**
     * Asks for the 128-byte line of {@code buffer} holding element {@code index} to be brought into the L2 cache,
     * without waiting and without reading it ({@code prefetch.global.L2}; emitted from sm_90 on, where kernels overlap):
     * a hint with no effect on any result, so a kernel may issue it before {@link #awaitPriorKernels} for the weights it
     * is about to stream, which then arrive while the previous kernel finishes. One line a work-item: lanes of a warp
     * ask for consecutive lines. (The bulk form, {@code cp.async.bulk.prefetch.L2}, took a whole range from one
     * work-item but cost the normed matvecs 10–12 registers in ptxas, a group per SM fewer.) The emulator checks the
     * element is inside the buffer.
     */
    public abstract void prefetchL2(Half16Buffer buffer, long index);

    /** {@link #prefetchL2(Half16Buffer, long)} for a float buffer. */
    public abstract void prefetchL2(F32Buffer buffer, long index);

    /** The value of lane {@code laneId() + delta} (own value past the warp's end): {@code shfl.sync.down.b32}. */
    public abstract float shuffleDown(float value, int delta);

    /** The value of lane {@code laneId() ^ mask}: {@code shfl.sync.bfly.b32}. */
    public abstract float shuffleXor(float value, int mask);

    /** Integer {@link #shuffleXor(float, int)}. */
    public abstract int shuffleXor(int value, int mask);

    /**
     * Σ of {@code value} over the calling warp's 32 lanes, in every lane: a butterfly of five {@link #shuffleXor}
     * steps (masks 16, 8, 4, 2, 1), so every lane adds the same values in the same order and all get the same sum.
     * Every lane of the warp must call it.
     */
    public float warpSum(float value) {
        for (int mask = WARP / 2; mask > 0; mask >>= 1) value += shuffleXor(value, mask);
        return value;
    }

    /** The largest {@code value} over the calling warp's 32 lanes ({@code Math.max}: NaN wins), in every lane. */
    public float warpMax(float value) {
        for (int mask = WARP / 2; mask > 0; mask >>= 1) value = Math.max(value, shuffleXor(value, mask));
        return value;
    }

    /**
     * A group-shared array of {@code length} floats ({@code .shared .f32 s[length]}); {@code length} must be a
     * compile-time constant. Every work-item of a group gets the same array; allocate at the top of the kernel.
     */
    public abstract float[] sharedF32(int length);

    /** A group-shared array of ints, as {@link #sharedF32}. */
    public abstract int[] sharedI32(int length);

    /**
     * A group-shared array of {@code length} floats whose size is chosen at launch, not compile time: the launch's
     * {@link dev.moa.tasks.emulator.Grid#sharedBytes} must hold {@code 4·length} bytes ({@code .extern .shared};
     * past 48 KB the CUDA backend raises the kernel's limit with {@code cuFuncSetAttribute}). It follows the
     * kernel's static shared arrays. Several calls carve that memory in call order, each array starting 16-byte
     * aligned, so the launch gives {@code Σ roundUp(4·length, 16)} bytes; make them at the kernel's top, where every
     * work-item makes the same ones, as with {@link #sharedF32}.
     */
    public abstract float[] sharedDynamicF32(int length);

    /**
     * As {@link #sharedDynamicF32}, as {@code length} ints: words that {@link #loadMatrix} reads (BF16 pairs for the
     * tensor cores) where a kernel's tiles need more than the 48 KB of static shared memory; carved in call order
     * with the other dynamic arrays, of either type.
     */
    public abstract int[] sharedDynamicI32(int length);

    /**
     * One warp's tensor-core product {@code D = A·B + C}, shape m16n8k16, BF16 inputs, F32 accumulation:
     * {@code mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32}. Every lane of the warp calls it at once with its
     * fragments as {@link MatrixFragments} lays them out: {@code a} four words of A, {@code b0}/{@code b1} two words
     * of B, {@code acc} four floats of C; returns its four floats of D in C's places. Needs sm_80 or later.
     */
    public abstract Vec16 mmaBf16(Vec16 a, int b0, int b1, Vec16 acc);

    /**
     * One warp's load of four 8×8 matrices of 16-bit elements from group-shared memory into tensor-core fragments
     * ({@code ldmatrix.sync.aligned.m8n8.x4.shared.b16}): every lane passes the word index of one 16-byte row (row
     * {@code lane % 8} of matrix {@code lane / 8}; {@code index % 4 == 0}) and receives word j = its share of matrix j
     * ({@link MatrixFragments#rowLane} says whose row). One instruction replaces four shared loads per lane, and
     * the rows may sit anywhere. Every lane of the warp must call it.
     */
    public abstract Vec16 loadMatrix(int[] shared, int index);

    /**
     * As {@link #loadMatrix}, each 8×8 matrix transposed on the way ({@code ldmatrix … .trans}): lane l receives in word
     * j the elements in column {@code l / 4} of rows {@code 2(l % 4)} and {@code 2(l % 4) + 1} of matrix j ({@link
     * MatrixFragments#transposedRowLane}). What makes a row-major K×N matrix in shared memory (V: a row per key) into
     * B fragments, which want columns: no transposed copy to stage. Every lane of the warp must call it.
     */
    public abstract Vec16 loadMatrixTransposed(int[] shared, int index);

    /**
     * Starts copying 16 bytes — eight 16-bit elements of {@code source} from {@code sourceIndex} — into group-shared
     * words {@code index … index + 3}, without passing through registers and without waiting
     * ({@code cp.async.cg.shared.global}, sm_80 on): the kernel goes on (stages other data, computes) while the copy
     * flies. Both ends 16-byte aligned: {@code index % 4 == 0}, {@code sourceIndex % 8 == 0}. The words hold the
     * data once {@link #waitCopies} has covered the copy's group ({@link #commitCopies} closes one) and a
     * {@link #barrier} has made every work-item's copies visible; the emulator and the PTX interpreter do the copy
     * at that wait, so a kernel that reads too early reads stale words there too.
     */
    public abstract void copyAsync(int[] shared, int index, Half16Buffer source, long sourceIndex);

    /**
     * As {@link #copyAsync(int[], int, Half16Buffer, long)}, 16 bytes being four floats of {@code source} from
     * {@code sourceIndex} ({@code sourceIndex % 4 == 0}) into words {@code index … index + 3} as their bits.
     */
    public abstract void copyAsync(int[] shared, int index, F32Buffer source, long sourceIndex);

    /**
     * As {@link #copyAsync(int[], int, Half16Buffer, long)} where {@code inside}; otherwise the four words become zeros
     * and nothing is read ({@code cp.async} with a source size of 0: the copy engine fills the rest with zeros). A tile's
     * edge is then staged without a branch: copy the columns that exist, zeros past them. {@code sourceIndex} must
     * still lie inside {@code source} (clamp it), as the emulator checks either way.
     */
    public abstract void copyAsync(int[] shared, int index, Half16Buffer source, long sourceIndex, boolean inside);

    /** As {@link #copyAsync(int[], int, F32Buffer, long)} where {@code inside}, else zeros (see the 16-bit form). */
    public abstract void copyAsync(int[] shared, int index, F32Buffer source, long sourceIndex, boolean inside);

    /** Closes the copies this work-item started since the last commit into one group ({@code cp.async.commit_group}). */
    public abstract void commitCopies();

    /**
     * Waits until at most the {@code pending} newest of this work-item's committed groups are still in flight: every
     * older group is done ({@code cp.async.wait_group pending}; a compile-time constant). With two buffers, copies
     * for the next step go out, then {@code waitCopies(1)} waits only for this step's.
     */
    public abstract void waitCopies(int pending);

    /**
     * Four consecutive floats of a group-shared array in one 16-byte load ({@code ld.shared.v4.b32}); {@code index}
     * must be a multiple of 4 (shared arrays start 16-byte aligned). Where all lanes read the same four (a broadcast,
     * like a query every key is dotted with), one load replaces four.
     */
    public static Vec16 load4(float[] shared, int index) {
        if ((index & 3) != 0) throw new IllegalArgumentException("load4: index " + index + " of a shared array is not a multiple of 4");
        return Vec16.ofFloats(shared[index], shared[index + 1], shared[index + 2], shared[index + 3]);
    }

    /**
     * Four consecutive words of a group-shared array in one 16-byte load ({@code ld.shared.v4.b32}), as {@link
     * #load4(float[], int)}: what {@link #copyAsync} staged there, read as four floats or eight 16-bit elements.
     */
    public static Vec16 load4(int[] shared, int index) {
        if ((index & 3) != 0) throw new IllegalArgumentException("load4: index " + index + " of a shared array is not a multiple of 4");
        return Vec16.ofWords(shared[index], shared[index + 1], shared[index + 2], shared[index + 3]);
    }

    /**
     * Stores the four floats of {@code v} at {@code index…index + 3} of a group-shared array in one 16-byte store
     * ({@code st.shared.v4.b32}); {@code index} must be a multiple of 4. Lanes storing consecutive fours then fill a
     * phase's 128 bytes in one wavefront, where four scalar stores 16 bytes apart meet in the same banks.
     */
    public static void store4(float[] shared, int index, Vec16 v) {
        if ((index & 3) != 0) throw new IllegalArgumentException("store4: index " + index + " of a shared array is not a multiple of 4");
        shared[index] = v.f32(0);
        shared[index + 1] = v.f32(1);
        shared[index + 2] = v.f32(2);
        shared[index + 3] = v.f32(3);
    }

    /** {@code buffer[index] += value} atomically, returning the old value: {@code atom.global.add.f32}. */
    public abstract float atomicAdd(F32Buffer buffer, long index, float value);

    /** {@code buffer[index] += value} atomically: {@code atom.global.add.u32}. */
    public abstract int atomicAdd(I32Buffer buffer, long index, int value);

    /** {@code buffer[index] = max(buffer[index], value)} atomically: {@code atom.global.max.s32}. */
    public abstract int atomicMax(I32Buffer buffer, long index, int value);

    /** Widens BF16 bits to a float: {@code shl.b32 16} (exact). */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** Widens IEEE half bits to a float: {@code cvt.f32.f16} (exact). */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /**
     * Two floats rounded to BF16 and packed into one word, {@code lo} in the low half: what a tensor-core fragment
     * word holds. One instruction on the GPU ({@code cvt.rn.bf16x2.f32}) where two conversions and the packing took
     * five.
     */
    public static int packBf16(float lo, float hi) {
        return (floatToBf16(lo) & 0xFFFF) | (floatToBf16(hi) << 16);
    }

    /** Rounds a float to BF16 bits, to nearest even (NaN becomes 0x7FFF): {@code cvt.rn.bf16.f32}. */
    public static short floatToBf16(float x) {
        if (Float.isNaN(x)) return 0x7FFF;
        int bits = Float.floatToRawIntBits(x);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** Rounds a float to IEEE half bits, to nearest even: {@code cvt.rn.f16.f32}. */
    public static short floatToF16(float x) {
        return Float.isNaN(x) ? 0x7FFF : Float.floatToFloat16(x);
    }

    /**
     * {@code 2^x}, 0 where that is below the smallest normal float ({@code Float.MIN_NORMAL}, x < -126): one
     * {@code ex2.approx.ftz.f32} on the GPU (about 2 ulp), exact otherwise on the CPU. {@code Math.exp} is
     * {@code ex2.approx.f32} after a multiplication by log2(e), which a kernel that scales its argument anyway folds
     * into its own factor; and without {@code .ftz} ptxas wraps the {@code MUFU.EX2} in four instructions that keep
     * subnormal results, which a softmax's weights below 2^-126 of its largest do not need.
     */
    public static float exp2(float x) {
        float y = (float) Math.pow(2, x);
        return y < Float.MIN_NORMAL ? 0f : y;
    }

    /** {@code 1 / sqrt(x)}: {@code rsqrt.approx.ftz.f32} on the GPU (about 2 ulp), exact division on the CPU. */
    public static float rsqrt(float x) {
        return (float) (1.0 / Math.sqrt(x));
    }

    /**
     * Unrolls the next loop {@code factor} times (a constant, 1 to 32). The PTX JIT emits {@code factor} copies of
     * the body back to back, without tests between them, while {@code i + (factor-1)·step} still passes the loop's
     * test, and then the loop itself for the remaining iterations — so independent loads of several iterations are
     * in flight together. The loop must be {@code for (int i = ...; i < limit; i += step)} (or {@code <=}) with a
     * loop-invariant int limit, a positive constant step and no other writes to {@code i}; anything else is a
     * compile error. A no-op on the CPU.
     */
    public static void unroll(int factor) {
    }
}
