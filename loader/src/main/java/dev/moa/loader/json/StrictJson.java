package dev.moa.loader.json;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.internal.LazilyParsedNumber;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.MalformedJsonException;
import java.io.IOException;
import java.io.StringReader;

/**
 * JSON as Python's {@code json.load} reads it, and stricter where a silent choice would be wrong: strict syntax
 * (no comments, unquoted names or trailing garbage) and no name twice in one object -- Gson's tree parser keeps
 * the last of two equal names, so a file with two entries for one tensor would load whichever came second.
 * Nesting is limited to {@value #MAX_DEPTH} levels, as in the Rust readers of {@code tokenizers} and {@code safetensors}
 * (serde_json), so a file of a million {@code [} is an error rather than a stack overflow. Errors are one sentence
 * with the line and column, free of library class names.
 */
public final class StrictJson {
    /** Why a text is not the JSON asked for, with its line and column. */
    public static final class Error extends Exception {
        Error(String message) {
            super(message);
        }
    }

    /** serde_json's recursion limit, which the Hugging Face readers inherit. */
    public static final int MAX_DEPTH = 128;

    private StrictJson() {
    }

    /** Parses a whole text that must hold exactly one JSON value. */
    public static JsonElement parse(String text) throws Error {
        JsonReader reader = new JsonReader(new StringReader(text));
        reader.setStrictness(Strictness.STRICT);
        try {
            JsonElement value = read(reader, 0);
            if (reader.peek() != JsonToken.END_DOCUMENT) throw new Error("text after the JSON value " + where(reader));
            return value;
        } catch (MalformedJsonException e) {
            throw new Error(plain(e.getMessage()));
        } catch (java.io.EOFException e) {
            throw new Error("the JSON ends too early " + where(reader));
        } catch (IOException | IllegalStateException | NumberFormatException e) {
            throw new Error(plain(e.getMessage()));
        }
    }

    /** Parses a text that must hold one JSON object. */
    public static JsonObject parseObject(String text) throws Error {
        JsonElement value = parse(text);
        if (!value.isJsonObject()) throw new Error("the top level is not a JSON object");
        return value.getAsJsonObject();
    }

    /** One line of a JSON Lines file, which must hold one JSON object; errors give the column (the caller knows the line). */
    public static JsonObject parseObjectLine(String line) throws Error {
        try {
            return parseObject(line);
        } catch (Error e) {
            throw new Error(e.getMessage().replace(" at line 1 column ", " at column "));
        }
    }

    /**
     * The JSON text of a tree, pretty-printed, with every NaN or infinite number written as {@code null}: JSON has
     * no such numbers, and a file with them is rejected by every strict reader (this one included).
     */
    public static String write(JsonElement tree) {
        return new com.google.gson.GsonBuilder().setPrettyPrinting().create().toJson(finite(tree));
    }

    private static JsonElement finite(JsonElement e) {
        if (e.isJsonObject()) {
            JsonObject copy = new JsonObject();
            e.getAsJsonObject().entrySet().forEach(entry -> copy.add(entry.getKey(), finite(entry.getValue())));
            return copy;
        }
        if (e.isJsonArray()) {
            JsonArray copy = new JsonArray();
            e.getAsJsonArray().forEach(item -> copy.add(finite(item)));
            return copy;
        }
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber()) {
            double v = e.getAsDouble();
            return Double.isFinite(v) ? e : JsonNull.INSTANCE;
        }
        return e;
    }

    private static JsonElement read(JsonReader reader, int depth) throws IOException, Error {
        JsonToken token = reader.peek();
        if ((token == JsonToken.BEGIN_OBJECT || token == JsonToken.BEGIN_ARRAY) && depth == MAX_DEPTH) {
            throw new Error("nested deeper than " + MAX_DEPTH + " levels " + where(reader));
        }
        switch (token) {
            case BEGIN_OBJECT -> {
                JsonObject object = new JsonObject();
                reader.beginObject();
                while (reader.hasNext()) {
                    String name = reader.nextName();
                    if (object.has(name)) throw new Error("the name \"" + name + "\" appears twice in one object " + where(reader));
                    object.add(name, read(reader, depth + 1));
                }
                reader.endObject();
                return object;
            }
            case BEGIN_ARRAY -> {
                JsonArray array = new JsonArray();
                reader.beginArray();
                while (reader.hasNext()) array.add(read(reader, depth + 1));
                reader.endArray();
                return array;
            }
            case STRING -> {
                return new JsonPrimitive(reader.nextString());
            }
            case NUMBER -> {
                return new JsonPrimitive(new LazilyParsedNumber(reader.nextString()));
            }
            case BOOLEAN -> {
                return new JsonPrimitive(reader.nextBoolean());
            }
            case NULL -> {
                reader.nextNull();
                return JsonNull.INSTANCE;
            }
            default -> throw new Error("a JSON value was expected " + where(reader));
        }
    }

    private static String where(JsonReader reader) {
        // JsonReader.toString ends with " at line L column C path P"
        String s = reader.toString();
        int at = s.indexOf(" at line ");
        return at < 0 ? "" : s.substring(at + 1);
    }

    /** Gson's messages without their advice to switch to lenient parsing or links to its troubleshooting page. */
    private static String plain(String message) {
        if (message == null) return "not valid JSON";
        String m = message.replaceAll("\\s*Use JsonReader\\.setStrictness\\(Strictness\\.LENIENT\\)[^\\n]*?(?= at line|$)", "")
                .replaceAll("\\s*Use JsonReader\\.setLenient\\(true\\)[^\\n]*?(?= at line|$)", "")
                .replaceAll("\\s*See https://\\S+", "").trim();
        // Gson says only where, not what, when strict syntax rules a text out.
        return m.startsWith("at line") ? "not strict JSON (comments, single quotes and unquoted names are not JSON) " + m : m;
    }
}
