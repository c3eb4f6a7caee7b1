package dev.moa.tasks.kernels;

import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.Half16Buffer;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.foreign.Arena;
import java.util.Random;

/**
 * Whether a device's tensor cores compute what the emulator and the PTX interpreter assume
 * ({@link dev.moa.tasks.kernel.MatrixFragments}): one warp's tile product ({@link TensorCoreKernels#tile}) on
 * seeded random BF16 tiles, against the plain matrix product. Run once per device before a kernel relies on
 * {@code mma.sync}; on a mismatch the callers fall back to FFMA kernels.
 */
public final class TensorCoreCheck {
    private TensorCoreCheck() {
    }

    /** The number of the 128 elements of D that differ from the plain product (0: the layout holds). */
    public static int wrongElements(Backend backend) {
        Random random = new Random(7);
        try (Arena arena = Arena.ofShared()) {
            Half16Buffer a = Half16Buffer.allocate(arena, 256), b = Half16Buffer.allocate(arena, 128);
            for (int i = 0; i < 256; i++) a.set(i, KernelContext.floatToBf16((float) random.nextGaussian()));
            for (int i = 0; i < 128; i++) b.set(i, KernelContext.floatToBf16((float) random.nextGaussian()));
            F32Buffer c = F32Buffer.allocate(arena, 128), d = F32Buffer.allocate(arena, 128);
            for (int i = 0; i < 128; i++) c.set(i, (float) random.nextGaussian());
            TaskGraph graph = new TaskGraph().task("tensor-core tile", TensorCoreKernels.class, "tile", Grid.of(1, 32), a, b, c, d);
            try {
                backend.runOnce(graph);
                backend.download(d);
            } finally {
                for (var buffer : new dev.moa.tasks.kernel.DeviceBuffer[] {a, b, c, d}) backend.free(buffer);
            }
            int wrong = 0;
            for (int r = 0; r < 16; r++) {
                for (int n = 0; n < 8; n++) {
                    double expected = c.get(r * 8 + n);
                    for (int k = 0; k < 16; k++) expected += (double) KernelContext.bf16ToFloat(a.get(r * 16 + k)) * KernelContext.bf16ToFloat(b.get(n * 16 + k));
                    if (Math.abs(expected - d.get(r * 8 + n)) > 1e-4 * Math.max(1, Math.abs(expected))) wrong++;
                }
            }
            return wrong;
        }
    }
}
