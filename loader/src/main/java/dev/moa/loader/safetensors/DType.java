package dev.moa.loader.safetensors;

import java.util.Arrays;
import java.util.stream.Collectors;

/** Element types the runtime reads from safetensors files, with their on-disk size. */
public enum DType {
    F32(4), F16(2), BF16(2);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    public int byteSize() {
        return byteSize;
    }

    /** Parses the safetensors dtype string; anything we cannot compute with is a clear error. */
    public static DType fromSafetensors(String name, String where) {
        for (DType t : values()) {
            if (t.name().equals(name)) return t;
        }
        throw new SafetensorsException(where + ": unsupported dtype \"" + name + "\" (supported: "
                + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", ")) + ")");
    }
}
