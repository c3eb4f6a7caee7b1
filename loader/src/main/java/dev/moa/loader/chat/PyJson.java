package dev.moa.loader.chat;

import java.util.Collection;
import java.util.Map;

/**
 * Python's {@code json.dumps(x, ensure_ascii=False, indent=..., separators=..., sort_keys=...)}, which
 * transformers installs as the {@code tojson} filter. Its spacing ({@code ", "} and {@code ": "}) and
 * escaping end up in prompts that show tool schemas, so they must match byte for byte.
 */
final class PyJson {
    private final String indent;
    private final String itemSeparator;
    private final String keySeparator;
    private final boolean sortKeys;
    private final boolean ensureAscii;

    /** @param indent null for one line, else the text repeated per nesting level */
    PyJson(String indent, String itemSeparator, String keySeparator, boolean sortKeys, boolean ensureAscii) {
        this.indent = indent;
        this.itemSeparator = itemSeparator != null ? itemSeparator : indent == null ? ", " : ",";
        this.keySeparator = keySeparator != null ? keySeparator : ": ";
        this.sortKeys = sortKeys;
        this.ensureAscii = ensureAscii;
    }

    String dumps(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, out, 0);
        return out.toString();
    }

    private void write(Object value, StringBuilder out, int depth) {
        String text = PyValues.asString(value);
        if (value == null) {
            out.append("null");
        } else if (value instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (text != null) {
            quote(text, out);
        } else if (value instanceof Double || value instanceof Float) {
            double d = ((Number) value).doubleValue();
            out.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity") : PyValues.repr(value));
        } else if (value instanceof Number) {
            out.append(value);
        } else if (value instanceof Map<?, ?> map) {
            var entries = new java.util.ArrayList<Map.Entry<?, ?>>(map.entrySet());
            if (sortKeys) entries.sort((x, y) -> key(x.getKey()).compareTo(key(y.getKey())));
            if (entries.isEmpty()) {
                out.append("{}");
                return;
            }
            out.append('{');
            for (int i = 0; i < entries.size(); i++) {
                if (i > 0) out.append(itemSeparator);
                newline(out, depth + 1);
                quote(key(entries.get(i).getKey()), out);
                out.append(keySeparator);
                write(entries.get(i).getValue(), out, depth + 1);
            }
            newline(out, depth);
            out.append('}');
        } else if (value instanceof Collection<?> list) {
            if (list.isEmpty()) {
                out.append("[]");
                return;
            }
            out.append('[');
            int i = 0;
            for (Object item : list) {
                if (i++ > 0) out.append(itemSeparator);
                newline(out, depth + 1);
                write(item, out, depth + 1);
            }
            newline(out, depth);
            out.append(']');
        } else {
            throw new IllegalArgumentException("Object of type " + value.getClass().getSimpleName() + " is not JSON serializable");
        }
    }

    /** JSON object keys: Python converts None/bool/number keys to their JSON text. */
    private static String key(Object k) {
        String text = PyValues.asString(k);
        if (text != null) return text;
        if (k == null) return "null";
        if (k instanceof Boolean b) return b ? "true" : "false";
        return PyValues.repr(k);
    }

    private void newline(StringBuilder out, int depth) {
        if (indent == null) return;
        out.append('\n').append(indent.repeat(depth));
    }

    private void quote(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || (ensureAscii && c > 0x7f)) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        out.append('"');
    }
}
