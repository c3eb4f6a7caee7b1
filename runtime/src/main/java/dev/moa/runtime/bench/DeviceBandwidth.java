package dev.moa.runtime.bench;

import dev.moa.tasks.cuda.CudaContext;
import dev.moa.tasks.cuda.CudaEvent;
import dev.moa.tasks.cuda.CudaStream;
import dev.moa.tasks.cuda.DeviceMemory;

/**
 * The GPU's memory bandwidth as a device-to-device copy achieves it (bytes read + bytes written per second, the best
 * of several timed copies): the roofline decode is held to, measured in the same run instead of taken from a sheet.
 */
public final class DeviceBandwidth {
    private DeviceBandwidth() {
    }

    /** Copies {@code bytes} between two device buffers {@code rounds} times after a warm-up; the best round counts. */
    public static double measure(long bytes, int rounds) {
        try (CudaContext context = CudaContext.open(); DeviceMemory a = context.allocate(bytes); DeviceMemory b = context.allocate(bytes);
             CudaStream stream = context.createStream(); CudaEvent start = context.createEvent(); CudaEvent end = context.createEvent()) {
            a.fill((byte) 1);
            b.copyFrom(a, stream);
            double best = Double.MAX_VALUE;
            for (int r = 0; r < rounds; r++) {
                start.record(stream);
                b.copyFrom(a, stream);
                end.record(stream);
                end.synchronize();
                best = Math.min(best, CudaEvent.elapsedMillis(start, end) / 1e3);
            }
            return 2.0 * bytes / best;
        }
    }
}
