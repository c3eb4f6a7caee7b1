package dev.moa.tasks.jit;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Specialize;

/** Test kernels with {@link Specialize} parameters (see SpecializeTest). */
public final class SpecializedKernels {
    private SpecializedKernels() {
    }

    /**
     * {@code out[r] = Σ_c x[r·cols + c] · (c % period + 1)}, one work-item per row: a loop bounded by {@code cols}, a
     * remainder by {@code period}, and a wide path taken only where {@code cols % 4 == 0} (dead for other widths: the
     * loop inside it must not be translated, its counter never stored).
     */
    public static void rowSums(KernelContext ctx, F32Buffer x, F32Buffer out, int rows, @Specialize int cols, @Specialize int period) {
        int r = ctx.globalId();
        if (r >= rows) return;
        long base = (long) r * cols;
        float sum = 0f;
        if (cols % 4 == 0) {
            for (int c = 0; c < cols; c += 4) {
                sum += x.get(base + c) * (c % period + 1) + x.get(base + c + 1) * ((c + 1) % period + 1)
                        + x.get(base + c + 2) * ((c + 2) % period + 1) + x.get(base + c + 3) * ((c + 3) % period + 1);
            }
        } else {
            for (int c = 0; c < cols; c++) sum += x.get(base + c) * (c % period + 1);
        }
        out.set(r, sum);
    }

    /** A @Specialize parameter the kernel assigns: refused (it would not be the constant throughout). */
    public static void assigns(KernelContext ctx, F32Buffer out, @Specialize int n) {
        n += ctx.globalId();
        out.set(ctx.globalId(), n);
    }

    /** @Specialize on a float: refused (only ints are). */
    public static void onAFloat(KernelContext ctx, F32Buffer out, @Specialize float scale) {
        out.set(ctx.globalId(), scale);
    }
}
