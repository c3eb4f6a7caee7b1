package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import dev.moa.tasks.cuda.DeviceChoice;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code --device emulator} (the GPU program: the same task graph and kernels a CUDA device runs, in the kernel
 * emulator) against {@code --device cpu} on the demo model: the same greedy tokens, and every step's logits within
 * 1e-4 of the largest, for dense attention, a MoA plan, uniform spans and a sliding window whose ring wraps.
 */
class EmulatorDecodeTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");

    @Test
    void theGpuProgramDecodesAsTheCpuDoes() throws Exception {
        Random random = new Random(11);
        try (Model cpu = Model.load(DEMO); Model emulator = Model.load(DEMO, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""))) {
            assertTrue(emulator.device().startsWith("emulator"), emulator.device());
            for (String attention : new String[] {"dense", "moa:" + DEMO.resolve("moa-plan-50.json"), "uniform:0,0.5", "window:12"}) {
                int[] prompt = random.ints(70, 3, 2000).toArray(); // past one 64-token block: the block-sparse prefill
                int steps = 6;
                try (Session a = start(cpu, attention, steps); Session b = start(emulator, attention, steps)) {
                    float[] la = a.prefill(prompt), lb = b.prefill(prompt);
                    for (int t = 0; t < steps; t++) {
                        int token = Sampler.argmax(la);
                        assertEquals(token, Sampler.argmax(lb), attention + ": greedy token " + t);
                        la = a.decode(token);
                        lb = b.decode(token);
                        assertClose(la, lb, attention + ", step " + t);
                    }
                    assertEquals(a.position(), b.position());
                    // the device session's keys and values live on the device: its CPU cache made no storage for them
                    assertEquals(0, b.kvResidentBytes(), attention);
                    assertTrue(a.kvResidentBytes() > 0 && a.kvResidentBytes() <= a.kvCacheBytes(), attention); // (decode dropped the prompt's staging)
                }
            }
        }
    }

    private static Session start(Model model, String attention, int steps) {
        return model.newSession(200, 64, AttentionMode.parse(attention), steps + 2);
    }

    static void assertClose(float[] expected, float[] actual, String what) {
        assertClose(expected, actual, 1e-4, what);
    }

    /** Every logit within {@code tolerance} of the largest (or of 1). */
    static void assertClose(float[] expected, float[] actual, double tolerance, String what) {
        double largest = 0;
        for (float v : expected) largest = Math.max(largest, Math.abs(v));
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], tolerance * Math.max(1, largest), what + ": logit " + i);
        }
    }
}
