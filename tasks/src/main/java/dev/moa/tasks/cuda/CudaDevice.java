package dev.moa.tasks.cuda;

/**
 * What moa needs to know about one GPU, read once through {@code cuDeviceGet}, {@code cuDeviceGetName},
 * {@code cuDeviceTotalMem_v2} and {@code cuDeviceGetAttribute}: its compute capability (which picks the PTX
 * {@code .target}), SM count (how many blocks keep it busy) and memory bus (the bandwidth roofline of decode).
 *
 * @param ordinal           the device's index, 0 for the first GPU
 * @param handle            the {@code CUdevice}
 * @param memoryClockKHz    peak memory clock; 0 when the driver does not report it
 * @param memoryBusWidthBits global memory bus width; 0 when the driver does not report it
 * @param sharedBytesPerGroup shared memory one block may use when its kernel opts in (227 KB on sm_90, 163 KB on
 *                           sm_80, 99 KB on sm_86/sm_89): what decides whether a kernel's tiles fit
 */
public record CudaDevice(int ordinal, int handle, String name, int major, int minor, int multiprocessors,
                         long totalMemoryBytes, int memoryClockKHz, int memoryBusWidthBits, int sharedBytesPerGroup) {
    /**
     * The highest target PTX ISA 8.0 (what the JIT emits) can name. Newer GPUs still run it: the driver compiles
     * sm_90 PTX for them when the module is loaded.
     */
    public static final int MAX_PTX_TARGET = 90;

    /** Reads device {@code ordinal} from an initialised driver. */
    public static CudaDevice query(CudaDriver driver, int ordinal) {
        driver.init();
        int count = driver.deviceCount();
        if (ordinal < 0 || ordinal >= count) {
            throw new CudaException("no CUDA device " + ordinal + ": the driver reports " + count
                    + (count == 1 ? " device" : " devices"));
        }
        int device = driver.device(ordinal);
        return new CudaDevice(ordinal, device, driver.deviceName(device),
                driver.deviceAttribute(CudaDriver.ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
                driver.deviceAttribute(CudaDriver.ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
                driver.deviceAttribute(CudaDriver.ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
                driver.deviceTotalMemory(device),
                driver.deviceAttribute(CudaDriver.ATTRIBUTE_MEMORY_CLOCK_RATE_KHZ, device),
                driver.deviceAttribute(CudaDriver.ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH_BITS, device),
                driver.deviceAttribute(CudaDriver.ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device));
    }

    /** The compute capability as "8.6". */
    public String computeCapability() {
        return major + "." + minor;
    }

    /** The PTX {@code .target} for this device: "sm_XY" from its compute capability, at most sm_90. */
    public String ptxTarget() {
        return ptxTarget(major, minor);
    }

    /** The PTX {@code .target} for compute capability {@code major.minor}, at most {@value #MAX_PTX_TARGET}. */
    public static String ptxTarget(int major, int minor) {
        if (major < 1 || minor < 0 || minor > 9) {
            throw new IllegalArgumentException("not a compute capability: " + major + "." + minor);
        }
        return "sm_" + Math.min(major * 10 + minor, MAX_PTX_TARGET);
    }

    /** Peak global-memory bandwidth in bytes/s (double data rate × bus width); 0 when unreported. */
    public double peakBandwidthBytesPerSecond() {
        return 2.0 * memoryClockKHz * 1000.0 * memoryBusWidthBits / 8.0;
    }

    /** One line for logs: "NVIDIA H100 80GB HBM3 (compute 9.0, 132 SMs, 79.1 GiB)". */
    public String describe() {
        return String.format("%s (compute %s, %d SMs, %.1f GiB)", name, computeCapability(), multiprocessors,
                totalMemoryBytes / (double) (1L << 30));
    }
}
