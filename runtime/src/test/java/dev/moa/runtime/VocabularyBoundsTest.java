package dev.moa.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Token ids that have no embedding row are refused when the model loads, naming the file and the id: before, an eos
 * id past the vocabulary silently never stopped generation and a tokenizer id past it read outside the weights.
 */
class VocabularyBoundsTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");

    @TempDir
    Path model;

    private JsonObject copyDemo(String edited) throws Exception {
        for (String f : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors")) {
            Files.copy(DEMO.resolve(f), model.resolve(f));
        }
        Files.delete(model.resolve(edited));
        return JsonParser.parseString(Files.readString(DEMO.resolve(edited))).getAsJsonObject();
    }

    private String loadError(String file, JsonObject content) throws Exception {
        Files.writeString(model.resolve(file), content.toString());
        return assertThrows(ConfigException.class, () -> Model.load(model).close()).getMessage();
    }

    @Test
    void anEosIdPastTheVocabularyIsAnError() throws Exception {
        JsonObject config = copyDemo("config.json");
        config.addProperty("eos_token_id", 2048);
        String message = loadError("config.json", config);
        assertTrue(message.contains("config.json: eos_token_id 2048 is outside the model's vocabulary of 2048 tokens"), message);
    }

    @Test
    void aPadIdPastTheVocabularyInTheGenerationConfigIsAnError() throws Exception {
        JsonObject generation = copyDemo("generation_config.json");
        generation.addProperty("pad_token_id", 5000);
        String message = loadError("generation_config.json", generation);
        assertTrue(message.contains("generation_config.json: pad_token_id 5000 is outside"), message);
    }

    @Test
    void aTokenizerLargerThanTheEmbeddingIsAnError() throws Exception {
        JsonObject tokenizer = copyDemo("tokenizer.json");
        // an added token not in the vocabulary takes the next id, one past the model's 2048 rows
        JsonObject extra = new JsonObject();
        extra.addProperty("id", 2048);
        extra.addProperty("content", "<|extra|>");
        extra.addProperty("special", true);
        tokenizer.getAsJsonArray("added_tokens").add(extra);
        Files.writeString(model.resolve("tokenizer.json"), tokenizer.toString());
        String message = assertThrows(ConfigException.class, () -> Model.load(model).close()).getMessage();
        assertTrue(message.contains("tokenizer.json: token id 2048 ('<|extra|>') is outside the model's vocabulary of 2048"), message);
    }

    @Test
    void theDemoModelItselfFits() throws Exception {
        try (Model m = Model.load(DEMO)) {
            assertEquals(2047, m.requireTokenizer().largestId());
        }
    }
}
