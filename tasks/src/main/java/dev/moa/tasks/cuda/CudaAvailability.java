package dev.moa.tasks.cuda;

/**
 * Whether CUDA can be used in this process, found out without throwing: the driver library opens
 * ({@code libcuda.so.1}), {@code cuInit} succeeds, {@code cuDeviceGetCount} reports at least one device, and the
 * first is one the kernels run on (compute capability 8.0 or newer). When
 * it cannot, {@link #reason} is one sentence saying why, fit to print as is, e.g.
 * "no NVIDIA driver: libcuda.so.1 not found on the library path".
 *
 * @param reason        empty when available, else the one-sentence reason
 * @param deviceCount   GPUs the driver reports (0 when unavailable)
 * @param driverVersion the driver's CUDA version, e.g. 12040 for 12.4 (0 when unknown)
 */
public record CudaAvailability(boolean available, String reason, int deviceCount, int driverVersion) {
    private static CudaAvailability system;
    /** The oldest GPUs the kernels run on: compute capability 8.0 (the JIT's lowest PTX target, sm_80). */
    public static final int MIN_MAJOR = 8;

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
            CudaDevice first = CudaDevice.query(driver, 0);
            if (first.major() < MIN_MAJOR) { // the JIT emits PTX for sm_80 and later (BF16 mma, ldmatrix, cp.async)
                return unavailable("CUDA device 0 (" + first.name() + ") has compute capability " + first.computeCapability()
                        + "; moa-java's GPU kernels need " + MIN_MAJOR + ".0 (Ampere) or newer");
            }
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
