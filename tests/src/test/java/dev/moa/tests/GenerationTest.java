package dev.moa.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.safetensors.DType;
import dev.moa.runtime.ContextOverflowException;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.SamplingParams;
import dev.moa.runtime.synthetic.SyntheticModel;
import dev.moa.runtime.synthetic.SyntheticTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The generation loop on a golden model: eos, limits, context errors, seeds and concurrent sessions. */
class GenerationTest {
    @TempDir
    static Path work;
    static JsonObject golden;
    static int[] prompt, greedy;

    @BeforeAll
    static void load() throws Exception {
        golden = JsonParser.parseString(Files.readString(
                TestPaths.repoRoot().resolve("tests/src/test/resources/golden/llama2-mha-f32.json"))).getAsJsonObject();
        JsonObject p = golden.getAsJsonObject("prompts").getAsJsonObject("long");
        prompt = ReferenceParityTest.ints(p.getAsJsonArray("prompt_ids"));
        greedy = ReferenceParityTest.ints(p.getAsJsonArray("greedy_new_ids"));
    }

    /** The golden model with a tokenizer, and eos set to {@code eos}. */
    static Path model(String name, int eos) throws Exception {
        JsonObject config = golden.getAsJsonObject("config").deepCopy();
        config.addProperty("eos_token_id", eos);
        Path dir = work.resolve(name);
        SyntheticModel.write(dir, config, DType.F32, golden.get("model_seed").getAsLong());
        SyntheticTokenizer.write(dir, config.get("vocab_size").getAsInt());
        return dir;
    }

    @Test
    void stopsAtEosWithoutEmittingIt() throws Exception {
        int stopAt = 5;
        int eos = greedy[stopAt];
        int firstOccurrence = Arrays.stream(greedy).boxed().toList().indexOf(eos);
        try (Model model = Model.load(model("eos", eos))) {
            GenerationResult r = Generator.generate(model, prompt, GenerationParams.greedy(32), s -> { });
            assertEquals(GenerationResult.StopReason.EOS, r.stopReason());
            assertArrayEquals(Arrays.copyOf(greedy, firstOccurrence), r.tokens());
        }
    }

    @Test
    void maxTokensContextAndTruncation() throws Exception {
        try (Model model = Model.load(model("limits", 0))) {
            GenerationResult r = Generator.generate(model, prompt, GenerationParams.greedy(7), s -> { });
            assertEquals(GenerationResult.StopReason.MAX_TOKENS, r.stopReason());
            assertArrayEquals(Arrays.copyOf(greedy, 7), r.tokens());
            assertEquals(prompt.length, r.promptTokens());

            int[] tooLong = new int[model.config().maxPositions() + 10];
            Arrays.fill(tooLong, 5);
            var e = assertThrows(ContextOverflowException.class, () -> Generator.generate(model, tooLong, GenerationParams.greedy(4), s -> { }));
            assertTrue(e.getMessage().contains(tooLong.length + " tokens") && e.getMessage().contains("--truncate"), e.getMessage());

            GenerationResult truncated = Generator.generate(model, tooLong,
                    new GenerationParams(4, SamplingParams.greedy(), List.of(), true), s -> { });
            assertEquals(model.config().maxPositions() - 4, truncated.promptTokens());
            assertEquals(4, truncated.tokens().length);
        }
    }

    @Test
    void seededSamplingIsReproducibleAndSessionsRunConcurrently() throws Exception {
        try (Model model = Model.load(model("threads", 0))) {
            var params = new GenerationParams(24, new SamplingParams(0.8, 50, 0.95, 77), List.of(), false);
            int[] reference = Generator.generate(model, prompt, params, s -> { }).tokens();
            var pool = Executors.newFixedThreadPool(4);
            try {
                List<Callable<int[]>> jobs = List.of(
                        () -> Generator.generate(model, prompt, params, s -> { }).tokens(),
                        () -> Generator.generate(model, prompt, GenerationParams.greedy(32), s -> { }).tokens(),
                        () -> Generator.generate(model, prompt, params, s -> { }).tokens(),
                        () -> Generator.generate(model, prompt, GenerationParams.greedy(32), s -> { }).tokens());
                List<Future<int[]>> results = pool.invokeAll(jobs);
                assertArrayEquals(reference, results.get(0).get());
                assertArrayEquals(greedy, results.get(1).get());
                assertArrayEquals(reference, results.get(2).get());
                assertArrayEquals(greedy, results.get(3).get());
            } finally {
                pool.shutdown();
            }
        }
    }
}
