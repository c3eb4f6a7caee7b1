package dev.moa.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.tokenizer.Tokenizer;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.Sampler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Real trained weights: Karpathy's TinyStories stories260K (GQA 8/4, byte-fallback SentencePiece BPE) must
 * reproduce its independent PyTorch reference (reference-greedy.json): top-5 logits, greedy ids and the story.
 */
class Stories260kTest {
    static Path dir;
    static JsonObject reference;

    @BeforeAll
    static void locate() throws Exception {
        var found = TestPaths.sharedModel("stories260k");
        if (found.isEmpty()) {
            System.out.println("SKIPPED Stories260kTest: ../shared/models/stories260k is not present");
            Assumptions.abort("../shared/models/stories260k is not present");
        }
        dir = found.get();
        reference = JsonParser.parseString(Files.readString(dir.resolve("reference-greedy.json"))).getAsJsonObject();
    }

    @Test
    void greedyIdsAndTopFiveLogitsMatchReference() throws Exception {
        try (Model model = Model.load(dir)) {
            for (String name : new String[] {"bos_only", "prompt_once_upon_a_time", "prompt_zoo"}) {
                JsonObject r = reference.getAsJsonObject(name);
                int[] prompt = ReferenceParityTest.ints(r.getAsJsonArray("prompt_ids"));
                int[] expected = ReferenceParityTest.ints(r.getAsJsonArray("new_ids"));
                Session session = model.newSession(prompt.length + expected.length);
                float[] logits = session.prefill(prompt);
                for (var top : r.getAsJsonArray("top5_last_prompt_pos")) {
                    int id = top.getAsJsonArray().get(0).getAsInt();
                    double value = top.getAsJsonArray().get(1).getAsDouble();
                    assertEquals(value, logits[id], 1e-4, name + " logit of " + id);
                }
                int[] generated = new int[expected.length];
                for (int i = 0; i < generated.length; i++) {
                    generated[i] = Sampler.argmax(logits);
                    if (i + 1 < generated.length) logits = session.decode(generated[i]);
                }
                assertArrayEquals(expected, generated, name + " greedy ids");
            }
        }
    }

    @Test
    void tokenizerAndGenerationReproduceTheStory() throws Exception {
        try (Model model = Model.load(dir)) {
            Tokenizer tokenizer = model.requireTokenizer();
            int[] prompt = tokenizer.encode("Once upon a time", true);
            assertArrayEquals(ReferenceParityTest.ints(reference.getAsJsonObject("prompt_once_upon_a_time").getAsJsonArray("prompt_ids")), prompt);
            StringBuilder streamed = new StringBuilder();
            GenerationResult result = Generator.generate(model, prompt, GenerationParams.greedy(64), streamed::append);
            assertEquals(streamed.toString(), result.text());
            assertEquals("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
                    + "One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said",
                    tokenizer.decode(concat(prompt, result.tokens()), true));
            assertTrue(result.text().startsWith(", there was a little girl named Lily."), result.text());
        }
    }

    static int[] concat(int[] a, int[] b) {
        int[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
