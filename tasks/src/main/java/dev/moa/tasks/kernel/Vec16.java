package dev.moa.tasks.kernel;

/**
 * Sixteen bytes read by one vector load ({@code ld.global.nc.v4.b32}): four 32-bit words, element order
 * little-endian. In a compiled kernel it is four registers, never an object; the element index given to each
 * accessor must be a compile-time constant.
 */
public record Vec16(int w0, int w1, int w2, int w3) {
    /** 32-bit word {@code k} (0..3). */
    public int word(int k) {
        return switch (k) {
            case 0 -> w0;
            case 1 -> w1;
            case 2 -> w2;
            case 3 -> w3;
            default -> throw new IndexOutOfBoundsException("word " + k + " of a 16-byte vector");
        };
    }

    /** Float {@code k} (0..3). */
    public float f32(int k) {
        return Float.intBitsToFloat(word(k));
    }

    /** BF16 element {@code k} (0..7) widened to float. */
    public float bf16(int k) {
        int w = word(k >> 1);
        return Float.intBitsToFloat((k & 1) == 0 ? w << 16 : w & 0xFFFF0000);
    }

    /** IEEE half element {@code k} (0..7) widened to float. */
    public float f16(int k) {
        int w = word(k >> 1);
        return Float.float16ToFloat((short) ((k & 1) == 0 ? w : w >>> 16));
    }

    /** Four floats as one vector (four registers in a kernel): a tensor-core accumulator, say. */
    public static Vec16 ofFloats(float x0, float x1, float x2, float x3) {
        return new Vec16(Float.floatToRawIntBits(x0), Float.floatToRawIntBits(x1), Float.floatToRawIntBits(x2), Float.floatToRawIntBits(x3));
    }

    /** Four words as one vector: a tensor-core A fragment, say. */
    public static Vec16 ofWords(int w0, int w1, int w2, int w3) {
        return new Vec16(w0, w1, w2, w3);
    }

    /**
     * A little-endian int at any byte (one constant: a layout made per load looked its access handle up in the JDK's
     * cache, hashing the layout, at every load the emulator ran).
     */
    private static final java.lang.foreign.ValueLayout.OfInt WORD = java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    static Vec16 read(java.lang.foreign.MemorySegment memory, long byteOffset) {
        var layout = WORD;
        if (byteOffset % 16 != 0) throw new IllegalArgumentException("a 16-byte load needs a 16-byte aligned element, got byte offset " + byteOffset);
        return new Vec16(memory.get(layout, byteOffset), memory.get(layout, byteOffset + 4),
                memory.get(layout, byteOffset + 8), memory.get(layout, byteOffset + 12));
    }

    static Vec16 read8(java.lang.foreign.MemorySegment memory, long byteOffset) {
        var layout = WORD;
        if (byteOffset % 8 != 0) throw new IllegalArgumentException("an 8-byte load needs an 8-byte aligned element, got byte offset " + byteOffset);
        return new Vec16(memory.get(layout, byteOffset), memory.get(layout, byteOffset + 4), 0, 0);
    }
}
