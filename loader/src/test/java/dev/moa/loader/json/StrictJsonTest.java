package dev.moa.loader.json;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.loader.config.ConfigException;
import dev.moa.loader.config.ModelConfig;
import dev.moa.loader.io.InputFiles;
import dev.moa.loader.tokenizer.Tokenizer;
import dev.moa.loader.tokenizer.TokenizerException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every text here is one that Python's {@code json.loads} rejects (checked with CPython 3 when the list was written);
 * Gson's default reader, which the loader used before, accepts each of them and guesses a meaning.
 */
class StrictJsonTest {
    static final List<String> PYTHON_REJECTS = List.of(
            "{\"a\": 1,}", "{\"a\": 1} // c", "/* c */ {\"a\": 1}", "{'a': 1}", "{a: 1}", "{\"a\": 01}", "{\"a\": +1}",
            "{\"a\": .5}", "{\"a\": 0x10}", "{\"a\": \"x\ty\"}", "{\"a\": \"\\x41\"}", "{\"a\": 1} {\"b\": 2}", "{\"a\": 1};",
            "{\"a\" 1}", "{\"a\": [1 2]}", "{\"a\": tru}", "", "{\"a\": 1");

    @TempDir
    Path dir;

    @Test
    void rejectsWhatPythonRejectsInOneSentenceWithoutLibraryAdvice() {
        for (String text : PYTHON_REJECTS) {
            String message = assertThrows(StrictJson.Error.class, () -> StrictJson.parse(text), text).getMessage();
            assertFalse(message.contains("LENIENT") || message.contains("setLenient") || message.contains("https://")
                    || message.contains("Exception") || message.contains("com.google"), text + " -> " + message);
            assertFalse(message.contains("\n"), message);
        }
        String where = assertThrows(StrictJson.Error.class, () -> StrictJson.parse("{\n  \"a\": 1,\n}")).getMessage();
        assertTrue(where.contains("line 3"), where);
    }

    @Test
    void duplicateNamesAndDeepNestingAreErrorsNotSilentChoicesOrCrashes() {
        String twice = assertThrows(StrictJson.Error.class, () -> StrictJson.parse("{\"a\": 1, \"a\": 2}")).getMessage();
        assertTrue(twice.contains("\"a\" appears twice"), twice);
        String deep = "[".repeat(1_000_000) + "]".repeat(1_000_000);
        assertTrue(assertThrows(StrictJson.Error.class, () -> StrictJson.parse(deep)).getMessage().contains("nested deeper than 128"));
        String fine = "[".repeat(StrictJson.MAX_DEPTH) + "]".repeat(StrictJson.MAX_DEPTH);
        assertTrue(assertDoesNotThrowParse(fine).isJsonArray());
    }

    @Test
    void acceptsWhatJsonAllows() throws Exception {
        var o = StrictJson.parseObject("{\"a\": [1, -2.5e3, true, null, \"\\u00e9\\n\"], \"b\": {}}");
        assertEquals(-2500.0, o.getAsJsonArray("a").get(1).getAsDouble());
        assertEquals("\u00e9\n", o.getAsJsonArray("a").get(4).getAsString());
        String line = assertThrows(StrictJson.Error.class, () -> StrictJson.parseObjectLine("{\"x\": 1 2}")).getMessage();
        assertTrue(line.contains("at column") && !line.contains("line 1"), line);
    }

    private static com.google.gson.JsonElement assertDoesNotThrowParse(String text) {
        try {
            return StrictJson.parse(text);
        } catch (StrictJson.Error e) {
            throw new AssertionError(e.getMessage());
        }
    }

    @Test
    void configsAndTokenizersAreReadStrictly() throws IOException {
        Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"LlamaForCausalLM\"], // a comment\n \"hidden_size\": 64}");
        String config = assertThrows(ConfigException.class, () -> ModelConfig.load(dir)).getMessage();
        assertTrue(config.contains("config.json") && config.contains("line 1"), config);

        Files.writeString(dir.resolve("config.json"), "{\"hidden_size\": 64, \"hidden_size\": 128}");
        String twice = assertThrows(ConfigException.class, () -> ModelConfig.load(dir)).getMessage();
        assertTrue(twice.contains("\"hidden_size\" appears twice"), twice);

        String tokenizer = assertThrows(TokenizerException.class,
                () -> Tokenizer.fromJson("{'model': {'type': 'BPE'}}", "tokenizer.json")).getMessage();
        assertTrue(tokenizer.startsWith("tokenizer.json: not valid JSON"), tokenizer);
    }

    @Test
    void malformedUtf8IsAnErrorNotAReplacementCharacter() throws IOException {
        Path file = dir.resolve("config.json");
        byte[] text = "{\"model_type\": \"llama\u00ff\"}".getBytes(StandardCharsets.ISO_8859_1);
        Files.write(file, text);
        String message = assertThrows(IOException.class, () -> InputFiles.readText(file, InputFiles.SMALL_JSON)).getMessage();
        assertTrue(message.contains("not valid UTF-8 at byte 21"), message);
        Files.writeString(file, "{\"name\": \"caf\u00e9 \uD83D\uDE00\"}");
        assertEquals("{\"name\": \"caf\u00e9 \uD83D\uDE00\"}", InputFiles.readText(file, InputFiles.SMALL_JSON));
    }
}
