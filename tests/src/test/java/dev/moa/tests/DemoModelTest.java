package dev.moa.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.eval.RetrievalEval;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.Prompts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The bundled demo model (models/moa-demo, trained by scripts/train-demo-model): it loads unchanged, tokenises
 * exactly as the Python training pipeline did, writes English words and retrieves values from long records.
 */
class DemoModelTest {
    static Path dir = TestPaths.repoRoot().resolve("models/moa-demo");
    static Model model;

    @BeforeAll
    static void load() throws Exception {
        assertTrue(Files.isRegularFile(dir.resolve("config.json")),
                "models/moa-demo is committed with the repository; " + dir + " has no config.json");
        model = Model.load(dir);
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    /** tokenizer-golden.json is written by the training script from its own (Python) encoder. */
    @Test
    void tokenisesExactlyAsTheTrainingPipeline() throws Exception {
        JsonArray cases = JsonParser.parseString(Files.readString(dir.resolve("tokenizer-golden.json"))).getAsJsonArray();
        assertTrue(cases.size() >= 5);
        for (var c : cases) {
            JsonObject o = c.getAsJsonObject();
            String text = o.get("text").getAsString();
            assertArrayEquals(ReferenceParityTest.ints(o.getAsJsonArray("ids")), model.requireTokenizer().encode(text, false),
                    () -> "ids of: " + text.substring(0, Math.min(80, text.length())));
        }
    }

    @Test
    void continuesEnglishWithWords() {
        GenerationResult r = Generator.generate(model, Prompts.plain(model, "It is a truth universally acknowledged, that"),
                GenerationParams.greedy(40), s -> { });
        String[] words = r.text().trim().split("\\s+");
        // Hyphenated compounds count as words: the corpora are full of them ("sperm-whale", "to-morrow").
        long dictionaryLike = java.util.Arrays.stream(words).filter(w -> w.matches("[\"'(]?[A-Za-z]+(-[A-Za-z]+)*[.,;:!?'\")]*")).count();
        assertTrue(words.length >= 10 && dictionaryLike >= 0.8 * words.length, r.text());
    }

    @Test
    void retrievesFromTwoThousandTokenRecords() {
        var settings = new RetrievalEval.Settings(List.of(2048), 1, new AttentionMode.Dense(), 11);
        RetrievalEval.Result result = RetrievalEval.run(model, settings, null);
        assertEquals(10, result.outcomes().size());
        assertTrue(result.accuracy(2048) >= 0.8, result.table());
    }
}
