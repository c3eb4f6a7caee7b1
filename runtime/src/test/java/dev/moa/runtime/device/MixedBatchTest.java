package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
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
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A batch of greedy and sampled sessions on a device ({@link BatchDecoder#stepChoosing}): every session's argmax is the
 * argmax of the logits a plain step gives, the sampled sessions get those logits, and only their rows of the logits
 * come back from the device — a greedy session's never do (on the GPU program in the emulator, counting what is read
 * back).
 */
class MixedBatchTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");

    @Test
    void onlyTheSampledSessionsLogitsComeBack() throws Exception {
        Counting backend = new Counting();
        Random random = new Random(12);
        String[] modes = {"dense", "moa:" + DEMO.resolve("moa-plan-50.json"), "window:16"};
        boolean[] sampled = {false, true, false};
        try (Model model = Model.load(DEMO, backend)) {
            int vocab = model.config().vocabSize();
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < modes.length; i++) prompts.add(random.ints(20 + 10 * i, 3, 2000).toArray());
            List<Session> plain = start(model, modes, prompts), choosing = start(model, modes, prompts);
            BatchDecoder a = new BatchDecoder(model, modes.length), b = new BatchDecoder(model, modes.length);
            int[] tokens = {5, 6, 7};
            for (int step = 0; step < 2; step++) {
                float[][] logits = a.step(plain, tokens);
                backend.wholeBytes = backend.rangedBytes = 0;
                DeviceDecoder.Chosen chosen = b.stepChoosing(choosing, tokens, sampled);
                for (int r = 0; r < modes.length; r++) {
                    assertEquals(Sampler.argmax(logits[r]), chosen.argmax()[r], "step " + step + ", session " + r + ": the argmax");
                    if (sampled[r]) assertArrayEquals(logits[r], chosen.logits()[r], "step " + step + ", session " + r + ": its logits");
                    else assertNull(chosen.logits()[r], "step " + step + ", session " + r + ": greedy, no logits");
                }
                assertEquals((long) vocab * Float.BYTES, backend.rangedBytes, "step " + step + ": one row of logits read back");
                assertTrue(backend.wholeBytes <= 1024, "step " + step + ": whole buffers read back: " + backend.wholeBytes + " bytes (the chosen tokens)");
                tokens = chosen.argmax().clone();
            }
            for (Session s : plain) s.close();
            for (Session s : choosing) s.close();
        }
    }

    /**
     * A greedy generation on a device takes each token from the device's argmax and reads no logits back; a sampled one
     * reads one row a token. The greedy tokens are the CPU's.
     */
    @Test
    void aGreedyGenerationReadsNoLogitsBack() throws Exception {
        int[] prompt = new Random(4).ints(30, 3, 2000).toArray();
        int tokens = 6;
        dev.moa.runtime.generate.GenerationResult cpu;
        try (Model model = Model.load(DEMO)) {
            cpu = dev.moa.runtime.generate.Generator.generate(model, prompt, params(tokens, dev.moa.runtime.generate.SamplingParams.greedy()), t -> { });
        }
        Counting backend = new Counting();
        try (Model model = Model.load(DEMO, backend)) {
            int vocab = model.config().vocabSize();
            backend.rangedBytes = 0;
            var greedy = dev.moa.runtime.generate.Generator.generate(model, prompt, params(tokens, dev.moa.runtime.generate.SamplingParams.greedy()), t -> { });
            assertArrayEquals(cpu.tokens(), greedy.tokens(), "the CPU's greedy tokens");
            assertEquals(0, backend.rangedBytes, "a greedy generation reads no row of logits back");
            var sampled = dev.moa.runtime.generate.Generator.generate(model, prompt,
                    params(tokens, new dev.moa.runtime.generate.SamplingParams(0.8, 0, 0.9, 3)), t -> { });
            assertEquals((long) (sampled.tokens().length - 1) * vocab * Float.BYTES, backend.rangedBytes,
                    "a sampled generation reads one row a decoded token (the first comes from the prompt's logits)");
        }
    }

    private static dev.moa.runtime.generate.GenerationParams params(int tokens, dev.moa.runtime.generate.SamplingParams sampling) {
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

    /** The emulator, counting the bytes read back whole and by range. */
    static final class Counting implements Backend {
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

        public void run(TaskGraph graph) {
            emulator.run(graph);
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
