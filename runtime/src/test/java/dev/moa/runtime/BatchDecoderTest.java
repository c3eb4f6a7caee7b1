package dev.moa.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.moa.runtime.generate.Sampler;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import dev.moa.tasks.cuda.DeviceChoice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * B sessions stepped together equal the same B sessions decoded alone, token for token, across ring wraps, on the
 * CPU and as the GPU program (in the kernel emulator; a session leaving the batch halfway makes the others move, their
 * caches copied on the device, into a step of their own).
 */
class BatchDecoderTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");
    static final int STEPS = 90;

    record Spec(String attention, int promptLength, int steps) {}

    static final List<Spec> SPECS = List.of(
            new Spec("dense", 37, STEPS),
            new Spec("moa:" + DEMO.resolve("moa-plan-50.json"), 300, STEPS),
            new Spec("uniform:0,0.5", 150, STEPS / 2), // leaves the batch halfway
            new Spec("window:64", 10, STEPS), // a prompt inside one block; the 64-slot ring wraps
            new Spec("dense", 1, STEPS));

    private static Session start(Model model, Spec spec) {
        return model.newSession(model.config().maxPositions(), 64, AttentionMode.parse(spec.attention()), STEPS + 8);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "emulator"})
    void batchedSessionsDecodeAsTheyWouldAlone(String device) throws Exception {
        Random random = new Random(3);
        // the emulator runs every work-item of the GPU program on the CPU: fewer steps, the same wraps
        List<Spec> specs = device.equals("cpu") ? SPECS : List.of(new Spec("dense", 37, 12),
                new Spec("moa:" + DEMO.resolve("moa-plan-50.json"), 300, 12), new Spec("uniform:0,0.5", 150, 6),
                new Spec("window:16", 10, 12), new Spec("dense", 1, 12));
        try (Model model = Model.load(DEMO, DeviceChoice.choose(device))) {
            List<int[]> prompts = new ArrayList<>();
            for (Spec spec : specs) prompts.add(random.ints(spec.promptLength(), 3, 2000).toArray());

            // alone
            List<int[]> aloneTokens = new ArrayList<>();
            List<float[]> aloneLast = new ArrayList<>();
            for (int i = 0; i < specs.size(); i++) {
                Session s = start(model, specs.get(i));
                float[] logits = s.prefill(prompts.get(i));
                int[] tokens = new int[specs.get(i).steps()];
                for (int t = 0; t < tokens.length; t++) {
                    tokens[t] = Sampler.argmax(logits);
                    logits = s.decode(tokens[t]);
                }
                aloneTokens.add(tokens);
                aloneLast.add(logits.clone()); // a device session reuses its logits array
                s.close();
            }

            // together
            BatchDecoder batch = new BatchDecoder(model, specs.size());
            List<Session> sessions = new ArrayList<>();
            List<float[]> logits = new ArrayList<>();
            for (int i = 0; i < specs.size(); i++) {
                Session s = start(model, specs.get(i));
                logits.add(s.prefill(prompts.get(i)));
                sessions.add(s);
            }
            int[][] together = new int[specs.size()][];
            for (int i = 0; i < specs.size(); i++) together[i] = new int[specs.get(i).steps()];
            for (int t = 0; t < specs.stream().mapToInt(Spec::steps).max().orElseThrow(); t++) {
                List<Session> active = new ArrayList<>();
                List<Integer> which = new ArrayList<>();
                for (int i = 0; i < specs.size(); i++) {
                    if (t < specs.get(i).steps()) {
                        active.add(sessions.get(i));
                        which.add(i);
                    }
                }
                int[] tokens = new int[active.size()];
                for (int b = 0; b < tokens.length; b++) {
                    int i = which.get(b);
                    tokens[b] = Sampler.argmax(logits.get(i));
                    together[i][t] = tokens[b];
                }
                float[][] rows = batch.step(active, tokens);
                for (int b = 0; b < rows.length; b++) logits.set(which.get(b), rows[b]);
            }
            for (int i = 0; i < specs.size(); i++) {
                assertArrayEquals(aloneTokens.get(i), together[i], specs.get(i).attention() + ": the same tokens");
                assertArrayEquals(aloneLast.get(i), logits.get(i), 1e-4f, specs.get(i).attention() + ": the same last logits");
                assertEquals(prompts.get(i).length + specs.get(i).steps(), sessions.get(i).position());
            }
        }
    }

    @Test
    void aStepRefusesWhatItCannotRun() throws Exception {
        try (Model model = Model.load(DEMO)) {
            BatchDecoder batch = new BatchDecoder(model, 2);
            Session a = model.newSession(16), b = model.newSession(16);
            a.prefill(new int[] {1, 40});
            b.prefill(new int[] {1, 41});
            assertThrows(IllegalArgumentException.class, () -> batch.step(List.of(a, a), new int[] {5, 6}));
            assertThrows(IllegalArgumentException.class, () -> batch.step(List.of(a, b, a), new int[] {5, 6, 7}));
            assertThrows(IllegalArgumentException.class, () -> batch.step(List.of(a, b), new int[] {5}));
            Session sparse = model.newSession(64, 64, AttentionMode.parse("uniform:0,0.5"), 8);
            assertThrows(IllegalStateException.class, () -> batch.step(List.of(sparse), new int[] {5}), "not prefilled");
        }
    }
}
