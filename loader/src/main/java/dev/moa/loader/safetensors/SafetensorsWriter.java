package dev.moa.loader.safetensors;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/** Writes a {@code .safetensors} file: header padded to 8 bytes, tensors contiguous in the given order. */
public final class SafetensorsWriter {
    /** Counts what a tensor writes, so a wrong byte count is caught before the file is used. */
    private static final class CountingStream extends java.io.FilterOutputStream {
        long count;

        CountingStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }

    /** Streams a tensor's raw little-endian bytes; must write exactly elements × dtype size bytes. */
    @FunctionalInterface
    public interface Bytes {
        void writeTo(OutputStream out) throws IOException;
    }

    /** A tensor to write: {@code shape} elements of {@code dtype}, produced by {@code bytes}. */
    public record Entry(String name, DType dtype, long[] shape, Bytes bytes) {
        public static Entry of(String name, DType dtype, long[] shape, byte[] data) {
            long expected = Tensor.elementCount(shape) * dtype.byteSize();
            if (data.length != expected) {
                throw new IllegalArgumentException(name + ": " + data.length + " bytes for shape "
                        + Arrays.toString(shape) + " x " + dtype + " (expected " + expected + ")");
            }
            return new Entry(name, dtype, shape, out -> out.write(data));
        }

        public long byteSize() {
            return Tensor.elementCount(shape) * dtype.byteSize();
        }
    }

    private SafetensorsWriter() {
    }

    public static void write(Path file, List<Entry> entries) throws IOException {
        write(file, java.util.Map.of(), entries);
    }

    /** As {@link #write(Path, List)}, with string metadata in the header's {@code __metadata__} beside "format". */
    public static void write(Path file, java.util.Map<String, String> extraMetadata, List<Entry> entries) throws IOException {
        JsonObject header = new JsonObject();
        JsonObject metadata = new JsonObject();
        metadata.addProperty("format", "pt");
        new java.util.TreeMap<>(extraMetadata).forEach(metadata::addProperty);
        header.add("__metadata__", metadata);
        long offset = 0;
        for (Entry e : entries) {
            JsonObject info = new JsonObject();
            info.addProperty("dtype", e.dtype().name());
            JsonArray shape = new JsonArray();
            for (long d : e.shape()) shape.add(d);
            info.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(offset);
            offsets.add(offset + e.byteSize());
            info.add("data_offsets", offsets);
            header.add(e.name(), info);
            offset += e.byteSize();
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] headerBytes = Arrays.copyOf(json, padded);
        Arrays.fill(headerBytes, json.length, padded, (byte) ' ');
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
            out.write(headerBytes);
            for (Entry e : entries) {
                var counting = new CountingStream(out);
                e.bytes().writeTo(counting);
                if (counting.count != e.byteSize()) {
                    throw new IOException(file + ": tensor '" + e.name() + "' wrote " + counting.count + " bytes, expected " + e.byteSize());
                }
            }
        }
    }
}
