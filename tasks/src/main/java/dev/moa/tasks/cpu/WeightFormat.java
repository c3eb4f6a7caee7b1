package dev.moa.tasks.cpu;

/** How a weight matrix is stored in memory. 16-bit formats are widened to F32 inside the kernels. */
public enum WeightFormat {
    F32(4), F16(2), BF16(2);

    private final int byteSize;

    WeightFormat(int byteSize) {
        this.byteSize = byteSize;
    }

    public int byteSize() {
        return byteSize;
    }
}
