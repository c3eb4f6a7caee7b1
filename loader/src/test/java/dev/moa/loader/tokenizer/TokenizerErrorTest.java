package dev.moa.loader.tokenizer;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A bad tokenizer.json fails with a message naming the file and the field. */
class TokenizerErrorTest {
    @TempDir
    Path dir;

    private String loadError(String json) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, json);
        String message = assertThrows(TokenizerException.class, () -> Tokenizer.load(file)).getMessage();
        assertTrue(message.startsWith(file.toString() + ": "), () -> "names the file: " + message);
        return message;
    }

    /** The tiny valid tokenizer with one change. */
    private String broken(Consumer<JsonObject> change) {
        JsonObject json = JsonParser.parseString(TinyTokenizers.sentencePiece()).getAsJsonObject();
        change.accept(json);
        return json.toString();
    }

    private static void assertMentions(String message, String... parts) {
        for (String part : parts) assertTrue(message.contains(part), () -> "'" + message + "' should mention '" + part + "'");
    }

    @Test
    void malformedJson() throws IOException {
        assertMentions(loadError("{\"model\": {\"type\": \"BPE\", "), "not valid JSON");
        assertMentions(loadError("[1, 2]"), "top level must be a JSON object");
    }

    @Test
    void missingFile() {
        Path missing = dir.resolve("absent.json");
        String message = assertThrows(TokenizerException.class, () -> Tokenizer.load(missing)).getMessage();
        assertMentions(message, missing.toString(), "not found");
    }

    @Test
    void unsupportedModelType() throws IOException {
        assertMentions(loadError("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}"),
                "'model.type'", "Unigram", "not supported", "BPE");
        assertMentions(loadError("{\"normalizer\": null}"), "'model'", "must be an object");
    }

    @Test
    void missingOrMistypedVocabulary() throws IOException {
        assertMentions(loadError(broken(t -> t.getAsJsonObject("model").remove("vocab"))), "'model.vocab'", "must be an object", "field missing");
        assertMentions(loadError(broken(t -> t.getAsJsonObject("model").getAsJsonObject("vocab").addProperty("x", "seven"))),
                "'model.vocab.x'", "integer", "\"seven\"");
    }

    @Test
    void badMerges() throws IOException {
        assertMentions(loadError(broken(t -> t.getAsJsonObject("model").getAsJsonArray("merges").add("▁ zz"))),
                "'model.merges[10]'", "'zz'", "not in model.vocab");
        // both parts are tokens, their concatenation is not
        assertMentions(loadError(broken(t -> t.getAsJsonObject("model").getAsJsonArray("merges").add("el lo"))),
                "'model.merges[10]'", "merge makes 'ello', which is not in model.vocab");
        assertMentions(loadError(broken(t -> t.getAsJsonObject("model").getAsJsonArray("merges").add("nospace"))),
                "'model.merges[10]'", "two tokens");
    }

    @Test
    void unsupportedComponents() throws IOException {
        assertMentions(loadError(broken(t -> t.add("normalizer", JsonParser.parseString("{\"type\": \"Precompiled\", \"precompiled_charsmap\": \"\"}")))),
                "'normalizer.type'", "Precompiled");
        assertMentions(loadError(broken(t -> t.add("pre_tokenizer", JsonParser.parseString(
                "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\", \"invert\": false}]}")))),
                "'pre_tokenizer.pretokenizers[0].pattern.Regex'", "regex");
        assertMentions(loadError(broken(t -> t.add("decoder", JsonParser.parseString("{\"type\": \"WordPiece\"}")))),
                "'decoder.type'", "WordPiece");
        assertMentions(loadError(broken(t -> t.getAsJsonObject("model").addProperty("unk_token", "<nope>"))),
                "'model.unk_token'", "<nope>");
        assertMentions(loadError(broken(t -> t.getAsJsonObject("post_processor").getAsJsonArray("single").get(0)
                .getAsJsonObject().getAsJsonObject("SpecialToken").addProperty("id", "<bos>"))),
                "'post_processor.single[0].SpecialToken.id'", "<bos>");
    }

    @Test
    void fromJsonNamesTheGivenSource() {
        String message = assertThrows(TokenizerException.class, () -> Tokenizer.fromJson("{", "my-source")).getMessage();
        assertMentions(message, "my-source");
    }
}
