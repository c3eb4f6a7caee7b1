package dev.moa.loader.safetensors;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.moa.loader.io.InputFiles;
import dev.moa.loader.json.StrictJson;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One memory-mapped {@code .safetensors} file: an 8-byte little-endian header length, a JSON header
 * {@code {name: {dtype, shape, data_offsets: [begin, end]}}}, then the raw tensor bytes.
 *
 * <p>Everything the header claims is checked before any tensor is handed out, so a corrupt or truncated
 * file is a {@link SafetensorsException} naming the file and tensor, never an out-of-bounds read.
 */
public final class SafetensorsFile {
    /** Real headers are a few MB at most; anything larger is a corrupt length field, not a header. */
    static final long MAX_HEADER_BYTES = 100L << 20;

    private final Path path;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.path = path;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps the file into {@code arena}; the tensors stay readable until the arena is closed. */
    public static SafetensorsFile open(Path path, Arena arena) throws IOException {
        InputFiles.checkRegular(path, Long.MAX_VALUE); // a pipe or a broken link is named, not opened
        MemorySegment file;
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            file = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
        }
        return parse(path, file);
    }

    static SafetensorsFile parse(Path path, MemorySegment file) {
        long size = file.byteSize();
        if (size < 8) {
            throw new SafetensorsException(path + ": file is " + size + " bytes, too short for the 8-byte header length");
        }
        long headerLength = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES || headerLength > size - 8) {
            throw new SafetensorsException(path + ": header length " + headerLength
                    + " is not between 1 and min(" + MAX_HEADER_BYTES + ", file size " + size + " - 8); the file is corrupt or truncated");
        }
        JsonObject header;
        try {
            header = StrictJson.parseObject(InputFiles.utf8(file.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE), "header"));
        } catch (java.io.IOException e) {
            throw new SafetensorsException(path + ": " + e.getMessage(), e);
        } catch (StrictJson.Error e) {
            throw new SafetensorsException(path + ": header is not valid JSON (" + e.getMessage() + ")", e);
        }

        MemorySegment data = file.asSlice(8 + headerLength);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = Map.of();
        List<long[]> ranges = new ArrayList<>();
        List<String> rangeOwners = new ArrayList<>();
        for (Map.Entry<String, JsonElement> entry : header.entrySet()) {
            String name = entry.getKey();
            if (name.equals("__metadata__")) {
                metadata = parseMetadata(path, entry.getValue());
                continue;
            }
            String where = path + ": tensor '" + name + "'";
            if (!entry.getValue().isJsonObject()) {
                throw new SafetensorsException(where + ": expected an object {dtype, shape, data_offsets}");
            }
            JsonObject info = entry.getValue().getAsJsonObject();
            DType dtype = DType.fromSafetensors(string(info, "dtype", where), where);
            long[] shape = longs(info, "shape", where);
            long[] offsets = longs(info, "data_offsets", where);
            if (offsets.length != 2) {
                throw new SafetensorsException(where + ": data_offsets must be [begin, end], got " + offsets.length + " numbers");
            }
            long begin = offsets[0], end = offsets[1];
            if (begin > end || end > data.byteSize()) {
                throw new SafetensorsException(where + ": data_offsets [" + begin + ", " + end + "] lie outside the "
                        + data.byteSize() + " data bytes of the file (truncated or corrupt file)");
            }
            long expectedBytes;
            try {
                expectedBytes = Math.multiplyExact(Tensor.elementCount(shape), dtype.byteSize());
            } catch (ArithmeticException e) {
                throw new SafetensorsException(where + ": shape " + java.util.Arrays.toString(shape) + " overflows");
            }
            if (end - begin != expectedBytes) {
                throw new SafetensorsException(where + ": shape " + java.util.Arrays.toString(shape) + " x " + dtype
                        + " needs " + expectedBytes + " bytes but data_offsets span " + (end - begin));
            }
            ranges.add(offsets);
            rangeOwners.add(name);
            tensors.put(name, new Tensor(name, dtype, shape, data.asSlice(begin, end - begin)));
        }
        checkNoOverlap(path, ranges, rangeOwners);
        return new SafetensorsFile(path, Collections.unmodifiableMap(tensors), metadata);
    }

    private static void checkNoOverlap(Path path, List<long[]> ranges, List<String> owners) {
        Integer[] order = new Integer[ranges.size()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        java.util.Arrays.sort(order, Comparator.comparingLong(i -> ranges.get(i)[0]));
        for (int k = 1; k < order.length; k++) {
            long[] previous = ranges.get(order[k - 1]);
            long[] current = ranges.get(order[k]);
            if (current[0] < previous[1] && current[1] > current[0]) {
                throw new SafetensorsException(path + ": tensors '" + owners.get(order[k - 1]) + "' and '"
                        + owners.get(order[k]) + "' overlap in the file (data_offsets " + java.util.Arrays.toString(previous)
                        + " and " + java.util.Arrays.toString(current) + ")");
            }
        }
    }

    private static Map<String, String> parseMetadata(Path path, JsonElement element) {
        if (!element.isJsonObject()) {
            throw new SafetensorsException(path + ": __metadata__ must be an object of strings");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : element.getAsJsonObject().entrySet()) {
            if (!e.getValue().isJsonPrimitive()) {
                throw new SafetensorsException(path + ": __metadata__." + e.getKey() + " must be a string");
            }
            metadata.put(e.getKey(), e.getValue().getAsString());
        }
        return Collections.unmodifiableMap(metadata);
    }

    private static String string(JsonObject info, String field, String where) {
        JsonElement e = info.get(field);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new SafetensorsException(where + ": field '" + field + "' must be a string");
        }
        return e.getAsString();
    }

    private static long[] longs(JsonObject info, String field, String where) {
        JsonElement e = info.get(field);
        if (e == null || !e.isJsonArray()) {
            throw new SafetensorsException(where + ": field '" + field + "' must be an array of non-negative integers");
        }
        var array = e.getAsJsonArray();
        long[] values = new long[array.size()];
        for (int i = 0; i < values.length; i++) {
            JsonElement v = array.get(i);
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) {
                throw new SafetensorsException(where + ": " + field + "[" + i + "] is not a number");
            }
            java.math.BigDecimal d = v.getAsBigDecimal();
            if (d.signum() < 0 || d.stripTrailingZeros().scale() > 0 || d.compareTo(java.math.BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
                throw new SafetensorsException(where + ": " + field + "[" + i + "] = " + v + " is not a non-negative integer");
            }
            values[i] = d.longValueExact();
        }
        return values;
    }

    public Path path() {
        return path;
    }

    /** Tensors in header order. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }
}
