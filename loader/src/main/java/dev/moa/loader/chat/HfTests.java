package dev.moa.loader.chat;

import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import java.util.Collection;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Jinja2 tests ({@code x is iterable}, ...) whose jinjava versions answer differently for strings
 * and booleans. Templates branch on {@code content is iterable} to tell a string from a list of
 * parts; in Python a string is iterable and a sequence, and True is a number but not an integer.
 */
final class HfTests {
    private HfTests() {}

    static void register(Context globals) {
        globals.registerExpTest(new Simple("iterable", v -> PyValues.asString(v) != null || v instanceof Iterable<?> || v instanceof Map<?, ?>
                || (v != null && v.getClass().isArray())));
        globals.registerExpTest(new Simple("sequence", v -> PyValues.asString(v) != null || v instanceof Collection<?> || v instanceof Map<?, ?>
                || (v != null && v.getClass().isArray())));
        globals.registerExpTest(new Simple("number", v -> v instanceof Number || v instanceof Boolean));
        globals.registerExpTest(new Simple("integer", v -> v instanceof Integer || v instanceof Long || v instanceof Short
                || v instanceof Byte || v instanceof java.math.BigInteger));
        globals.registerExpTest(new Simple("string", v -> PyValues.asString(v) != null));
    }

    private record Simple(String name, Predicate<Object> test) implements ExpTest {
        @Override
        public String getName() {
            return name;
        }

        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            return test.test(var);
        }
    }
}
