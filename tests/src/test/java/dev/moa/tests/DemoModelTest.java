package dev.moa.tests;

import dev.moa.plans.HeadSpans;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.plans.MoaPlan;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.eval.RetrievalEval;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.Prompts;
import dev.moa.runtime.model.MoaKvCache;
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

    /** The plans moa compress made for this model: they load, keep the budget where it was set, and 50 % retrieves. */
    @Test
    void committedPlansKeepTheirBudgetAndTheFiftyPercentPlanRetrievesWhereTheUniformRuleCannot() throws Exception {
        for (double density : new double[] {0.5, 0.25}) {
            Path file = dir.resolve("moa-plan-" + Math.round(density * 100) + ".json");
            MoaPlan plan = MoaPlan.load(file).validateFor(model.config().numLayers(), model.config().numHeads(), dir.toString());
            // The lengths compress bounded (profiled and validation lengths); between them block rounding and the clamp
            // at N can push the share a few points higher (docs/benchmarks.md).
            for (int n : new int[] {1024, 2048, 3072, 4096}) {
                long dense = 2L * model.config().numLayers() * model.config().numKvHeads() * n * model.config().headDim() * Float.BYTES;
                assertTrue(MoaKvCache.byteSize(model.config(), HeadSpans.of(plan, n)) <= density * dense, file + " at N=" + n);
            }
        }
        MoaPlan fifty = MoaPlan.load(dir.resolve("moa-plan-50.json"));
        var moa = RetrievalEval.run(model, new RetrievalEval.Settings(List.of(2048), 1, new AttentionMode.Sparse("moa:moa-plan-50.json", c -> fifty), 11), null);
        var uniform = RetrievalEval.run(model, new RetrievalEval.Settings(List.of(2048), 1, AttentionMode.parse("uniform:0,0.5"), 11), null);
        assertTrue(moa.accuracy(2048) >= 0.8 && uniform.accuracy(2048) <= 0.6, moa.table() + uniform.table());
    }
}
