package dev.moa.loader.safetensors;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One stored tensor: its name, element type, shape and the bytes, memory-mapped straight from the file
 * (little-endian, row-major). The segment stays valid until the owning {@link WeightFiles} is closed.
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {

    public long elementCount() {
        return elementCount(shape);
    }

    /** Elements of a tensor of this shape (1 for a scalar). */
    public static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i];
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + shapeString();
    }
}
