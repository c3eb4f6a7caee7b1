package dev.moa.loader.chat;

import com.hubspot.jinjava.interpret.InterpretException;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.TemplateSyntaxException;
import com.hubspot.jinjava.lib.tag.ForTag;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import com.hubspot.jinjava.tree.parse.TagToken;
import com.hubspot.jinjava.util.ForLoop;
import com.hubspot.jinjava.util.ScopeMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * Jinja2's {@code for}: replaces jinjava's, which lacks what templates use — loop filters
 * ({@code for m in messages if m.role != 'system'}), {@code {% else %}} for empty loops,
 * {@code loop.previtem}/{@code loop.nextitem}, iterating a string by characters — and which
 * treats a tuple unpack of a non-pair differently.
 */
final class PyForTag implements Tag {
    private static final long serialVersionUID = 1L;

    @Override
    public String getName() {
        return "for";
    }

    @Override
    public String getEndTagName() {
        return "endfor";
    }

    @Override
    public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
        String helpers = ((TagToken) tagNode.getMaster()).getHelpers();
        Clause clause = Clause.parse(helpers, interpreter);
        List<Node> body = new ArrayList<>();
        List<Node> orElse = new ArrayList<>();
        List<Node> target = body;
        for (Node child : tagNode.getChildren()) {
            if (target == body && child instanceof TagNode tag && tag.getName().equals("else")) {
                target = orElse;
            } else {
                target.add(child);
            }
        }

        Object iterable = interpreter.resolveELExpression(clause.iterable, tagNode.getLineNumber());
        if (iterable == null && isBoundToNone(interpreter.getContext(), clause.iterable)) {
            // transformers passes tools=None: iterating it is a TypeError there, while an undefined name iterates nothing.
            throw new InterpretException("TypeError: 'NoneType' object is not iterable (" + clause.iterable + ")",
                    tagNode.getLineNumber(), tagNode.getStartPosition());
        }
        List<Object> items;
        try {
            items = iterate(iterable);
        } catch (IllegalArgumentException e) {
            throw new InterpretException(e.getMessage(), tagNode.getLineNumber(), tagNode.getStartPosition());
        }
        StringBuilder out = new StringBuilder();
        interpreter.enterScope();
        try {
            if (clause.condition != null) {
                List<Object> kept = new ArrayList<>();
                for (Object item : items) {
                    bind(interpreter, clause.targets, item, tagNode);
                    Object keep = interpreter.resolveELExpression(clause.condition, tagNode.getLineNumber());
                    if (PyTruth.test(keep)) kept.add(item);
                }
                items = kept;
            }
            if (items.isEmpty()) {
                render(orElse, interpreter, out, null);
                return out.toString();
            }
            PyLoop loop = new PyLoop(items);
            interpreter.getContext().put(ForTag.LOOP, loop);
            while (loop.hasNext()) {
                bind(interpreter, clause.targets, loop.next(), tagNode);
                render(body, interpreter, out, loop);
            }
            return out.toString();
        } finally {
            interpreter.leaveScope();
        }
    }

    private static void render(List<Node> nodes, JinjavaInterpreter interpreter, StringBuilder out, ForLoop loop) {
        for (Node node : nodes) {
            out.append(node.render(interpreter).getValue());
            if (loop != null && loop.isContinued()) break; // {% break %} or {% continue %}
        }
    }

    /** Assigns one item to the loop target(s); {@code k, v} unpacks a pair or a sequence, as Python does. */
    private static void bind(JinjavaInterpreter interpreter, List<String> targets, Object item, TagNode tagNode) {
        try {
            bind(interpreter, targets, item);
        } catch (IllegalArgumentException e) {
            throw new InterpretException(e.getMessage(), tagNode.getLineNumber(), tagNode.getStartPosition());
        }
    }

    private static void bind(JinjavaInterpreter interpreter, List<String> targets, Object item) {
        if (targets.size() == 1) {
            interpreter.getContext().put(targets.get(0), item);
            return;
        }
        List<?> parts;
        if (item instanceof Map.Entry<?, ?> e) parts = Arrays.asList(e.getKey(), e.getValue()); // values may be None
        else if (item instanceof List<?> list) parts = list;
        else if (PyValues.asString(item) != null) parts = iterate(item);
        else throw new IllegalArgumentException("TypeError: cannot unpack non-iterable " + PyValues.typeName(item) + " object");
        if (parts.size() != targets.size()) {
            throw new IllegalArgumentException("ValueError: cannot unpack " + parts.size() + " values into " + targets.size() + " loop variables");
        }
        for (int i = 0; i < targets.size(); i++) {
            interpreter.getContext().put(targets.get(i), parts.get(i));
        }
    }

    /**
     * Whether {@code expression} is a plain name bound to None (jinjava's null) rather than unbound:
     * the only place jinjava keeps the difference between Python's None and Jinja2's undefined.
     */
    private static boolean isBoundToNone(ScopeMap<String, Object> scope, String expression) {
        if (!expression.matches("[A-Za-z_][A-Za-z0-9_]*")) return false;
        for (ScopeMap<String, Object> s = scope; s != null; s = s.getParent()) {
            if (s.getScope().get(expression) != null) return false;
            if (s.getScope().containsKey(expression)) return true;
        }
        return false;
    }

    /** Python iteration: a dict yields its keys, a string its characters; None/undefined yields nothing. */
    static List<Object> iterate(Object value) {
        List<Object> items = new ArrayList<>();
        String text = PyValues.asString(value);
        if (value == null) return items;
        if (text != null) {
            text.codePoints().forEach(cp -> items.add(new String(Character.toChars(cp))));
        } else if (value instanceof Map<?, ?> map) {
            items.addAll(map.keySet());
        } else if (value instanceof Collection<?> c) {
            items.addAll(c);
        } else if (value instanceof Iterable<?> it) {
            it.forEach(items::add);
        } else if (value instanceof Object[] array) {
            items.addAll(List.of(array));
        } else {
            throw new IllegalArgumentException("TypeError: '" + PyValues.typeName(value) + "' object is not iterable");
        }
        return items;
    }

    /** jinjava's loop object plus Jinja2's previtem / nextitem (resolved by PythonMethods). */
    static final class PyLoop extends ForLoop {
        private final List<Object> items;

        PyLoop(List<Object> items) {
            super(items.iterator(), items.size());
            this.items = items;
        }

        Object previtem() {
            int i = getIndex0();
            return i > 0 ? items.get(i - 1) : null;
        }

        Object nextitem() {
            int i = getIndex0();
            return i + 1 < items.size() ? items.get(i + 1) : null;
        }
    }

    /** {@code targets in iterable [if condition]}, split outside string literals and brackets. */
    private record Clause(List<String> targets, String iterable, String condition) {
        static Clause parse(String helpers, JinjavaInterpreter interpreter) {
            int in = keyword(helpers, "in", 0);
            if (in < 0) throw syntax(interpreter, helpers, "expected 'for <target> in <iterable>'");
            int cond = keyword(helpers, "if", in + 2);
            String iterable = (cond < 0 ? helpers.substring(in + 2) : helpers.substring(in + 2, cond)).trim();
            String condition = cond < 0 ? null : helpers.substring(cond + 2).trim();
            if (iterable.endsWith(" recursive") || (condition != null && condition.endsWith(" recursive"))) {
                throw syntax(interpreter, helpers, "recursive loops are not supported");
            }
            String targetText = helpers.substring(0, in).trim();
            if (targetText.startsWith("(") && targetText.endsWith(")")) targetText = targetText.substring(1, targetText.length() - 1);
            List<String> targets = new ArrayList<>();
            for (String t : targetText.split(",")) {
                if (!t.isBlank()) targets.add(t.trim());
            }
            if (targets.isEmpty() || iterable.isEmpty()) throw syntax(interpreter, helpers, "expected 'for <target> in <iterable>'");
            return new Clause(targets, iterable, condition);
        }

        /** Index of {@code word} as a whole word at bracket depth 0 outside quotes, or -1. */
        private static int keyword(String s, String word, int from) {
            int depth = 0;
            char quote = 0;
            for (int i = from; i < s.length(); i++) {
                char c = s.charAt(i);
                if (quote != 0) {
                    if (c == '\\') i++;
                    else if (c == quote) quote = 0;
                } else if (c == '\'' || c == '"') {
                    quote = c;
                } else if (c == '(' || c == '[' || c == '{') {
                    depth++;
                } else if (c == ')' || c == ']' || c == '}') {
                    depth--;
                } else if (depth == 0 && s.startsWith(word, i)
                        && (i == 0 || Character.isWhitespace(s.charAt(i - 1)))
                        && (i + word.length() == s.length() || Character.isWhitespace(s.charAt(i + word.length())))) {
                    return i;
                }
            }
            return -1;
        }

        private static TemplateSyntaxException syntax(JinjavaInterpreter interpreter, String helpers, String problem) {
            return new TemplateSyntaxException(interpreter, helpers.trim(), "for: " + problem);
        }
    }
}
