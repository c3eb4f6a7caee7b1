package dev.moa.loader.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsFileTest {
    @TempDir
    Path dir;

    private static byte[] floats(float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return b.array();
    }

    /** A file with the given header text and data bytes, written byte for byte. */
    private Path rawFile(String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path file = dir.resolve("model.safetensors");
        Files.write(file, b.array());
        return file;
    }

    private String errorOf(Path modelDir) {
        return assertThrows(SafetensorsException.class, () -> WeightFiles.open(modelDir).close()).getMessage();
    }

    @Test
    void writesAndMapsTensorsOfEveryDtype() throws IOException {
        SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(
                SafetensorsWriter.Entry.of("a", DType.F32, new long[] {2, 2}, floats(1, 2, 3, 4)),
                SafetensorsWriter.Entry.of("b", DType.BF16, new long[] {3}, new byte[] {0, 0x3f, (byte) 0x80, 0x3f, 0, (byte) 0xc0}),
                SafetensorsWriter.Entry.of("c", DType.F16, new long[] {1}, new byte[] {0, 0x3c})));
        try (WeightFiles files = WeightFiles.open(dir)) {
            Tensor a = files.tensor("a");
            assertEquals(DType.F32, a.dtype());
            assertArrayEquals(new long[] {2, 2}, a.shape());
            assertEquals(3f, a.data().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2));
            assertEquals(DType.BF16, files.tensor("b").dtype());
            assertEquals(6, files.tensor("b").data().byteSize());
            assertEquals(DType.F16, files.tensor("c").dtype());
            assertEquals(16 + 6 + 2, files.totalBytes());
            assertTrue(errorOfMissing(files).contains("'nope' not found"));
        }
    }

    private static String errorOfMissing(WeightFiles files) {
        return assertThrows(SafetensorsException.class, () -> files.tensor("nope")).getMessage();
    }

    @Test
    void closingUnmapsTheFile() throws IOException {
        SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(
                SafetensorsWriter.Entry.of("a", DType.F32, new long[] {1}, floats(1))));
        WeightFiles files = WeightFiles.open(dir);
        Tensor a = files.tensor("a");
        files.close();
        assertThrows(IllegalStateException.class, () -> a.data().get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void truncatedFileIsReportedWithTensorName() throws IOException {
        rawFile("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12);
        String message = errorOf(dir);
        assertTrue(message.contains("'w'") && message.contains("truncated"), message);
    }

    @Test
    void shapeThatDisagreesWithOffsets() throws IOException {
        rawFile("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3,3],\"data_offsets\":[0,16]}}", 16);
        String message = errorOf(dir);
        assertTrue(message.contains("needs 18 bytes") && message.contains("span 16"), message);
    }

    @Test
    void unsupportedDtypeNamesSupportedOnes() throws IOException {
        rawFile("{\"w\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
        String message = errorOf(dir);
        assertTrue(message.contains("unsupported dtype \"I8\"") && message.contains("BF16"), message);
    }

    @Test
    void overlappingTensors() throws IOException {
        rawFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
        String message = errorOf(dir);
        assertTrue(message.contains("overlap"), message);
    }

    @Test
    void corruptHeaderLengthAndJson() throws IOException {
        Path file = dir.resolve("model.safetensors");
        Files.write(file, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array());
        assertTrue(errorOf(dir).contains("header length"));
        Files.write(file, new byte[] {1, 2, 3});
        assertTrue(errorOf(dir).contains("too short"));
        rawFile("{\"w\": [1, 2", 0);
        assertTrue(errorOf(dir).contains("not valid JSON"));
        rawFile("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
        assertTrue(errorOf(dir).contains("not a non-negative integer"));
        rawFile("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4);
        assertTrue(errorOf(dir).contains("not a non-negative integer"));
        rawFile("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4);
        assertTrue(errorOf(dir).contains("data_offsets"));
    }

    /** Gson's tree keeps the last of two equal names: a second entry for a tensor must be an error, not a silent win. */
    @Test
    void aTensorNamedTwiceOrJsonPythonWouldRejectIsAnError() throws IOException {
        rawFile("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
        String message = errorOf(dir);
        assertTrue(message.contains("\"w\" appears twice") && message.contains("line 1"), message);
        for (String header : new String[] {"{\"w\": 1} trailing", "{/* c */ \"w\": 1}", "{w: 1}", "{'w': 1}"}) {
            rawFile(header, 0);
            String m = errorOf(dir);
            assertTrue(m.contains("not valid JSON") && !m.contains("LENIENT") && !m.contains("com.google") && !m.contains("https://"), header + " -> " + m);
        }
        Files.delete(dir.resolve("model.safetensors"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"x.safetensors\", \"a\": \"y.safetensors\"}}");
        String index = errorOf(dir);
        assertTrue(index.contains("\"a\" appears twice"), index);
    }

    @Test
    void missingWeightsAreNamed() {
        assertTrue(errorOf(dir).contains("no model.safetensors or model.safetensors.index.json"));
    }

    @Test
    void shardedIndexResolvesTensorsAcrossFiles() throws IOException {
        SafetensorsWriter.write(dir.resolve("part-1.safetensors"), List.of(
                SafetensorsWriter.Entry.of("a", DType.F32, new long[] {1}, floats(1))));
        SafetensorsWriter.write(dir.resolve("part-2.safetensors"), List.of(
                SafetensorsWriter.Entry.of("b", DType.F32, new long[] {2}, floats(2, 3))));
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"metadata\":{\"total_size\":12},\"weight_map\":{\"a\":\"part-1.safetensors\",\"b\":\"part-2.safetensors\"}}");
        try (WeightFiles files = WeightFiles.open(dir)) {
            assertEquals(2, files.names().size());
            assertEquals(8, files.tensor("b").data().byteSize());
        }
    }

    @Test
    void shardedIndexErrors() throws IOException {
        SafetensorsWriter.write(dir.resolve("part-1.safetensors"), List.of(
                SafetensorsWriter.Entry.of("a", DType.F32, new long[] {1}, floats(1))));
        Path index = dir.resolve("model.safetensors.index.json");
        Files.writeString(index, "{\"weight_map\":{\"a\":\"part-9.safetensors\"}}");
        assertTrue(errorOf(dir).contains("shard 'part-9.safetensors'"));
        Files.writeString(index, "{\"weight_map\":{\"zz\":\"part-1.safetensors\"}}");
        assertTrue(errorOf(dir).contains("'zz'"));
        Files.writeString(index, "{\"weight_map\":{\"a\":\"../outside.safetensors\"}}");
        assertTrue(errorOf(dir).contains("does not exist"));
        Files.writeString(index, "{\"weights\":{}}");
        assertTrue(errorOf(dir).contains("weight_map"));
    }

    @Test
    void writerRejectsWrongByteCount() {
        assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.Entry.of("a", DType.F16, new long[] {3}, new byte[4]));
    }
}
