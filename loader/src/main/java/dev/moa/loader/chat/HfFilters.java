package dev.moa.loader.chat;

import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Filters whose jinjava versions differ from what transformers' jinja2 produces: {@code tojson}
 * (transformers' own json.dumps, not compact JSON), {@code trim} (Python str.strip), {@code default}
 * (keeps the fallback's type), {@code indent} (Jinja2's signature), {@code string} and {@code list}
 * (Python str() and iteration), and {@code items}, which jinjava lacks.
 *
 * <p>jinjava has one null for Python's None and Jinja2's undefined; filters treat it as undefined,
 * the common case in templates ({@code message.name|trim} on a message without a name is "").
 */
final class HfFilters {
    private HfFilters() {}

    static void register(Context globals) {
        globals.registerFilter(new Simple("tojson", HfFilters::tojson));
        globals.registerFilter(new Simple("trim", (value, args, kwargs) ->
                PyStrings.strip(text(value), optString(arg(args, kwargs, 0, "chars")))));
        // jinjava's default turns a non-string fallback into its text ("false") and judges with its own truthiness.
        Body defaultFilter = (value, args, kwargs) -> {
            Object fallback = args.isEmpty() && !kwargs.containsKey("default_value") ? "" : arg(args, kwargs, 0, "default_value");
            boolean onFalsy = PyTruth.test(arg(args, kwargs, 1, "boolean"));
            return value == null || (onFalsy && !PyTruth.test(value)) ? fallback : value;
        };
        globals.registerFilter(new Simple("default", defaultFilter));
        globals.registerFilter(new Simple("d", defaultFilter));
        globals.registerFilter(new Simple("items", (value, args, kwargs) -> {
            if (value == null) return List.of();
            if (!(value instanceof Map<?, ?> map)) throw new IllegalArgumentException("items filter expects a mapping");
            return map.entrySet().stream().<Object>map(e -> new PythonMethods.Pair(e.getKey(), e.getValue())).toList();
        }));
        globals.registerFilter(new Simple("indent", HfFilters::indent));
        globals.registerFilter(new Simple("string", (value, args, kwargs) -> text(value)));
        globals.registerFilter(new Simple("list", (value, args, kwargs) -> PyForTag.iterate(value)));
    }

    /** Jinja2's do_indent(width=4, first=False, blank=False), quirks included (its "s += newline"). */
    private static Object indent(Object value, List<Object> args, Map<String, Object> kwargs) {
        Object width = arg(args, kwargs, 0, "width");
        String pad = width == null ? "    " : width instanceof Number n ? " ".repeat(n.intValue()) : PyValues.str(width);
        boolean first = PyTruth.test(arg(args, kwargs, 1, "first"));
        boolean blank = PyTruth.test(arg(args, kwargs, 2, "blank"));
        List<String> lines = new ArrayList<>(PyStrings.splitlines(text(value) + "\n"));
        String out;
        if (blank) {
            out = String.join("\n" + pad, lines);
        } else {
            out = lines.remove(0);
            if (!lines.isEmpty()) {
                out += "\n" + String.join("\n", lines.stream().map(line -> line.isEmpty() ? line : pad + line).toList());
            }
        }
        return first ? pad + out : out;
    }

    /** transformers: {@code json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)}. */
    private static Object tojson(Object value, List<Object> args, Map<String, Object> kwargs) {
        Object ensureAscii = arg(args, kwargs, 0, "ensure_ascii");
        Object indent = arg(args, kwargs, 1, "indent");
        Object separators = arg(args, kwargs, 2, "separators");
        Object sortKeys = arg(args, kwargs, 3, "sort_keys");
        String indentText = indent == null ? null
                : indent instanceof Number n ? " ".repeat(Math.max(0, n.intValue())) : PyValues.str(indent);
        String itemSeparator = null;
        String keySeparator = null;
        if (separators instanceof List<?> pair && pair.size() == 2) {
            itemSeparator = PyValues.str(pair.get(0));
            keySeparator = PyValues.str(pair.get(1));
        }
        return new PyJson(indentText, itemSeparator, keySeparator, Boolean.TRUE.equals(sortKeys), Boolean.TRUE.equals(ensureAscii))
                .dumps(value);
    }

    /** str() of a value, with undefined as "". */
    private static String text(Object value) {
        return value == null ? "" : PyValues.str(value);
    }

    private static Object arg(List<Object> args, Map<String, Object> kwargs, int index, String name) {
        return index < args.size() ? args.get(index) : kwargs.get(name);
    }

    private static String optString(Object value) {
        return value == null ? null : PyValues.str(value);
    }

    @FunctionalInterface
    interface Body {
        Object apply(Object value, List<Object> args, Map<String, Object> kwargs);
    }

    /** A filter taking Python-style positional and keyword arguments as objects (not strings). */
    private record Simple(String name, Body body) implements Filter {
        @Override
        public String getName() {
            return name;
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            return body.apply(var, Arrays.asList(args), kwargs);
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return body.apply(var, Arrays.asList((Object[]) args), Map.of());
        }
    }
}
