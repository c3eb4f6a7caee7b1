package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.BatchDecoder;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.generate.SamplingParams;
import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.graph.EmulatorBackend;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.kernel.DeviceBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A batch of greedy and sampled sessions on a device ({@link BatchDecoder#stepDrawing}): every session gets the token
 * its sampler draws from the logits a plain step gives (the argmax where greedy), drawn on the device — a nucleus too
 * wide for the first draw kernel's shared memory too — and no logits come back (on the GPU program in the emulator,
 * counting what is read back).
 */
class MixedBatchTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");

    @Test
    void aBatchDrawsOnTheDeviceAndReadsNoLogitsBack() throws Exception {
        Counting backend = new Counting();
        Random random = new Random(12);
        String[] modes = {"dense", "moa:" + DEMO.resolve("moa-plan-50.json"), "window:16", "dense"};
        SamplingParams[] params = {SamplingParams.greedy(), new SamplingParams(0.8, 0, 0.9, 3), new SamplingParams(1.0, 20, 0.95, 4),
                new SamplingParams(50, 0, 0.999, 5)}; // (the last: flat, its nucleus past what sample ranks: sampleWide's)
        try (Model model = Model.load(DEMO, backend)) {
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < modes.length; i++) prompts.add(random.ints(20 + 10 * i, 3, 2000).toArray());
            List<Session> plain = start(model, modes, prompts), drawing = start(model, modes, prompts);
            BatchDecoder a = new BatchDecoder(model, modes.length), b = new BatchDecoder(model, modes.length);
            Sampler[] host = new Sampler[modes.length], device = new Sampler[modes.length];
            for (int r = 0; r < modes.length; r++) {
                host[r] = new Sampler(params[r]);
                device[r] = new Sampler(params[r]);
            }
            int[] tokens = {5, 6, 7, 8};
            for (int step = 0; step < 3; step++) {
                float[][] logits = a.step(plain, tokens);
                int[] expected = new int[modes.length];
                for (int r = 0; r < modes.length; r++) expected[r] = host[r].next(logits[r]);
                backend.wholeBytes = backend.rangedBytes = 0;
                BatchDecoder.Drawn result = b.stepDrawing(drawing, tokens, device);
                for (int r = 0; r < modes.length; r++) assertEquals(null, result.failures()[r], "row " + r);
                int[] drawn = result.tokens();
                assertArrayEquals(expected, drawn, "step " + step + ": the tokens the host draws from the same logits and uniforms");
                assertEquals(0, backend.rangedBytes, "step " + step + ": no row's logits read back, the flat one's neither");
                assertTrue(backend.wholeBytes <= 1024, "step " + step + ": whole buffers read back: " + backend.wholeBytes + " bytes (the chosen tokens)");
                tokens = drawn;
            }
            for (Session s : plain) s.close();
            for (Session s : drawing) s.close();
        }
    }

    /**
     * A row whose logits are not all finite numbers fails alone: the step's other rows get their tokens (the host's for
     * the same logits and uniforms), and that row a NonFiniteException naming its position. (The backend makes row 1's
     * logits NaN between the output head and the argmax.)
     */
    @Test
    void aRowWithNonFiniteLogitsFailsAlone() throws Exception {
        Counting backend = new Counting();
        Random random = new Random(21);
        String[] modes = {"dense", "dense", "window:16"};
        SamplingParams[] params = {SamplingParams.greedy(), new SamplingParams(0.8, 0, 0.9, 6), new SamplingParams(0.9, 10, 1.0, 7)};
        try (Model model = Model.load(DEMO, backend)) {
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < modes.length; i++) prompts.add(random.ints(25 + 5 * i, 3, 2000).toArray());
            List<Session> plain = start(model, modes, prompts), drawing = start(model, modes, prompts);
            Sampler[] host = new Sampler[modes.length], device = new Sampler[modes.length];
            for (int r = 0; r < modes.length; r++) {
                host[r] = new Sampler(params[r]);
                device[r] = new Sampler(params[r]);
            }
            int[] tokens = {9, 10, 11};
            float[][] logits = new BatchDecoder(model, modes.length).step(plain, tokens);
            backend.poisonRow = 1;
            BatchDecoder.Drawn drawn = new BatchDecoder(model, modes.length).stepDrawing(drawing, tokens, device);
            assertTrue(drawn.failures()[1] instanceof dev.moa.runtime.model.NonFiniteException, "row 1: " + drawn.failures()[1]);
            assertEquals(-1, drawn.tokens()[1]);
            for (int r : new int[] {0, 2}) {
                assertEquals(null, drawn.failures()[r], "row " + r);
                assertEquals(host[r].next(logits[r]), drawn.tokens()[r], "row " + r + ": its token");
            }
            for (int r = 0; r < modes.length; r++) assertEquals(plain.get(r).position(), drawing.get(r).position(), "every session advanced");
            for (Session s : plain) s.close();
            for (Session s : drawing) s.close();
        }
    }

    /**
     * A generation on a device takes each token from the device's argmax or draw and reads no logits back; its tokens are
     * the CPU's, greedy or sampled with the same seed.
     */
    @Test
    void aGenerationReadsNoLogitsBack() throws Exception {
        int[] prompt = new Random(4).ints(30, 3, 2000).toArray();
        int tokens = 6;
        SamplingParams sampling = new SamplingParams(0.8, 0, 0.9, 3);
        dev.moa.runtime.generate.GenerationResult cpuGreedy, cpuSampled;
        try (Model model = Model.load(DEMO)) {
            cpuGreedy = dev.moa.runtime.generate.Generator.generate(model, prompt, params(tokens, SamplingParams.greedy()), t -> { });
            cpuSampled = dev.moa.runtime.generate.Generator.generate(model, prompt, params(tokens, sampling), t -> { });
        }
        Counting backend = new Counting();
        try (Model model = Model.load(DEMO, backend)) {
            backend.rangedBytes = 0;
            var greedy = dev.moa.runtime.generate.Generator.generate(model, prompt, params(tokens, SamplingParams.greedy()), t -> { });
            assertArrayEquals(cpuGreedy.tokens(), greedy.tokens(), "the CPU's greedy tokens");
            var sampled = dev.moa.runtime.generate.Generator.generate(model, prompt, params(tokens, sampling), t -> { });
            assertArrayEquals(cpuSampled.tokens(), sampled.tokens(), "the CPU's sampled tokens");
            assertTrue(sampled.tokens().length > 1, "tokens decoded after the prompt's");
            assertEquals(0, backend.rangedBytes, "no row of logits read back");
        }
    }

    private static dev.moa.runtime.generate.GenerationParams params(int tokens, SamplingParams sampling) {
        return new dev.moa.runtime.generate.GenerationParams(tokens, sampling, List.of(), false);
    }

    private static List<Session> start(Model model, String[] modes, List<int[]> prompts) {
        List<Session> sessions = new ArrayList<>();
        for (int i = 0; i < modes.length; i++) {
            Session s = model.newSession(prompts.get(i).length + 16, 64, AttentionMode.parse(modes[i]), 16);
            s.prefill(prompts.get(i));
            sessions.add(s);
        }
        return sessions;
    }

    /** The emulator, counting the bytes read back whole and by range (and, set, poisoning a row's logits). */
    static class Counting implements Backend {
        final EmulatorBackend emulator = new EmulatorBackend();
        long wholeBytes, rangedBytes;

        public String name() {
            return "emulator counting what it reads back";
        }

        public void upload(DeviceBuffer buffer) {
            emulator.upload(buffer);
        }

        public void upload(DeviceBuffer buffer, long fromByte, long bytes) {
            emulator.upload(buffer, fromByte, bytes);
        }

        public void download(DeviceBuffer buffer) {
            wholeBytes += buffer.memory().byteSize();
            emulator.download(buffer);
        }

        @Override
        public void download(DeviceBuffer buffer, long fromByte, long bytes) {
            rangedBytes += bytes;
            emulator.download(buffer, fromByte, bytes);
        }

        public void copy(DeviceBuffer from, long fromByte, DeviceBuffer to, long toByte, long bytes) {
            emulator.copy(from, fromByte, to, toByte, bytes);
        }

        /** A row (-1: none) whose logits a step's graph makes NaN just before its argmax. */
        int poisonRow = -1;
        /**
         * Only at this position of {@link #poisonRow} (-1: at every one), read from the step buffer that the argmax moves on
         * ({@code VectorKernels.argmaxOnward}'s): so a step run again is poisoned again, and the step after it is not.
         */
        int poisonPosition = -1;

        public void run(TaskGraph graph) {
            List<TaskGraph.Task> tasks = graph.tasks();
            int argmax = -1;
            for (int i = 0; i < tasks.size(); i++) if (tasks.get(i).name().equals("argmax")) argmax = i;
            if (poisonRow < 0 || argmax < 0) {
                emulator.run(graph);
                return;
            }
            TaskGraph before = new TaskGraph(), after = new TaskGraph();
            for (int i = 0; i < tasks.size(); i++) {
                TaskGraph.Task t = tasks.get(i);
                (i < argmax ? before : after).task(t.name(), t.owner(), t.method(), t.grid(), t.args().toArray());
            }
            emulator.runOnce(before);
            dev.moa.tasks.kernel.F32Buffer logits = (dev.moa.tasks.kernel.F32Buffer) tasks.get(argmax).args().get(0);
            int vocab = (int) (logits.length() / tasks.get(argmax).grid().groupsY());
            if (poisonPosition < 0 || positionOf(tasks.get(argmax), poisonRow) == poisonPosition) logits.set((long) poisonRow * vocab + 7, Float.NaN);
            emulator.runOnce(after);
        }

        /** The position {@code row}'s step buffer holds before {@code argmax} (an {@code argmaxOnward} task) moves it on. */
        private static int positionOf(TaskGraph.Task argmax, int row) {
            if (!argmax.method().equals("argmaxOnward")) throw new IllegalStateException("a poisoned position needs the argmax that moves the step on");
            dev.moa.tasks.kernel.I32Buffer step = (dev.moa.tasks.kernel.I32Buffer) argmax.args().get(5);
            return step.get((long) row * dev.moa.tasks.kernels.Step.SIZE + dev.moa.tasks.kernels.Step.POSITION);
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
