package dev.moa.loader.chat;

import com.hubspot.jinjava.el.TypeConvertingMapELResolver;
import com.hubspot.jinjava.el.ext.JinjavaBeanELResolver;
import com.hubspot.jinjava.el.ext.JinjavaListELResolver;
import com.hubspot.jinjava.el.ext.NamedParameter;
import java.beans.FeatureDescriptor;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;
import jinjava.javax.el.ArrayELResolver;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELException;
import jinjava.javax.el.ELResolver;

/**
 * Method calls on strings, dicts and lists with Python semantics ({@code s.strip()},
 * {@code d.get(k, default)}, {@code d.items()}). Without it jinjava would call the Java methods
 * of the same name, which differ ({@code String.split} takes a regex) or do not exist
 * ({@code startswith}); a method Python lacks fails as it does in Python.
 */
final class PythonMethods extends ELResolver {
    private PythonMethods() {}

    /** jinjava's read-only resolver chain with this one consulted first for method calls. */
    static ELResolver resolver() {
        CompositeELResolver chain = new CompositeELResolver();
        chain.add(new PythonMethods());
        chain.add(new ArrayELResolver(true));
        chain.add(new JinjavaListELResolver(true));
        chain.add(new TypeConvertingMapELResolver(true));
        chain.add(new JinjavaBeanELResolver(true));
        return chain;
    }

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        String name = String.valueOf(method);
        Args args = Args.of(params);
        Object result;
        String text = PyValues.asString(base);
        if (text != null) {
            result = stringMethod(text, name, args);
        } else if (base instanceof Map<?, ?> map) {
            result = dictMethod(map, name, args);
        } else if (base instanceof List<?> list) {
            result = listMethod(list, name, args);
        } else {
            return null; // not ours: macros, loop objects, ...
        }
        context.setPropertyResolved(true);
        return result;
    }

    private static Object stringMethod(String s, String name, Args a) {
        return switch (name) {
            case "strip" -> PyStrings.strip(s, a.optString(0, "chars"));
            case "lstrip" -> PyStrings.lstrip(s, a.optString(0, "chars"));
            case "rstrip" -> PyStrings.rstrip(s, a.optString(0, "chars"));
            case "split" -> PyStrings.split(s, a.optString(0, "sep"), a.optInt(1, "maxsplit", -1));
            case "rsplit" -> PyStrings.rsplit(s, a.optString(0, "sep"), a.optInt(1, "maxsplit", -1));
            case "startswith" -> matchesAny(a.get(0, "prefix"), s::startsWith);
            case "endswith" -> matchesAny(a.get(0, "suffix"), s::endsWith);
            case "replace" -> PyStrings.replace(s, a.string(0, "old"), a.string(1, "new"), a.optInt(2, "count", -1));
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> PyStrings.title(s);
            case "capitalize" -> PyStrings.capitalize(s);
            case "find" -> s.indexOf(a.string(0, "sub"));
            case "rfind" -> s.lastIndexOf(a.string(0, "sub"));
            case "count" -> count(s, a.string(0, "sub"));
            case "join" -> join(s, a.get(0, "iterable"));
            case "format" -> PyStrings.format(s, a.positional, a.named);
            case "splitlines" -> PyStrings.splitlines(s);
            case "isspace" -> !s.isEmpty() && s.chars().allMatch(c -> PyStrings.isSpace((char) c));
            case "isdigit" -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.chars().allMatch(Character::isLetter);
            case "islower" -> s.chars().anyMatch(Character::isLowerCase) && s.equals(s.toLowerCase(Locale.ROOT));
            case "isupper" -> s.chars().anyMatch(Character::isUpperCase) && s.equals(s.toUpperCase(Locale.ROOT));
            default -> throw noAttribute("str", name);
        };
    }

    private static Object dictMethod(Map<?, ?> map, String name, Args a) {
        return switch (name) {
            case "get" -> {
                Object key = a.get(0, "key");
                yield map.containsKey(key) ? map.get(key) : a.opt(1, "default", null);
            }
            case "items" -> {
                List<Object> items = new ArrayList<>();
                map.forEach((k, v) -> items.add(new Pair(k, v)));
                yield items;
            }
            case "keys" -> new ArrayList<>(map.keySet());
            case "values" -> new ArrayList<>(map.values());
            case "copy" -> new LinkedHashMap<>(map);
            case "pop", "popitem", "update", "setdefault", "clear" -> throw unsafe("dict", name);
            default -> throw noAttribute("dict", name);
        };
    }

    private static Object listMethod(List<?> list, String name, Args a) {
        return switch (name) {
            case "index" -> {
                Object value = a.get(0, "value");
                for (int i = 0; i < list.size(); i++) {
                    if (PyValues.eq(list.get(i), value)) yield i;
                }
                throw new ELException("ValueError: " + PyValues.shortRepr(value) + " is not in list");
            }
            case "count" -> list.stream().filter(x -> PyValues.eq(x, a.get(0, "value"))).count();
            case "copy" -> new ArrayList<>(list);
            // transformers renders in an ImmutableSandboxedEnvironment, where these raise SecurityError.
            case "append", "pop", "extend", "insert", "remove", "sort", "reverse", "clear" -> throw unsafe("list", name);
            default -> throw noAttribute("list", name);
        };
    }

    private static boolean matchesAny(Object prefixes, Predicate<String> test) {
        String one = PyValues.asString(prefixes);
        if (one != null) return test.test(one);
        if (prefixes instanceof Collection<?> many) {
            for (Object p : many) {
                if (test.test(PyValues.str(p))) return true;
            }
            return false;
        }
        throw new ELException("TypeError: startswith/endswith arg must be str or a tuple of str, not " + PyValues.repr(prefixes));
    }

    private static long count(String s, String sub) {
        if (sub.isEmpty()) return s.length() + 1;
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) n++;
        return n;
    }

    private static String join(String separator, Object iterable) {
        List<Object> items;
        try {
            items = PyForTag.iterate(iterable);
        } catch (IllegalArgumentException e) {
            throw new ELException("TypeError: can only join an iterable");
        }
        List<String> parts = new ArrayList<>();
        for (Object item : items) {
            String text = PyValues.asString(item);
            if (text == null) throw new ELException("TypeError: sequence item: expected str instance, " + PyValues.typeName(item) + " found");
            parts.add(text);
        }
        return String.join(separator, parts);
    }

    private static ELException noAttribute(String type, String name) {
        return new ELException("'" + type + "' object has no attribute '" + name + "'");
    }

    private static ELException unsafe(String type, String name) {
        return new ELException("access to attribute '" + name + "' of '" + type + "' object is unsafe.");
    }

    /** A Python 2-tuple from dict.items(): unpackable by {@code for k, v in ...} and indexable. */
    static final class Pair extends AbstractList<Object> implements Map.Entry<Object, Object> {
        private final Object key;
        private final Object value;

        Pair(Object key, Object value) {
            this.key = key;
            this.value = value;
        }

        @Override
        public Object get(int index) {
            return switch (index) {
                case 0 -> key;
                case 1 -> value;
                default -> throw new IndexOutOfBoundsException("tuple index out of range");
            };
        }

        @Override
        public int size() {
            return 2;
        }

        @Override
        public Object getKey() {
            return key;
        }

        @Override
        public Object getValue() {
            return value;
        }

        @Override
        public Object setValue(Object v) {
            throw new UnsupportedOperationException();
        }
    }

    /** A call's arguments, positional or by keyword as Python allows. */
    private record Args(List<Object> positional, Map<String, Object> named) {
        static Args of(Object[] params) {
            List<Object> positional = new ArrayList<>();
            Map<String, Object> named = new LinkedHashMap<>();
            if (params != null) {
                for (Object p : params) {
                    if (p instanceof NamedParameter np) named.put(np.getName(), np.getValue());
                    else positional.add(p);
                }
            }
            return new Args(positional, named);
        }

        Object opt(int index, String name, Object fallback) {
            if (index < positional.size()) return positional.get(index);
            return named.getOrDefault(name, fallback);
        }

        Object get(int index, String name) {
            if (index >= positional.size() && !named.containsKey(name)) {
                throw new ELException("TypeError: missing required argument '" + name + "'");
            }
            return opt(index, name, null);
        }

        String string(int index, String name) {
            return PyValues.str(get(index, name));
        }

        String optString(int index, String name) {
            Object v = opt(index, name, null);
            return v == null ? null : PyValues.str(v);
        }

        int optInt(int index, String name, int fallback) {
            Object v = opt(index, name, null);
            return v == null ? fallback : ((Number) v).intValue();
        }
    }

    /** Jinja2 loop attributes jinjava's loop object lacks; any other property access is left to the chain. */
    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        if (base instanceof PyForTag.PyLoop loop && property instanceof String name) {
            switch (name) {
                case "previtem" -> {
                    context.setPropertyResolved(true);
                    return loop.previtem();
                }
                case "nextitem" -> {
                    context.setPropertyResolved(true);
                    return loop.nextitem();
                }
                default -> { }
            }
        }
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {}

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
