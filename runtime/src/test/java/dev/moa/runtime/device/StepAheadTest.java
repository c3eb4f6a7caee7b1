package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.BatchDecoder;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.DeviceBuffer;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Greedy steps queued one ahead ({@link DeviceDecoder#decodeGreedy} with {@link Accelerator#stepAhead}): the argmax
 * moves each row's step on to its token on the device, and the host queues the next replay before it reads this one's
 * tokens. On the GPU program in the emulator, behind a backend that plays a device running apart from the host (a
 * queued graph's read-back reaches the host copy only when awaited, as page-locked copies do): the tokens are those of
 * steps run one by one (on the CPU), in every attention mode, for one session and a batch, when the host feeds a token other than
 * the one queued, and up to the last position a session holds; and every step after the first is one replay queued
 * before the wait for the step before it, with nothing uploaded.
 */
class StepAheadTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");
    /**
     * The demo model on the CPU (whose tokens the device's steps one by one give: EmulatorDecodeTest, MixedBatchTest), and
     * behind {@link #backend}, steps queued ahead.
     */
    static Model plain, ahead;
    static final Apart backend = new Apart();

    @org.junit.jupiter.api.BeforeAll
    static void load() throws Exception {
        plain = Model.load(DEMO);
        ahead = Model.load(DEMO, backend);
        ahead.accelerator().orElseThrow().stepAhead(true);
    }

    @org.junit.jupiter.api.AfterAll
    static void close() {
        plain.close();
        ahead.close();
    }

    @org.junit.jupiter.api.BeforeEach
    void fresh() {
        backend.poisonRow = -1;
        backend.poisonPosition = -1;
        backend.log.clear();
    }

    @Test
    void oneSessionDecodesAsStepByStepInEveryMode() throws Exception {
        Random random = new Random(31);
        String[] modes = {"dense", "moa:" + DEMO.resolve("moa-plan-50.json"), "uniform:0,0.5"};
        int steps = 6;
        {
            for (String mode : modes) {
                int[] prompt = random.ints(30 + random.nextInt(20), 3, 2000).toArray();
                int capacity = prompt.length + steps; // (dense: the last step's next position is past it, nothing queued then)
                try (Session a = plain.newSession(capacity, 64, AttentionMode.parse(mode), steps);
                     Session b = ahead.newSession(capacity, 64, AttentionMode.parse(mode), steps)) {
                    int ta = Sampler.argmax(a.prefill(prompt)), tb = Sampler.argmax(b.prefill(prompt));
                    assertEquals(ta, tb, mode + ": the prompt's token");
                    for (int t = 0; t < steps; t++) {
                        int fed = t == 3 ? (ta + 17) % 2000 : ta; // once a token other than the argmax: the step queued is not taken
                        backend.log.clear();
                        ta = a.decodeGreedy(fed);
                        tb = b.decodeGreedy(fed);
                        assertEquals(ta, tb, mode + ", step " + t);
                        // (a dense cache ends at the session's capacity; a sparse one's rings reach the model's last position)
                        boolean last = t == steps - 1 && mode.equals("dense"), taken = t > 0 && t != 3;
                        List<String> expected = new ArrayList<>();
                        if (t == 3) expected.add("await"); // (the step queued ahead waited for, and dropped)
                        if (!taken) expected.add("enqueue 1"); // (the step buffer)
                        if (!last) expected.add("enqueue 0"); // (nothing: the argmax moved the step on)
                        expected.add("await");
                        assertEquals(expected, backend.log, mode + ", step " + t + (taken ? ": the step queued ahead taken" : "")
                                + (last ? ", none queued past the session's last position" : ", the next queued before the wait"));
                    }
                    // the device's logits are the step queued ahead's: none given for a row that moved on in it
                    float[] logits = b.deviceStep().orElseThrow().logits()[0];
                    assertEquals(mode.equals("dense"), logits != null, mode + ": the last step's logits, given only where nothing was queued");
                }
            }
        }
    }

    /**
     * A session whose next step was queued and not taken goes on with a continuation of its own (a chat's next turn:
     * prefilled token by token, each step's logits read), then greedily again, as on the CPU: the step not taken wrote
     * only the slot the continuation's first token writes.
     */
    @Test
    void aContinuationAfterAStepNotTakenDecodesAsTheCpu() throws Exception {
        Random random = new Random(35);
        int[] prompt = random.ints(20, 3, 2000).toArray(), turn = random.ints(5, 3, 2000).toArray();
        try (Session a = plain.newSession(200, 64, AttentionMode.parse("window:16"), 60);
             Session b = ahead.newSession(200, 64, AttentionMode.parse("window:16"), 60)) {
            int ta = Sampler.argmax(a.prefill(prompt)), tb = Sampler.argmax(b.prefill(prompt));
            for (int t = 0; t < 6; t++) {
                ta = a.decodeGreedy(ta);
                tb = b.decodeGreedy(tb);
                assertEquals(ta, tb, "step " + t);
            }
            EmulatorDecodeTest.assertClose(a.prefill(turn), b.prefill(turn), "the continuation's last logits");
            ta = tb = 9;
            for (int t = 0; t < 3; t++) {
                ta = a.decodeGreedy(ta);
                tb = b.decodeGreedy(tb);
                assertEquals(ta, tb, "after the continuation, step " + t);
            }
        }
    }

    /**
     * A batch of sessions in different modes through {@link BatchDecoder#stepGreedy} (saying the same sessions step
     * next: a batch queues ahead only then), and a session leaving it; a batch that does not say so queues nothing.
     */
    @Test
    void aBatchDecodesAsStepByStep() throws Exception {
        Random random = new Random(32);
        String[] modes = {"dense", "moa:" + DEMO.resolve("moa-plan-50.json"), "window:16"};
        {
            List<Session> a = new ArrayList<>(), b = new ArrayList<>();
            int[] tokens = new int[modes.length];
            for (int i = 0; i < modes.length; i++) {
                int[] prompt = random.ints(20 + 7 * i, 3, 2000).toArray();
                a.add(plain.newSession(prompt.length + 12, 64, AttentionMode.parse(modes[i]), 12));
                b.add(ahead.newSession(prompt.length + 12, 64, AttentionMode.parse(modes[i]), 12));
                tokens[i] = Sampler.argmax(a.get(i).prefill(prompt));
                assertEquals(tokens[i], Sampler.argmax(b.get(i).prefill(prompt)));
            }
            BatchDecoder pa = new BatchDecoder(plain, modes.length), pb = new BatchDecoder(ahead, modes.length);
            for (int t = 0; t < 3; t++) {
                backend.log.clear();
                int[] ea = pa.stepGreedy(a, tokens), eb = pb.stepGreedy(b, tokens, true);
                assertArrayEquals(ea, eb, "step " + t);
                assertEquals(t == 0 ? List.of("enqueue 1", "enqueue 0", "await") : List.of("enqueue 0", "await"), backend.log, "step " + t);
                tokens = ea;
            }
            // the last session leaves (its step queued ahead superseded by the smaller batch's), then decodes alone
            int[] two = {tokens[0], tokens[1]};
            for (int t = 0; t < 2; t++) {
                int[] ea = pa.stepGreedy(a.subList(0, 2), two), eb = pb.stepGreedy(b.subList(0, 2), two, true);
                assertArrayEquals(ea, eb, "two sessions, step " + t);
                two = ea;
                int alone = tokens[2];
                tokens[2] = a.get(2).decodeGreedy(alone);
                assertEquals(tokens[2], b.get(2).decodeGreedy(alone), "the third alone, step " + t);
            }
            // a batch not said to step again queues nothing: the step queued by the last call taken, then one afresh
            for (int t = 0; t < 2; t++) {
                backend.log.clear();
                int[] ea = pa.stepGreedy(a.subList(0, 2), two), eb = pb.stepGreedy(b.subList(0, 2), two);
                assertArrayEquals(ea, eb, "two, not said to step again, step " + t);
                assertEquals(t == 0 ? List.of("await") : List.of("enqueue 1", "await"), backend.log, "two, not said to step again, step " + t);
                two = ea;
            }
            for (Session s : a) s.close();
            for (Session s : b) s.close();
        }
    }

    /**
     * Sampled sessions: a generation draws the tokens it draws step by step with the same seed (each step queued with
     * the uniform its sampler gives next, peeked, not taken), and a batch of greedy and sampled rows likewise, the
     * draws' parameters the only upload of a step queued ahead.
     */
    @Test
    void sampledStepsDrawAsStepByStep() throws Exception {
        Random random = new Random(34);
        int[] prompt = random.ints(30, 3, 2000).toArray();
        var sampling = new dev.moa.runtime.generate.SamplingParams(0.9, 0, 0.95, 11);
        var params = new dev.moa.runtime.generate.GenerationParams(5, sampling, List.of(), false);
        {
            var expected = dev.moa.runtime.generate.Generator.generate(plain, prompt, params, t -> { });
            backend.log.clear();
            var actual = dev.moa.runtime.generate.Generator.generate(ahead, prompt, params, t -> { });
            assertArrayEquals(expected.tokens(), actual.tokens(), "the tokens drawn step by step");
            assertTrue(expected.tokens().length > 3, "tokens decoded");
            // after the first step each is taken from the one queued before: one upload (its draws) a step
            assertEquals(List.of("enqueue 2", "enqueue 1", "await"), backend.log.subList(0, 3), "the first step, then the next queued");
            for (int i = 3; i + 1 < backend.log.size(); i += 2) {
                assertEquals(List.of("enqueue 1", "await"), backend.log.subList(i, i + 2), "a later step: " + backend.log);
            }

            String[] modes = {"dense", "moa:" + DEMO.resolve("moa-plan-50.json"), "window:16"};
            dev.moa.runtime.generate.SamplingParams[] rowParams = {dev.moa.runtime.generate.SamplingParams.greedy(),
                    new dev.moa.runtime.generate.SamplingParams(0.8, 20, 0.9, 3), new dev.moa.runtime.generate.SamplingParams(1.0, 0, 1.0, 4)};
            List<Session> a = new ArrayList<>(), b = new ArrayList<>();
            Sampler[] sa = new Sampler[modes.length], sb = new Sampler[modes.length];
            int[] tokens = new int[modes.length];
            for (int i = 0; i < modes.length; i++) {
                int[] p = random.ints(20 + 5 * i, 3, 2000).toArray();
                a.add(plain.newSession(p.length + 8, 64, AttentionMode.parse(modes[i]), 8));
                b.add(ahead.newSession(p.length + 8, 64, AttentionMode.parse(modes[i]), 8));
                tokens[i] = Sampler.argmax(a.get(i).prefill(p));
                b.get(i).prefill(p);
                sa[i] = new Sampler(rowParams[i]);
                sb[i] = new Sampler(rowParams[i]);
            }
            BatchDecoder pa = new BatchDecoder(plain, modes.length), pb = new BatchDecoder(ahead, modes.length);
            for (int t = 0; t < 3; t++) {
                int[] ea = pa.stepDrawing(a, tokens, sa).tokens(), eb = pb.stepDrawing(b, tokens, sb, true).tokens();
                assertArrayEquals(ea, eb, "batch step " + t);
                tokens = ea;
            }
            for (Session s : a) s.close();
            for (Session s : b) s.close();
        }
    }

    /**
     * A row whose logits are not all finite: its token is -1 and the host refuses it, naming its position; the argmax
     * left that row's step as it was, so the step queued ahead ran it again and {@link DeviceDecoder#logits} reads it.
     * Only that position is poisoned: a step queued ahead that moved on past it would read finite logits.
     */
    @Test
    void aRowWhoseLogitsAreNotFiniteIsRefused() throws Exception {
        int[] prompt = new Random(33).ints(25, 3, 2000).toArray();
        {
            try (Session s = ahead.newSession(prompt.length + 8, 64, AttentionMode.parse("dense"), 8)) {
                int token = Sampler.argmax(s.prefill(prompt));
                token = s.decodeGreedy(token);
                backend.poisonRow = 0; // at the position of the step queued next (the one queued already ran) and only there
                backend.poisonPosition = prompt.length + 2;
                token = s.decodeGreedy(token);
                int fed = token;
                var e = assertThrows(dev.moa.runtime.model.NonFiniteException.class, () -> s.decodeGreedy(fed));
                assertTrue(e.getMessage().contains("position " + (prompt.length + 2)), e.getMessage());
                float[] logits = s.deviceStep().orElseThrow().logits()[0];
                assertTrue(Float.isNaN(logits[7]), "the step run again (at its position, poisoned as before), not moved on past it");
            }
        }
    }

    /**
     * The emulator as a device that runs apart from the host: a queued graph runs at once, but its read-back reaches the
     * host copy only when its handle is awaited (taken when queued, as a page-locked copy's bytes are), so a decoder that
     * read its tokens before awaiting, or after queuing the next step without awaiting this one, would read another
     * step's. Logs "enqueue" with the number of buffers it uploads, and "await"; with {@code poisonRow} 0, a step's
     * logits get a NaN in row 0 just before the argmax ({@link MixedBatchTest.Counting}).
     */
    static final class Apart extends MixedBatchTest.Counting {
        final List<String> log = new ArrayList<>();

        @Override
        public Pending enqueue(TaskGraph graph, List<? extends DeviceBuffer> uploads, DeviceBuffer result) {
            log.add("enqueue " + uploads.size());
            run(graph, uploads, result);
            MemorySegment bytes = MemorySegment.ofArray(new byte[(int) result.memory().byteSize()]);
            bytes.copyFrom(result.memory());
            // (the host copy now holds anything: what a later step leaves there until this is awaited)
            return new Pending() {
                private boolean waited;

                @Override
                public void await() {
                    if (waited) return;
                    waited = true;
                    log.add("await");
                    result.memory().copyFrom(bytes);
                }
            };
        }

        @Override
        public boolean runsApart() {
            return true;
        }

        @Override
        public String name() {
            return "emulator, running apart from the host";
        }
    }
}
