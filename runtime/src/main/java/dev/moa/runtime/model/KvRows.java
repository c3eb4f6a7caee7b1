package dev.moa.runtime.model;

import dev.moa.tasks.cpu.VectorMath;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The keys or the values of a cache, as it stores them ({@link KvFormat}): consecutive rows of {@code rowLength}
 * ({@code headDim}) values addressed by the index of their first value, written from floats and read only by
 * attention's two products. BF16 storage holds raw bits in {@code short}s (half the memory of F32) and widens them
 * inside the SIMD loops; its products are the F32 ones over the rounded values.
 *
 * <p>Storage is paged and made when first written: a cache holds memory for the rows written so far, not for all
 * it may hold. A dense session sized for prompt + max_tokens that stops early, or a session whose keys and values
 * live on a device (the CPU cache then holds none of them), costs the heap only what it wrote. Rows never straddle
 * pages, so {@link #put} of one row touches one page and {@link #dots} and {@link #addScaled} walk runs of rows
 * page by page; rows never written read as zeros.
 */
abstract sealed class KvRows {
    /**
     * Values per page, about (whole rows): 1 MiB of F32, 4096 positions of a 64-wide head. Smaller pages (64 KB) read
     * no faster and made dense attention at 16k positions look slower in `bench attention` (within its noise here).
     */
    static final int PAGE_VALUES = 262_144;

    /** Values held. */
    final int length;
    /** Values per page (whole rows), and pages. */
    final int pageValues;

    private KvRows(long count, int rowLength, String what) {
        if (rowLength < 1) throw new IllegalArgumentException("rows of " + rowLength + " values");
        this.length = KvCache.arrayLength(count, what);
        this.pageValues = Math.max(1, PAGE_VALUES / rowLength) * rowLength;
    }

    /** Storage for {@code count} values in rows of {@code rowLength}, in {@code format}; {@code what} names it in the error when it cannot be held. */
    static KvRows allocate(KvFormat format, long count, int rowLength, String what) {
        return format == KvFormat.BF16 ? new Bf16(count, rowLength, what) : new F32(count, rowLength, what);
    }

    abstract KvFormat format();

    /** Values held. */
    final int length() {
        return length;
    }

    final int pages() {
        return (int) (((long) length + pageValues - 1) / pageValues);
    }

    /** Values of page {@code p} (the last may be short). */
    final int pageLength(int p) {
        return Math.min(pageValues, length - p * pageValues);
    }

    /** Stores {@code src[from, from + n)} at {@code at}, rounded to the format: one row, or part of one. */
    abstract void put(int at, float[] src, int from, int n);

    /** {@code dst[to + i] = row[at + i]} widened to F32, i < n, within one row. */
    abstract void read(int at, float[] dst, int to, int n);

    /**
     * Attention's scores over {@code rows} consecutive rows of {@code n} values from {@code at} (a row's start):
     * {@code scores[so + r] = (Σ_i q[qo + i] · row_r[i]) · scale}. Walks the pages without a division per row.
     */
    abstract void dots(float[] q, int qo, int at, int rows, int n, float scale, float[] scores, int so);

    /** Attention's weighted sum over the same rows: {@code out[oo + i] += Σ_r weights[wo + r] · row_r[i]}, in row order. */
    abstract void addScaled(float[] weights, int wo, int at, int rows, int n, float[] out, int oo);

    /** Copies values {@code [from, from + count)}, as stored, into {@code memory} from value {@code at} on (values of this format's size; zeros where none were written). */
    final void copyTo(int from, int count, MemorySegment memory, long at) {
        long bytes = format().bytes();
        for (int done = 0; done < count; ) {
            int index = from + done, p = index / pageValues, o = index - p * pageValues;
            int n = Math.min(count - done, pageLength(p) - o);
            long to = (at + done) * bytes;
            if (written(p)) copyOut(p, o, memory, to, n);
            else memory.asSlice(to, n * bytes).fill((byte) 0);
            done += n;
        }
    }

    /** The inverse of {@link #copyTo}. */
    final void copyFrom(MemorySegment memory, long at, int from, int count) {
        long bytes = format().bytes();
        for (int done = 0; done < count; ) {
            int index = from + done, p = index / pageValues, o = index - p * pageValues;
            int n = Math.min(count - done, pageLength(p) - o);
            copyIn(memory, (at + done) * bytes, p, o, n);
            done += n;
        }
    }

    abstract boolean written(int page);

    /** Page {@code p}'s values {@code [o, o + n)} into {@code memory} at byte {@code to}. */
    abstract void copyOut(int p, int o, MemorySegment memory, long to, int n);

    /** {@code n} values from {@code memory} at byte {@code from} into page {@code p} from {@code o} on (made when absent). */
    abstract void copyIn(MemorySegment memory, long from, int p, int o, int n);

    /** Bytes this storage may hold. */
    final long byteSize() {
        return (long) length * format().bytes();
    }

    /** Bytes of the pages written so far. */
    final long residentBytes() {
        long values = 0;
        for (int p = 0; p < pages(); p++) if (written(p)) values += pageLength(p);
        return values * format().bytes();
    }

    static final class F32 extends KvRows {
        private final float[][] pages;

        F32(long count, int rowLength, String what) {
            super(count, rowLength, what);
            pages = new float[pages()][];
        }

        @Override
        KvFormat format() {
            return KvFormat.F32;
        }

        private float[] page(int p) {
            float[] page = pages[p];
            return page != null ? page : (pages[p] = new float[pageLength(p)]);
        }

        @Override
        void put(int at, float[] src, int from, int n) {
            int p = at / pageValues;
            System.arraycopy(src, from, page(p), at - p * pageValues, n);
        }

        @Override
        void read(int at, float[] dst, int to, int n) {
            int p = at / pageValues;
            float[] page = pages[p];
            if (page == null) java.util.Arrays.fill(dst, to, to + n, 0f);
            else System.arraycopy(page, at - p * pageValues, dst, to, n);
        }

        @Override
        void dots(float[] q, int qo, int at, int rows, int n, float scale, float[] scores, int so) {
            int p = at / pageValues, o = at - p * pageValues;
            for (int r = 0; r < rows; r++, o += n) {
                if (o == pageValues) {
                    p++;
                    o = 0;
                }
                float[] page = pages[p];
                scores[so + r] = page == null ? 0f : VectorMath.dot(q, qo, page, o, n) * scale;
            }
        }

        @Override
        void addScaled(float[] weights, int wo, int at, int rows, int n, float[] out, int oo) {
            int p = at / pageValues, o = at - p * pageValues;
            for (int r = 0; r < rows; r++, o += n) {
                if (o == pageValues) {
                    p++;
                    o = 0;
                }
                float[] page = pages[p];
                if (page != null) VectorMath.addScaled(out, oo, weights[wo + r], page, o, n);
            }
        }

        @Override
        boolean written(int page) {
            return pages[page] != null;
        }

        @Override
        void copyOut(int p, int o, MemorySegment memory, long to, int n) {
            MemorySegment.copy(pages[p], o, memory, ValueLayout.JAVA_FLOAT, to, n);
        }

        @Override
        void copyIn(MemorySegment memory, long from, int p, int o, int n) {
            MemorySegment.copy(memory, ValueLayout.JAVA_FLOAT, from, page(p), o, n);
        }
    }

    static final class Bf16 extends KvRows {
        private final short[][] pages;

        Bf16(long count, int rowLength, String what) {
            super(count, rowLength, what);
            pages = new short[pages()][];
        }

        @Override
        KvFormat format() {
            return KvFormat.BF16;
        }

        private short[] page(int p) {
            short[] page = pages[p];
            return page != null ? page : (pages[p] = new short[pageLength(p)]);
        }

        @Override
        void put(int at, float[] src, int from, int n) {
            int p = at / pageValues;
            short[] page = page(p);
            int o = at - p * pageValues;
            for (int i = 0; i < n; i++) page[o + i] = KernelContext.floatToBf16(src[from + i]);
        }

        @Override
        void read(int at, float[] dst, int to, int n) {
            int p = at / pageValues;
            short[] page = pages[p];
            int o = at - p * pageValues;
            for (int i = 0; i < n; i++) dst[to + i] = page == null ? 0f : KernelContext.bf16ToFloat(page[o + i]);
        }

        @Override
        void dots(float[] q, int qo, int at, int rows, int n, float scale, float[] scores, int so) {
            int p = at / pageValues, o = at - p * pageValues;
            for (int r = 0; r < rows; r++, o += n) {
                if (o == pageValues) {
                    p++;
                    o = 0;
                }
                short[] page = pages[p];
                scores[so + r] = page == null ? 0f : VectorMath.dot(q, qo, page, o, n) * scale;
            }
        }

        @Override
        void addScaled(float[] weights, int wo, int at, int rows, int n, float[] out, int oo) {
            int p = at / pageValues, o = at - p * pageValues;
            for (int r = 0; r < rows; r++, o += n) {
                if (o == pageValues) {
                    p++;
                    o = 0;
                }
                short[] page = pages[p];
                if (page != null) VectorMath.addScaled(out, oo, weights[wo + r], page, o, n);
            }
        }

        @Override
        boolean written(int page) {
            return pages[page] != null;
        }

        @Override
        void copyOut(int p, int o, MemorySegment memory, long to, int n) {
            MemorySegment.copy(pages[p], o, memory, ValueLayout.JAVA_SHORT, to, n);
        }

        @Override
        void copyIn(MemorySegment memory, long from, int p, int o, int n) {
            MemorySegment.copy(memory, ValueLayout.JAVA_SHORT, from, page(p), o, n);
        }
    }
}
