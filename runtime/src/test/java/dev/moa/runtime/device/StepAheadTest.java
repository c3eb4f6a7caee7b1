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
import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.graph.EmulatorBackend;
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
 * steps run one by one, in every attention mode, for one session and a batch, when the host feeds a token other than
 * the one queued, and up to the last position a session holds; and every step after the first is one replay queued
 * before the wait for the step before it, with nothing uploaded.
 */
class StepAheadTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");

    @Test
    void oneSessionDecodesAsStepByStepInEveryMode() throws Exception {
        Random random = new Random(31);
        String[] modes = {"dense", "moa:" + DEMO.resolve("moa-plan-50.json"), "uniform:0,0.5"};
        int steps = 7;
        Apart backend = new Apart();
        try (Model plain = Model.load(DEMO, new EmulatorBackend()); Model ahead = Model.load(DEMO, backend)) {
            ahead.accelerator().orElseThrow().stepAhead(true);
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
                        if (!taken) expected.add("enqueue with uploads");
                        if (!last) expected.add("enqueue");
                        expected.add("await");
                        assertEquals(expected, backend.log, mode + ", step " + t + (taken ? ": the step queued ahead taken" : "")
                                + (last ? ", none queued past the session's last position" : ", the next queued before the wait"));
                    }
                }
            }
        }
    }

    /** A batch of sessions in different modes through {@link BatchDecoder#stepGreedy}, and a session leaving it. */
    @Test
    void aBatchDecodesAsStepByStep() throws Exception {
        Random random = new Random(32);
        String[] modes = {"dense", "moa:" + DEMO.resolve("moa-plan-50.json"), "window:16"};
        Apart backend = new Apart();
        try (Model plain = Model.load(DEMO, new EmulatorBackend()); Model ahead = Model.load(DEMO, backend)) {
            ahead.accelerator().orElseThrow().stepAhead(true);
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
            for (int t = 0; t < 5; t++) {
                int[] ea = pa.stepGreedy(a, tokens), eb = pb.stepGreedy(b, tokens);
                assertArrayEquals(ea, eb, "step " + t);
                tokens = ea;
            }
            // the last session leaves (its step queued ahead superseded by the smaller batch's), then decodes alone
            int[] two = {tokens[0], tokens[1]};
            for (int t = 0; t < 3; t++) {
                int[] ea = pa.stepGreedy(a.subList(0, 2), two), eb = pb.stepGreedy(b.subList(0, 2), two);
                assertArrayEquals(ea, eb, "two sessions, step " + t);
                two = ea;
                int alone = tokens[2];
                tokens[2] = a.get(2).decodeGreedy(alone);
                assertEquals(tokens[2], b.get(2).decodeGreedy(alone), "the third alone, step " + t);
            }
            for (Session s : a) s.close();
            for (Session s : b) s.close();
        }
    }

    /**
     * A row whose logits are not all finite: its token is -1 and the host refuses it, naming its position; the argmax
     * left that row's step as it was, so the step queued ahead ran it again and {@link DeviceDecoder#logits} reads it.
     */
    @Test
    void aRowWhoseLogitsAreNotFiniteIsRefused() throws Exception {
        int[] prompt = new Random(33).ints(25, 3, 2000).toArray();
        Apart backend = new Apart();
        try (Model ahead = Model.load(DEMO, backend)) {
            ahead.accelerator().orElseThrow().stepAhead(true);
            try (Session s = ahead.newSession(prompt.length + 8, 64, AttentionMode.parse("dense"), 8)) {
                int token = Sampler.argmax(s.prefill(prompt));
                token = s.decodeGreedy(token);
                backend.poison = true; // (from the step queued next: the one queued already ran)
                token = s.decodeGreedy(token);
                int fed = token;
                var e = assertThrows(dev.moa.runtime.model.NonFiniteException.class, () -> s.decodeGreedy(fed));
                assertTrue(e.getMessage().contains("position " + (prompt.length + 2)), e.getMessage());
                float[] logits = s.deviceStep().orElseThrow().logits()[0];
                assertTrue(Float.isNaN(logits[7]), "the step run again, poisoned as before");
            }
        }
    }

    /**
     * The emulator as a device that runs apart from the host: a queued graph runs at once, but its read-back reaches the
     * host copy only when its handle is awaited (taken when queued, as a page-locked copy's bytes are), so a decoder that
     * read its tokens before awaiting, or after queuing the next step without awaiting this one, would read another
     * step's. Logs "enqueue" (with "with uploads" where it uploads anything) and "await"; with {@code poison}, a step's
     * logits get a NaN (row 0, logit 7) just before the argmax.
     */
    static final class Apart implements Backend {
        final EmulatorBackend emulator = new EmulatorBackend();
        final List<String> log = new ArrayList<>();
        boolean poison;

        @Override
        public Pending enqueue(TaskGraph graph, List<? extends DeviceBuffer> uploads, DeviceBuffer result) {
            log.add(uploads.isEmpty() ? "enqueue" : "enqueue with uploads");
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

        public String name() {
            return "emulator, running apart from the host";
        }

        public void upload(DeviceBuffer buffer) {
            emulator.upload(buffer);
        }

        public void upload(DeviceBuffer buffer, long fromByte, long bytes) {
            emulator.upload(buffer, fromByte, bytes);
        }

        public void download(DeviceBuffer buffer) {
            emulator.download(buffer);
        }

        public void copy(DeviceBuffer from, long fromByte, DeviceBuffer to, long toByte, long bytes) {
            emulator.copy(from, fromByte, to, toByte, bytes);
        }

        public void run(TaskGraph graph) {
            List<TaskGraph.Task> tasks = graph.tasks();
            int argmax = -1;
            for (int i = 0; i < tasks.size(); i++) if (tasks.get(i).name().equals("argmax")) argmax = i;
            if (!poison || argmax < 0) {
                emulator.run(graph);
                return;
            }
            TaskGraph before = new TaskGraph(), after = new TaskGraph();
            for (int i = 0; i < tasks.size(); i++) {
                TaskGraph.Task t = tasks.get(i);
                (i < argmax ? before : after).task(t.name(), t.owner(), t.method(), t.grid(), t.args().toArray());
            }
            emulator.runOnce(before);
            ((dev.moa.tasks.kernel.F32Buffer) tasks.get(argmax).args().getFirst()).set(7, Float.NaN);
            emulator.runOnce(after);
        }

        public void free(DeviceBuffer buffer) {
            emulator.free(buffer);
        }

        public void forget(TaskGraph graph) {
            emulator.forget(graph);
        }

        public void close() {
            emulator.close();
        }
    }
}
