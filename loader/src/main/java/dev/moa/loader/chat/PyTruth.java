package dev.moa.loader.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.tag.IfTag;
import com.hubspot.jinjava.tree.TagNode;
import java.lang.reflect.Array;
import java.util.Collection;
import java.util.Map;

/**
 * Python truthiness. jinjava treats the string "false" (any case) as false, so a message whose
 * content is "False" would vanish from {@code {% if message.content %}}; Python only treats empty
 * strings, zero, empty containers, None and False as false.
 */
final class PyTruth {
    private PyTruth() {}

    static boolean test(Object value) {
        if (value == null) return false;
        if (value instanceof Boolean b) return b;
        if (value instanceof Number n) return n.doubleValue() != 0;
        String text = PyValues.asString(value);
        if (text != null) return !text.isEmpty();
        if (value instanceof Collection<?> c) return !c.isEmpty();
        if (value instanceof Map<?, ?> m) return !m.isEmpty();
        if (value.getClass().isArray()) return Array.getLength(value) != 0;
        return true;
    }

    /** {@code if} / {@code elif} conditions. */
    static final class If extends IfTag {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean isPositiveIfElseNode(TagNode tagNode, JinjavaInterpreter interpreter) {
            return test(interpreter.resolveELExpression(tagNode.getHelpers(), tagNode.getLineNumber(), tagNode.getStartPosition()));
        }
    }
}
