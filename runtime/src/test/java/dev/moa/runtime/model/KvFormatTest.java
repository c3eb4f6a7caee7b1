package dev.moa.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.HeadSpans;
import dev.moa.plans.MoaPlan;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A BF16 KV cache is an F32 cache of the BF16-rounded keys and values in half the memory: given raw keys and values
 * it attends as an F32 cache given their rounding (to the last bits, which the JVM's SIMD lane sums may reorder), in prefill (a MoA cache's staged prompt, the dense
 * cache's slots) and in decode after the ring wraps; its bytes are half.
 */
class KvFormatTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");

    @Test
    void aBf16CacheAttendsAsAnF32CacheOfTheRoundedValues() throws Exception {
        ModelConfig c = ModelConfig.load(DEMO);
        int prompt = 150, steps = 300, capacity = prompt + steps; // the plan's rings wrap during decode
        HeadSpans spans = HeadSpans.of(MoaPlan.load(DEMO.resolve("moa-plan-50.json")), capacity);
        check(c, new DenseKvCache(c, capacity, KvFormat.F32), new DenseKvCache(c, capacity, KvFormat.BF16), prompt, capacity, "dense");
        check(c, new MoaKvCache(c, spans, prompt, KvFormat.F32), new MoaKvCache(c, spans, prompt, KvFormat.BF16), prompt, capacity, "moa");
    }

    private static void check(ModelConfig c, KvCache f32, KvCache bf16, int prompt, int end, String what) {
        assertEquals(KvFormat.BF16, bf16.format());
        assertEquals(f32.byteSize(), 2 * bf16.byteSize(), what + ": half the bytes");
        Random random = new Random(5);
        int kvDim = c.kvDim(), headDim = c.headDim();
        float[] q = new float[headDim], outF32 = new float[headDim], outBf16 = new float[headDim], scores = new float[end + 1];
        for (int p = 0; p < end; p++) {
            float[] k = new float[kvDim], v = new float[kvDim];
            for (int i = 0; i < kvDim; i++) {
                k[i] = (float) random.nextGaussian() * 3;
                v[i] = (float) random.nextGaussian();
            }
            float[] kr = k.clone(), vr = v.clone();
            KvFormat.BF16.round(kr, 0, kvDim);
            KvFormat.BF16.round(vr, 0, kvDim);
            for (int l = 0; l < c.numLayers(); l++) {
                f32.write(l, p, kr, 0, vr, 0);
                bf16.write(l, p, k, 0, v, 0);
            }
            // the prompt attends once it is all written (a chunk's keys come first); decode attends at each step
            int[] at = p < prompt - 1 ? new int[0] : p == prompt - 1 ? new int[] {0, 63, 64, 100, prompt - 1} : new int[] {p};
            for (int position : at) {
                for (int l = 0; l < c.numLayers(); l++) {
                    for (int h = 0; h < c.numHeads(); h++) {
                        for (int i = 0; i < headDim; i++) q[i] = (float) random.nextGaussian();
                        f32.attend(l, h, position, q, 0, outF32, 0, scores);
                        bf16.attend(l, h, position, q, 0, outBf16, 0, scores);
                        for (int i = 0; i < headDim; i++) { // the last bit may differ: SIMD lane sums reduce in tier-dependent order
                            assertEquals(outF32[i], outBf16[i], 1e-5 * Math.max(1, Math.abs(outF32[i])), what + ": layer " + l + " head " + h + " at " + position);
                        }
                    }
                }
            }
        }
    }

    @Test
    void roundingIsToNearestEvenAndExactOnceRounded() {
        assertEquals(1f, KvFormat.BF16.round(1f + 0x1p-9f), "a tie rounds to the even neighbour");
        assertEquals(1f + 0x1p-7f, KvFormat.BF16.round(1f + 0x1p-7f + 0x1p-9f), "a tie rounds to the even neighbour (up)");
        assertEquals(1f + 0x1p-7f, KvFormat.BF16.round(1f + 0x1p-8f + 0x1p-12f), "above the tie rounds up");
        float x = KvFormat.BF16.round(-3.14159f);
        assertEquals(x, KvFormat.BF16.round(x), "rounded values are exact");
        assertEquals(0.1f, KvFormat.F32.round(0.1f));
    }
}
