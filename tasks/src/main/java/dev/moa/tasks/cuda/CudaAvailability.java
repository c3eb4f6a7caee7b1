package dev.moa.tasks.cuda;

/**
 * Whether CUDA can be used in this process, found out without throwing: the driver library opens
 * ({@code libcuda.so.1}), {@code cuInit} succeeds and {@code cuDeviceGetCount} reports at least one device. When
 * it cannot, {@link #reason} is one sentence saying why, fit to print as is, e.g.
 * "no NVIDIA driver: libcuda.so.1 not found on the library path".
 *
 * @param reason        empty when available, else the one-sentence reason
 * @param deviceCount   GPUs the driver reports (0 when unavailable)
 * @param driverVersion the driver's CUDA version, e.g. 12040 for 12.4 (0 when unknown)
 */
public record CudaAvailability(boolean available, String reason, int deviceCount, int driverVersion) {
    private static CudaAvailability system;

    /** The system driver ({@link CudaDriver#system()}), probed once per process. */
    public static synchronized CudaAvailability probe() {
        if (system == null) system = probe(() -> CudaDriver.system());
        return system;
    }

    /** The driver library {@code library} (a name or a path), probed now. */
    public static CudaAvailability probe(String library) {
        return probe(() -> CudaDriver.open(library));
    }

    private interface DriverSource {
        CudaDriver open();
    }

    private static CudaAvailability probe(DriverSource source) {
        CudaDriver driver;
        try {
            driver = source.open();
        } catch (CudaException e) {
            return unavailable(e.getMessage());
        }
        try {
            driver.init();
        } catch (CudaException e) {
            return unavailable(e.errorName() == null ? e.getMessage() : "CUDA driver found but " + e.getMessage());
        } catch (RuntimeException | LinkageError e) {
            return unavailable("CUDA driver " + driver.library() + " is unusable: " + e);
        }
        try {
            int count = driver.deviceCount();
            if (count < 1) return unavailable("CUDA driver found but it reports no CUDA devices");
            return new CudaAvailability(true, "", count, driver.driverVersion());
        } catch (CudaException e) {
            return unavailable("CUDA driver found but " + e.getMessage());
        } catch (RuntimeException | LinkageError e) {
            return unavailable("CUDA driver " + driver.library() + " is unusable: " + e);
        }
    }

    private static CudaAvailability unavailable(String reason) {
        return new CudaAvailability(false, reason, 0, 0);
    }

    /** The driver version as "12.4"; empty when unknown. */
    public String driverVersionText() {
        return driverVersion <= 0 ? "" : driverVersion / 1000 + "." + driverVersion % 1000 / 10;
    }
}
