package dev.moa.loader.config;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.moa.loader.io.InputFiles;
import dev.moa.loader.json.StrictJson;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Typed, validated reads of fields from one JSON file; every failure names the file and the field. */
final class JsonFields {
    private final Path file;
    private final JsonObject root;

    JsonFields(Path file, JsonObject root) {
        this.file = file;
        this.root = root;
    }

    static JsonFields read(Path file) throws IOException {
        String text;
        try {
            text = InputFiles.readText(file, InputFiles.SMALL_JSON);
        } catch (NoSuchFileException e) {
            throw new ConfigException(file + ": file not found");
        }
        try {
            return new JsonFields(file, StrictJson.parseObject(text));
        } catch (StrictJson.Error e) {
            throw new ConfigException(file + ": not valid JSON (" + e.getMessage() + ")", e);
        }
    }

    Path file() {
        return file;
    }

    boolean has(String field) {
        JsonElement e = root.get(field);
        return e != null && !e.isJsonNull();
    }

    JsonElement raw(String field) {
        return root.get(field);
    }

    JsonFields object(String field) {
        JsonElement e = root.get(field);
        if (e == null || !e.isJsonObject()) throw error(field, "an object");
        return new JsonFields(file, e.getAsJsonObject());
    }

    String string(String field) {
        JsonElement e = root.get(field);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) throw error(field, "a string");
        return e.getAsString();
    }

    String string(String field, String fallback) {
        return has(field) ? string(field) : fallback;
    }

    int positiveInt(String field) {
        JsonElement e = root.get(field);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) throw error(field, "a positive integer");
        double v = e.getAsDouble();
        if (v != Math.rint(v) || v < 1 || v > Integer.MAX_VALUE) {
            throw new ConfigException(file + ": field '" + field + "' must be a positive integer, got " + e);
        }
        return (int) v;
    }

    int positiveInt(String field, int fallback) {
        return has(field) ? positiveInt(field) : fallback;
    }

    double positiveNumber(String field, double fallback) {
        if (!has(field)) return fallback;
        JsonElement e = root.get(field);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber() || !(e.getAsDouble() > 0) || Double.isInfinite(e.getAsDouble())) {
            throw new ConfigException(file + ": field '" + field + "' must be a positive number, got " + e);
        }
        return e.getAsDouble();
    }

    double positiveNumber(String field) {
        if (!has(field)) throw error(field, "a positive number");
        return positiveNumber(field, Double.NaN);
    }

    double number(String field) {
        JsonElement e = root.get(field);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) throw error(field, "a number");
        return e.getAsDouble();
    }

    boolean bool(String field, boolean fallback) {
        if (!has(field)) return fallback;
        JsonElement e = root.get(field);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) throw error(field, "true or false");
        return e.getAsBoolean();
    }

    /** A token id field that Hugging Face allows as an int or a list of ints (e.g. eos_token_id). */
    List<Integer> intOrIntList(String field) {
        List<Integer> ids = new ArrayList<>();
        if (!has(field)) return ids;
        JsonElement e = root.get(field);
        if (e.isJsonArray()) {
            for (JsonElement item : e.getAsJsonArray()) ids.add(tokenId(field, item));
        } else {
            ids.add(tokenId(field, e));
        }
        return ids;
    }

    private int tokenId(String field, JsonElement e) {
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber() || e.getAsDouble() < 0 || e.getAsDouble() != Math.rint(e.getAsDouble())
                || e.getAsDouble() > Integer.MAX_VALUE) {
            throw error(field, "a token id or a list of token ids");
        }
        return e.getAsInt();
    }

    /**
     * Token ids that must name rows of the embedding: an id at or past {@code vocabSize} would read outside it (or,
     * for an eos id, silently never stop generation).
     */
    List<Integer> tokenIds(String field, int vocabSize) {
        List<Integer> ids = intOrIntList(field);
        for (int id : ids) {
            if (id >= vocabSize) {
                throw new ConfigException(file + ": " + field + " " + id + " is outside the model's vocabulary of "
                        + vocabSize + " tokens (vocab_size in config.json)");
            }
        }
        return ids;
    }

    ConfigException error(String field, String expected) {
        JsonElement e = root.get(field);
        String got = e == null ? "missing" : "got " + e;
        return new ConfigException(file + ": field '" + field + "' must be " + expected + " (" + got + ")");
    }
}
