package dev.moa.loader.chat;

import com.hubspot.jinjava.objects.SafeString;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/** Python semantics of template values: str(), repr(), type names, {@code ==} and {@code +}. */
final class PyValues {
    private PyValues() {}

    /** A string-like value as a Java String (jinjava wraps {@code |safe} output in SafeString), else null. */
    static String asString(Object value) {
        if (value instanceof String s) return s;
        if (value instanceof SafeString s) return s.toString();
        return null;
    }

    /** Python's {@code ==}: no string/number coercion (1 != '1'), True == 1, containers compared item by item. */
    static boolean eq(Object a, Object b) {
        if (a == null || b == null) return a == b;
        String sa = asString(a);
        String sb = asString(b);
        if (sa != null || sb != null) return sa != null && sa.equals(sb);
        if (isNumber(a) && isNumber(b)) {
            if (isIntegral(a) && isIntegral(b)) return toLong(a) == toLong(b);
            return toDouble(a) == toDouble(b);
        }
        if (a instanceof java.util.List<?> la && b instanceof java.util.List<?> lb) {
            if (la.size() != lb.size()) return false;
            for (int i = 0; i < la.size(); i++) {
                if (!eq(la.get(i), lb.get(i))) return false;
            }
            return true;
        }
        if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
            if (ma.size() != mb.size()) return false;
            for (Map.Entry<?, ?> e : ma.entrySet()) {
                if (!mb.containsKey(e.getKey()) || !eq(e.getValue(), mb.get(e.getKey()))) return false;
            }
            return true;
        }
        return a.equals(b);
    }

    /**
     * Python's {@code +}: str + str concatenates; str + anything else is a TypeError, and so is None
     * or undefined (jinjava would print "null" or "true" into the prompt); lists concatenate, numbers add.
     *
     * @throws IllegalArgumentException with Python's reason
     */
    static Object add(Object l, Object r) {
        String ls = asString(l);
        String rs = asString(r);
        if (ls != null && rs != null) return ls + rs;
        if (l == null || r == null) {
            throw new IllegalArgumentException("unsupported operand for +: " + (l == null ? "None/undefined" : shortRepr(l))
                    + " + " + (r == null ? "None/undefined" : shortRepr(r)));
        }
        if (ls != null || rs != null) {
            throw new IllegalArgumentException("TypeError: can only concatenate str (not \"" + typeName(ls != null ? r : l) + "\") to str");
        }
        if (l instanceof Collection<?> a && r instanceof Collection<?> b) {
            List<Object> joined = new ArrayList<>(a);
            joined.addAll(b);
            return joined;
        }
        if (isNumber(l) && isNumber(r)) {
            if (isIntegral(l) && isIntegral(r)) return Math.addExact(toLong(l), toLong(r));
            return toDouble(l) + toDouble(r);
        }
        throw new IllegalArgumentException("TypeError: unsupported operand types for +: '" + typeName(l) + "' and '" + typeName(r) + "'");
    }

    private static boolean isNumber(Object o) {
        return o instanceof Number || o instanceof Boolean;
    }

    private static boolean isIntegral(Object o) {
        return o instanceof Boolean || o instanceof Long || o instanceof Integer || o instanceof Short || o instanceof Byte;
    }

    private static long toLong(Object o) {
        return o instanceof Boolean b ? (b ? 1 : 0) : ((Number) o).longValue();
    }

    private static double toDouble(Object o) {
        return o instanceof Boolean b ? (b ? 1 : 0) : ((Number) o).doubleValue();
    }

    static String str(Object value) {
        String s = asString(value);
        return s != null ? s : repr(value);
    }

    static String repr(Object value) {
        if (value == null) return "None";
        if (value instanceof Boolean b) return b ? "True" : "False";
        String s = asString(value);
        if (s != null) return quote(s);
        if (value instanceof Double || value instanceof Float) {
            double d = ((Number) value).doubleValue();
            return d == Math.rint(d) && !Double.isInfinite(d) ? String.valueOf((long) d) + ".0" : String.valueOf(d);
        }
        if (value instanceof Number) return value.toString();
        if (value instanceof Map<?, ?> map) {
            List<String> parts = new ArrayList<>();
            map.forEach((k, v) -> parts.add(repr(k) + ": " + repr(v)));
            return "{" + String.join(", ", parts) + "}";
        }
        if (value instanceof Collection<?> list) {
            List<String> parts = new ArrayList<>();
            list.forEach(v -> parts.add(repr(v)));
            return "[" + String.join(", ", parts) + "]";
        }
        return value.toString();
    }

    /** Python's type name of a template value, for error messages. */
    static String typeName(Object value) {
        if (value == null) return "NoneType";
        if (value instanceof Boolean) return "bool";
        if (asString(value) != null) return "str";
        if (value instanceof Double || value instanceof Float) return "float";
        if (value instanceof Number) return "int";
        if (value instanceof Map<?, ?>) return "dict";
        if (value instanceof Collection<?>) return "list";
        return value.getClass().getSimpleName();
    }

    /** repr cut to a readable length, for error messages that quote a value. */
    static String shortRepr(Object value) {
        String r = repr(value);
        return r.length() <= 60 ? r : r.substring(0, 57) + "...";
    }

    /** Python's repr of a str: single quotes unless the text has a single quote and no double quote. */
    private static String quote(String s) {
        char q = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder out = new StringBuilder().append(q);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c == q) out.append('\\');
                    out.append(c);
                }
            }
        }
        return out.append(q).toString();
    }
}
