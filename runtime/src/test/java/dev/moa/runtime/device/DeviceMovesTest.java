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

    /**
     * A reserved KV pool whose free slots are scattered compacts for a new session (its regions moved down on the
     * device, the steps over their old places rebuilt): the sessions that moved, and the new one, decode as on the CPU.
     */
    @Test
    void aCompactedPoolKeepsEverySessionsCache() throws Exception {
        try (Model cpu = Model.load(EmulatorDecodeTest.DEMO); Model model = Model.load(EmulatorDecodeTest.DEMO, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""))) {
            Random random = new Random(41);
            AttentionMode dense = AttentionMode.parse("dense");
            KvPool pool = model.accelerator().orElseThrow().pool(model.kvFormat());
            long perPosition = (long) model.config().numLayers() * model.config().numKvHeads(); // a dense cache's slots per position
            pool.reserve(2 * pool.slotBytes() * perPosition * (64 + 120 + 120 + 64)); // a gap, a, b, and as much free at the end
            BatchDecoder batch = new BatchDecoder(model, 3);
            try (Session a = model.newSession(120, 64, dense, 8); Session b = model.newSession(120, 64, dense, 8);
                 Session a0 = cpu.newSession(120, 64, dense, 8); Session b0 = cpu.newSession(120, 64, dense, 8);
                 Session w = model.newSession(100, 64, dense, 8); Session w0 = cpu.newSession(100, 64, dense, 8)) {
                int[] pa = random.ints(50, 3, 2000).toArray(), pb = random.ints(60, 3, 2000).toArray(), pw = random.ints(40, 3, 2000).toArray();
                Session gap = model.newSession(64, 64, dense, 8);
                gap.prefill(random.ints(20, 3, 2000).toArray());
                int ta = Sampler.argmax(a.prefill(pa)), tb = Sampler.argmax(b.prefill(pb));
                a0.prefill(pa);
                b0.prefill(pb);
                float[][] rows = batch.step(List.of(a, b), new int[] {ta, tb});
                EmulatorDecodeTest.assertClose(a0.decode(ta), rows[0], "a before");
                EmulatorDecodeTest.assertClose(b0.decode(tb), rows[1], "b before");
                ta = Sampler.argmax(rows[0]);
                tb = Sampler.argmax(rows[1]);
                gap.close(); // 64 positions free before a, 64 after b: w's 100 fit only once a and b move down
                int generation = pool.generation();
                long slots = pool.slots();
                float[] lw = w.prefill(pw);
                EmulatorDecodeTest.assertClose(w0.prefill(pw), lw, "w's prompt, into the compacted pool");
                int tw = Sampler.argmax(lw);
                assertEquals(slots, pool.slots(), "compacted, not grown");
                assertTrue(pool.generation() > generation, "regions moved");
                for (int t = 0; t < 3; t++) {
                    rows = batch.step(List.of(a, b, w), new int[] {ta, tb, tw});
                    float[] ea = a0.decode(ta), eb = b0.decode(tb), ew = w0.decode(tw);
                    EmulatorDecodeTest.assertClose(ea, rows[0], "a after the compaction, step " + t);
                    EmulatorDecodeTest.assertClose(eb, rows[1], "b after the compaction, step " + t);
                    EmulatorDecodeTest.assertClose(ew, rows[2], "w, step " + t);
                    ta = Sampler.argmax(ea);
                    tb = Sampler.argmax(eb);
                    tw = Sampler.argmax(ew);
                }
            }
        }
    }
}
