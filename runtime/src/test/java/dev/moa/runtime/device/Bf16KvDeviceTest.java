package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.BatchDecoder;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.model.KvFormat;
import dev.moa.tasks.cuda.DeviceChoice;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * BF16 KV caches on the device ({@code --device emulator}: the GPU program's kernels reading and writing 16-bit
 * caches) against BF16 caches on the CPU, on the demo model: the prompt on the device (its keys and values rounded
 * where the CPU's cache rounds them) and decode steps after it, in dense, MoA-plan and window attention (the window's
 * ring wraps), then a batch of sessions stepping together — the same greedy tokens and logits within
 * {@link DeviceCheck#tolerance} of the largest (why not 1e-4 is said there), and the worst difference under a quarter
 * of what BF16 rounding itself moves the logits (F32 against BF16 caches on the CPU): a device that stored or read
 * unrounded values would differ by about that much. When written: 6.7e-4 against 1.5e-2. Each session's cache is half
 * the F32 one.
 */
class Bf16KvDeviceTest {
    static final Path DEMO = EmulatorDecodeTest.DEMO;
    static final double TOLERANCE = DeviceCheck.tolerance(KvFormat.BF16);
    /** The largest device-vs-CPU logit difference (relative to the largest logit), and BF16's own effect: F32 vs BF16 caches on the CPU. */
    private double worst, quantization;

    private static double relative(float[] expected, float[] actual) {
        double largest = 1, diff = 0;
        for (float v : expected) largest = Math.max(largest, Math.abs(v));
        for (int i = 0; i < expected.length; i++) diff = Math.max(diff, Math.abs(expected[i] - actual[i]));
        return diff / largest;
    }

    private void track(float[] expected, float[] actual) {
        worst = Math.max(worst, relative(expected, actual));
    }

    @Test
    void bf16CachesOnTheDeviceDecodeAsBf16CachesOnTheCpu() throws Exception {
        Random random = new Random(29);
        String plan = "moa:" + DEMO.resolve("moa-plan-50.json");
        Object[][] cases = {{"dense", 37}, {plan, 150}, {"window:16", 90}};
        DeviceChoice emulator = new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""), cpu = new DeviceChoice(DeviceChoice.Kind.CPU, "");
        try (Model a = Model.load(DEMO, cpu, KvFormat.BF16); Model b = Model.load(DEMO, emulator, KvFormat.BF16); Model f32 = Model.load(DEMO)) {
            for (Object[] c : cases) {
                String mode = (String) c[0];
                int length = (Integer) c[1], steps = 5;
                int[] prompt = random.ints(length, 3, 2000).toArray();
                AttentionMode attention = AttentionMode.parse(mode);
                try (Session sa = a.newSession(length + steps + 1, 64, attention, steps + 1);
                     Session sb = b.newSession(length + steps + 1, 64, attention, steps + 1);
                     Session sf = f32.newSession(length + steps + 1, 64, attention, steps + 1)) {
                    String what = mode + ", " + length + "-token prompt, BF16 cache";
                    float[] la = sa.prefill(prompt), lb = sb.prefill(prompt), lf = sf.prefill(prompt);
                    quantization = Math.max(quantization, relative(lf, la));
                    track(la, lb);
                    EmulatorDecodeTest.assertClose(la, lb, TOLERANCE, what + ": last logits");
                    assertEquals(sf.kvCacheBytes(), 2 * sb.kvCacheBytes(), what + ": half the F32 cache");
                    for (int t = 0; t < steps; t++) {
                        int token = Sampler.argmax(la);
                        assertEquals(token, Sampler.argmax(lb), what + ": greedy token " + t);
                        la = sa.decode(token);
                        lb = sb.decode(token);
                        quantization = Math.max(quantization, relative(sf.decode(token), la));
                        track(la, lb);
                        EmulatorDecodeTest.assertClose(la, lb, TOLERANCE, what + ", step " + t);
                    }
                }
            }

            // three sessions of different modes and lengths in one device step, as each alone on the CPU
            List<Session> alone = new ArrayList<>(), together = new ArrayList<>();
            String[] modes = {"dense", plan, "window:16"};
            int[] tokens = new int[modes.length];
            int steps = 4;
            for (int i = 0; i < modes.length; i++) {
                int[] prompt = random.ints(40 + 30 * i, 3, 2000).toArray();
                Session s = a.newSession(prompt.length + steps + 1, 64, AttentionMode.parse(modes[i]), steps + 1);
                Session d = b.newSession(prompt.length + steps + 1, 64, AttentionMode.parse(modes[i]), steps + 1);
                tokens[i] = Sampler.argmax(s.prefill(prompt));
                d.prefill(prompt);
                alone.add(s);
                together.add(d);
            }
            BatchDecoder batch = new BatchDecoder(b, modes.length);
            for (int t = 0; t < steps; t++) {
                float[][] logits = batch.step(together, tokens);
                for (int i = 0; i < modes.length; i++) {
                    float[] expected = alone.get(i).decode(tokens[i]);
                    track(expected, logits[i]);
                    EmulatorDecodeTest.assertClose(expected, logits[i], TOLERANCE, modes[i] + " in a batch, step " + t);
                    assertEquals(Sampler.argmax(expected), Sampler.argmax(logits[i]), modes[i] + " in a batch, greedy token " + t);
                    tokens[i] = Sampler.argmax(expected);
                }
            }
            for (Session s : alone) s.close();
            for (Session s : together) s.close();
            System.out.printf("BF16 caches, emulator vs CPU: worst logit difference %.2e of the largest; F32 vs BF16 caches on the CPU: %.2e%n",
                    worst, quantization);
            // the device rounds where the CPU does: what is left is far below what rounding itself changes
            assertTrue(worst < quantization / 4, "the device's BF16 caches differ from the CPU's by " + worst + ", BF16 itself moves logits by " + quantization);
        }
    }
}
