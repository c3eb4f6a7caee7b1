package dev.moa.loader.tokenizer;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One JSON value of a tokenizer.json together with where it came from (file and dotted field path),
 * so that every validation failure can say exactly which field was wrong and what was expected.
 */
final class JsonNode {
    private final String source;
    private final JsonNode parent; // null for the root
    private final String field;    // name in the parent object, or null for an array item
    private final int index;       // position in the parent array
    private final JsonElement element; // null when the field is absent

    JsonNode(String source, JsonElement root) {
        this(source, null, null, -1, root);
    }

    private JsonNode(String source, JsonNode parent, String field, int index, JsonElement element) {
        this.source = source;
        this.parent = parent;
        this.field = field;
        this.index = index;
        this.element = element;
    }

    /** The dotted path of this value, e.g. {@code model.merges[3]}; built only when an error is reported. */
    String path() {
        if (parent == null) return "";
        String up = parent.path();
        if (field == null) return up + "[" + index + "]";
        return up.isEmpty() ? field : up + "." + field;
    }

    /** True when the field is absent or JSON null; HF treats both as "not configured". */
    boolean isNull() {
        return element == null || element.isJsonNull();
    }

    boolean isObject() {
        return element != null && element.isJsonObject();
    }

    boolean isArray() {
        return element != null && element.isJsonArray();
    }

    boolean isString() {
        return element instanceof JsonPrimitive p && p.isString();
    }

    JsonNode get(String field) {
        JsonObject object = asObject();
        return new JsonNode(source, this, field, -1, object.get(field));
    }

    boolean has(String field) {
        return !get(field).isNull();
    }

    /** The object's entries, in file order. */
    List<Map.Entry<String, JsonNode>> entries() {
        List<Map.Entry<String, JsonNode>> out = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : asObject().entrySet()) {
            out.add(Map.entry(e.getKey(), new JsonNode(source, this, e.getKey(), -1, e.getValue())));
        }
        return out;
    }

    List<JsonNode> items() {
        if (!isArray()) throw expected("an array");
        JsonArray array = element.getAsJsonArray();
        List<JsonNode> out = new ArrayList<>(array.size());
        for (int i = 0; i < array.size(); i++) out.add(new JsonNode(source, this, null, i, array.get(i)));
        return out;
    }

    String string() {
        if (!isString()) throw expected("a string");
        return element.getAsString();
    }

    String string(String field) {
        return get(field).string();
    }

    String optString(String field, String fallback) {
        JsonNode n = get(field);
        return n.isNull() ? fallback : n.string();
    }

    boolean bool(String field, boolean fallback) {
        JsonNode n = get(field);
        if (n.isNull()) return fallback;
        if (!(n.element instanceof JsonPrimitive p && p.isBoolean())) throw n.expected("true or false");
        return p.getAsBoolean();
    }

    int integer() {
        if (!(element instanceof JsonPrimitive p && p.isNumber())) throw expected("a non-negative integer");
        double v = p.getAsDouble();
        if (v != Math.rint(v) || v < 0 || v > Integer.MAX_VALUE) throw expected("a non-negative integer");
        return (int) v;
    }

    /**
     * A token id: the tokenizer keeps one slot per id up to the largest, so an id is bounded before anything is sized
     * by it (the largest released vocabularies hold about 256k tokens).
     */
    int tokenId() {
        int id = integer();
        if (id >= Tokenizer.MAX_IDS) throw error("token id " + id + " is past the " + Tokenizer.MAX_IDS + " ids a vocabulary may hold");
        return id;
    }

    double number() {
        if (!(element instanceof JsonPrimitive p && p.isNumber())) throw expected("a number");
        return p.getAsDouble();
    }

    int integer(String field, int fallback) {
        JsonNode n = get(field);
        return n.isNull() ? fallback : n.integer();
    }

    /** The {@code type} discriminator of a component object (normalizer, model, decoder, ...). */
    String type() {
        return string("type");
    }

    TokenizerException expected(String what) {
        String found = element == null ? "nothing (field missing)" : abbreviate(element.toString());
        return new TokenizerException(source + ": field '" + path() + "' must be " + what + ", found " + found);
    }

    TokenizerException unsupported(String what, String supported) {
        return new TokenizerException(source + ": field '" + path() + "': " + what + " is not supported (supported: "
                + supported + ")");
    }

    TokenizerException error(String message) {
        return new TokenizerException(source + ": field '" + path() + "': " + message);
    }

    private JsonObject asObject() {
        if (!isObject()) throw expected("an object");
        return element.getAsJsonObject();
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
