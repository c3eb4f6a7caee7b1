package dev.moa.tasks.cuda;

/**
 * The one exception the CUDA binding throws: a driver call that returned a {@code CUresult} other than
 * {@code CUDA_SUCCESS}, a driver entry point that is missing, or CUDA that cannot be used at all.
 *
 * <p>A failed call reads {@code "cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed)
 * — JIT log: ..."}: the entry point, the error's name and description from {@code cuGetErrorName} /
 * {@code cuGetErrorString}, then any detail the binding has (the JIT error log).
 */
public final class CudaException extends RuntimeException {
    private final String call;
    private final int result;
    private final String errorName;

    /** CUDA cannot be used; the message is one sentence saying why. */
    public CudaException(String message) {
        super(message);
        this.call = null;
        this.result = 0;
        this.errorName = null;
    }

    /** {@code call} returned {@code result}, named {@code errorName}, described by {@code description}. */
    CudaException(String call, int result, String errorName, String description, String detail) {
        super(call + " failed: " + errorName + (description == null ? "" : " (" + description + ")")
                + (detail == null || detail.isBlank() ? "" : " — " + detail));
        this.call = call;
        this.result = result;
        this.errorName = errorName;
    }

    /** The driver entry point that failed, e.g. {@code "cuMemAlloc_v2"}; null when no call failed. */
    public String call() {
        return call;
    }

    /** The raw {@code CUresult} (0 when no call failed). */
    public int result() {
        return result;
    }

    /** The result's name, e.g. {@code "CUDA_ERROR_OUT_OF_MEMORY"}; null when no call failed. */
    public String errorName() {
        return errorName;
    }
}
