package dev.moa.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.loader.config.ModelConfig;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Paged KV storage made as it is written: against a flat array of the same rows (what the storage was before it was
 * paged), with rows of 24 values (pages not a power of two) over several pages, runs of rows crossing page
 * boundaries, rows never written reading as zeros, and the memory held growing with the pages written.
 */
class KvRowsTest {
    static final int ROW = 24;

    @Test
    void pagedRowsEqualFlatRowsAcrossPageBoundaries() {
        for (KvFormat format : KvFormat.values()) {
            int rows = 3 * KvRows.PAGE_VALUES / ROW + 7; // three whole pages and a short fourth
            KvRows paged = KvRows.allocate(format, (long) rows * ROW, ROW, "test rows");
            assertEquals(4, paged.pages(), format.toString());
            assertEquals(0, paged.residentBytes());
            float[] flat = new float[rows * ROW];
            Random random = new Random(3);
            int pageRows = paged.pageValues / ROW;
            // rows written: around the first and second page boundaries and in the short last page; page 2 never
            int[] written = {0, 1, pageRows - 2, pageRows - 1, pageRows, pageRows + 1, 3 * pageRows + 3};
            float[] row = new float[ROW];
            for (int r : written) {
                for (int i = 0; i < ROW; i++) row[i] = (float) random.nextGaussian();
                paged.put(r * ROW, row, 0, ROW);
                for (int i = 0; i < ROW; i++) flat[r * ROW + i] = format == KvFormat.BF16 ? KernelContext.bf16ToFloat(KernelContext.floatToBf16(row[i])) : row[i];
            }
            long pagesHeld = 2L * paged.pageValues + (rows * ROW - 3L * paged.pageValues); // pages 0, 1 and the short 3; 2 not
            assertEquals(pagesHeld * format.bytes(), paged.residentBytes(), format.toString());

            float[] q = new float[ROW];
            for (int i = 0; i < ROW; i++) q[i] = (float) random.nextGaussian();
            int from = pageRows - 3, count = 6; // a run over the first boundary
            float[] scores = new float[count + 2];
            paged.dots(q, 0, from * ROW, count, ROW, 0.5f, scores, 2);
            for (int r = 0; r < count; r++) {
                float expected = 0;
                for (int i = 0; i < ROW; i++) expected += q[i] * flat[(from + r) * ROW + i];
                assertEquals(expected * 0.5f, scores[2 + r], 1e-5, format + ": score of row " + (from + r));
            }
            float[] out = new float[ROW], expectedOut = new float[ROW];
            paged.addScaled(scores, 2, from * ROW, count, ROW, out, 0);
            for (int r = 0; r < count; r++) for (int i = 0; i < ROW; i++) expectedOut[i] += scores[2 + r] * flat[(from + r) * ROW + i];
            assertArrayEquals(expectedOut, out, 1e-5f, format + ": weighted sum over the boundary");
            paged.dots(q, 0, 2 * pageRows * ROW + 5 * ROW, 3, ROW, 1f, scores, 0); // rows of the page never written
            assertArrayEquals(new float[] {0, 0, 0}, java.util.Arrays.copyOf(scores, 3));

            float[] read = new float[ROW];
            paged.read(pageRows * ROW, read, 0, ROW);
            assertArrayEquals(java.util.Arrays.copyOfRange(flat, pageRows * ROW, pageRows * ROW + ROW), read);

            // a copy out and back in over every page, written or not, is the flat array, and the copy back makes the pages it fills
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment memory = arena.allocate((long) (rows * ROW + 10) * format.bytes());
                memory.fill((byte) 0x55); // not zero: pages never written must be copied out as zeros
                paged.copyTo(0, rows * ROW, memory, 10);
                for (int i = 0; i < rows * ROW; i++) assertEquals(flat[i], valueAt(memory, format, 10 + i), format + ": value " + i);
                KvRows back = KvRows.allocate(format, (long) rows * ROW, ROW, "test rows");
                back.copyFrom(memory, 10, 0, rows * ROW);
                assertEquals(back.byteSize(), back.residentBytes());
                float[] again = new float[ROW];
                for (int r : written) {
                    back.read(r * ROW, again, 0, ROW);
                    assertArrayEquals(java.util.Arrays.copyOfRange(flat, r * ROW, r * ROW + ROW), again);
                }
            }
        }
    }

    private static float valueAt(MemorySegment memory, KvFormat format, long index) {
        return format == KvFormat.BF16 ? KernelContext.bf16ToFloat(memory.get(ValueLayout.JAVA_SHORT, index * 2))
                : memory.get(ValueLayout.JAVA_FLOAT, index * 4);
    }

    @Test
    void aDenseCacheHoldsMemoryForThePositionsWrittenNotItsCapacity() {
        ModelConfig config = ModelConfig.parse(com.google.gson.JsonParser.parseString(
                "{\"model_type\":\"llama\",\"hidden_size\":256,\"intermediate_size\":512,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                        + "\"num_key_value_heads\":2,\"head_dim\":64,\"vocab_size\":100,\"max_position_embeddings\":65536}").getAsJsonObject(), "test");
        DenseKvCache cache = new DenseKvCache(config, 65_536, KvFormat.BF16);
        assertEquals(0, cache.residentBytes());
        float[] k = new float[config.kvDim()], v = new float[config.kvDim()];
        for (int p = 0; p < 100; p++) for (int l = 0; l < 2; l++) cache.write(l, p, k, 0, v, 0);
        long page = (long) KvRows.PAGE_VALUES / 64 * 64 * KvFormat.BF16.bytes();
        assertEquals(2L * 2 * 2 * page, cache.residentBytes(), "one page per layer, KV head, keys and values");
        assertTrue(cache.residentBytes() * 8 <= cache.byteSize(), cache.residentBytes() + " of " + cache.byteSize());
    }
}
