package dev.moa.runtime.device;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.BatchDecoder;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.model.KvFormat;
import dev.moa.tasks.cuda.DeviceChoice;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Sessions changing device steps as the batch changes (together, each alone, together in the other order) keep
 * their caches in their regions of the KV pool, in both cache formats: every step's logits equal those of the same
 * sessions decoding alone throughout, within 1e-4 of the largest. A session's CPU cache holds only its prompt, so a
 * step that took the cache from there would lose the decoded tokens.
 */
class DeviceMovesTest {
    @Test
    void sessionsMovingBetweenStepsKeepTheirCaches() throws Exception {
        for (KvFormat format : KvFormat.values()) {
            try (Model model = Model.load(EmulatorDecodeTest.DEMO, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""), format)) {
                Random random = new Random(31);
                int[] pa = random.ints(40, 3, 2000).toArray(), pb = random.ints(70, 3, 2000).toArray();
                AttentionMode plan = AttentionMode.parse("moa:" + EmulatorDecodeTest.DEMO.resolve("moa-plan-50.json"));
                int steps = 8;
                // the reference: each session alone on the device throughout
                int[][] tokens = new int[2][steps];
                float[][][] expected = new float[2][steps][];
                for (int i = 0; i < 2; i++) {
                    try (Session s = model.newSession(200, 64, i == 0 ? AttentionMode.parse("dense") : plan, steps + 1)) {
                        float[] logits = s.prefill(i == 0 ? pa : pb);
                        for (int t = 0; t < steps; t++) {
                            tokens[i][t] = Sampler.argmax(logits);
                            logits = s.decode(tokens[i][t]);
                            expected[i][t] = logits.clone();
                        }
                    }
                }
                // together (2 steps), a alone, b alone, together in the other order, a alone again
                BatchDecoder batch = new BatchDecoder(model, 2);
                try (Session a = model.newSession(200, 64, AttentionMode.parse("dense"), steps + 1);
                     Session b = model.newSession(200, 64, plan, steps + 1)) {
                    a.prefill(pa);
                    b.prefill(pb);
                    int ta = 0, tb = 0;
                    for (int t = 0; t < 2; t++, ta++, tb++) {
                        float[][] rows = batch.step(List.of(a, b), new int[] {tokens[0][ta], tokens[1][tb]});
                        EmulatorDecodeTest.assertClose(expected[0][ta], rows[0], format + ": a in the batch, step " + ta);
                        EmulatorDecodeTest.assertClose(expected[1][tb], rows[1], format + ": b in the batch, step " + tb);
                    }
                    EmulatorDecodeTest.assertClose(expected[0][ta], a.decode(tokens[0][ta]), format + ": a alone, step " + ta++);
                    EmulatorDecodeTest.assertClose(expected[1][tb], b.decode(tokens[1][tb]), format + ": b alone, step " + tb++);
                    for (int t = 0; t < 2; t++, ta++, tb++) {
                        float[][] rows = batch.step(List.of(b, a), new int[] {tokens[1][tb], tokens[0][ta]});
                        EmulatorDecodeTest.assertClose(expected[1][tb], rows[0], format + ": b first in the batch, step " + tb);
                        EmulatorDecodeTest.assertClose(expected[0][ta], rows[1], format + ": a second in the batch, step " + ta);
                    }
                    EmulatorDecodeTest.assertClose(expected[0][ta], a.decode(tokens[0][ta]), format + ": a alone again, step " + ta);
                }
            }
        }
    }
}
