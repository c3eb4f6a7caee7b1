package dev.moa.loader.chat;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.moa.loader.io.InputFiles;
import dev.moa.loader.json.StrictJson;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** Reads {@code chat_template} and the special tokens out of a Hugging Face tokenizer_config.json. */
final class TokenizerConfigReader {
    /** transformers' SPECIAL_TOKENS_ATTRIBUTES (single tokens): a wrong type here is an error, not noise. */
    private static final Set<String> KNOWN_TOKENS =
            Set.of("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token");

    private final Path file;
    private final JsonObject root;

    private TokenizerConfigReader(Path file, JsonObject root) {
        this.file = file;
        this.root = root;
    }

    static TokenizerConfigReader read(Path file) throws IOException {
        String text = InputFiles.readText(file, InputFiles.SMALL_JSON);
        try {
            return new TokenizerConfigReader(file, StrictJson.parseObject(text));
        } catch (StrictJson.Error e) {
            throw new ChatTemplateException(file + ": not valid JSON (" + e.getMessage() + ")", e);
        }
    }

    /**
     * The template text: {@code chat_template} is either a string or, in newer files, a list of
     * {@code {name, template}} of which transformers uses the one named "default".
     */
    Optional<String> chatTemplate() {
        JsonElement e = root.get("chat_template");
        if (e == null || e.isJsonNull()) return Optional.empty();
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isString()) return Optional.of(e.getAsString());
        if (!e.isJsonArray()) throw error("chat_template", "must be a string or a list of {\"name\", \"template\"} objects, got " + kind(e));
        List<String> names = new ArrayList<>();
        for (JsonElement item : e.getAsJsonArray()) {
            if (!item.isJsonObject() || !isString(item.getAsJsonObject().get("name")) || !isString(item.getAsJsonObject().get("template"))) {
                throw error("chat_template", "list entries must be {\"name\": string, \"template\": string}, got " + item);
            }
            String name = item.getAsJsonObject().get("name").getAsString();
            if (name.equals("default")) return Optional.of(item.getAsJsonObject().get("template").getAsString());
            names.add(name);
        }
        throw error("chat_template", "has no template named \"default\" (has " + names + ")");
    }

    /**
     * Special tokens as templates see them: every top-level {@code *_token} whose value is a string
     * or an AddedToken object {@code {"content": ...}}. Booleans such as {@code add_bos_token} are
     * not tokens and are skipped.
     */
    Map<String, String> specialTokens() {
        Map<String, String> tokens = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> field : root.entrySet()) {
            String name = field.getKey();
            JsonElement value = field.getValue();
            if (!name.endsWith("_token") || value.isJsonNull()) continue;
            if (isString(value)) {
                tokens.put(name, value.getAsString());
            } else if (value.isJsonObject()) {
                JsonElement content = value.getAsJsonObject().get("content");
                if (!isString(content)) throw error(name, "is an object without a string \"content\": " + value);
                tokens.put(name, content.getAsString());
            } else if (KNOWN_TOKENS.contains(name)) {
                throw error(name, "must be a string or {\"content\": string}, got " + kind(value));
            }
        }
        return tokens;
    }

    private static boolean isString(JsonElement e) {
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isString();
    }

    private static String kind(JsonElement e) {
        if (e.isJsonObject()) return "an object";
        if (e.isJsonArray()) return "a list";
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber()) return "a number";
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean()) return "a boolean";
        return e.toString();
    }

    private ChatTemplateException error(String field, String problem) {
        return new ChatTemplateException(file + ": field '" + field + "' " + problem);
    }
}
