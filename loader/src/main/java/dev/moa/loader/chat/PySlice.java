package dev.moa.loader.chat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstRightValue;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELException;

/** {@code seq[start:stop:step]} with Python's rules (defaults, negative indices, clamping, negative step). */
final class PySlice extends AstRightValue {
    private final AstNode base;
    private final AstNode start;
    private final AstNode stop;
    private final AstNode step;

    PySlice(AstNode base, AstNode start, AstNode stop, AstNode step) {
        this.base = base;
        this.start = start;
        this.stop = stop;
        this.step = step;
    }

    @Override
    public Object eval(Bindings bindings, ELContext context) {
        Object seq = base.eval(bindings, context);
        Integer from = index(start, bindings, context);
        Integer to = index(stop, bindings, context);
        Integer by = index(step, bindings, context);
        int stride = by == null ? 1 : by;
        if (stride == 0) throw new ELException("ValueError: slice step cannot be zero");
        String text = PyValues.asString(seq);
        if (text != null) {
            int[] codePoints = text.codePoints().toArray();
            StringBuilder out = new StringBuilder();
            for (int i : positions(codePoints.length, from, to, stride)) out.appendCodePoint(codePoints[i]);
            return out.toString();
        }
        List<?> items;
        if (seq instanceof List<?> list) items = list;
        else if (seq instanceof Object[] array) items = Arrays.asList(array);
        else if (seq instanceof Iterable<?> iterable) {
            List<Object> copy = new ArrayList<>();
            iterable.forEach(copy::add);
            items = copy;
        } else throw new ELException("TypeError: '" + PyValues.typeName(seq) + "' object is not subscriptable");
        List<Object> out = new ArrayList<>();
        for (int i : positions(items.size(), from, to, stride)) out.add(items.get(i));
        return out;
    }

    /** The indices a slice selects, as CPython's PySlice_AdjustIndices computes them. */
    static List<Integer> positions(int length, Integer from, Integer to, int stride) {
        int first = adjust(from, length, stride, stride < 0 ? length - 1 : 0);
        int end = adjust(to, length, stride, stride < 0 ? -1 : length);
        List<Integer> out = new ArrayList<>();
        for (int i = first; stride > 0 ? i < end : i > end; i += stride) out.add(i);
        return out;
    }

    private static int adjust(Integer index, int length, int stride, int fallback) {
        if (index == null) return fallback;
        int i = index;
        if (i < 0) {
            i += length;
            if (i < 0) i = stride < 0 ? -1 : 0;
        } else if (i >= length) {
            i = stride < 0 ? length - 1 : length;
        }
        return i;
    }

    private static Integer index(AstNode node, Bindings bindings, ELContext context) {
        if (node == null) return null;
        Object value = node.eval(bindings, context);
        if (value == null) return null;
        if (value instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) return n.intValue();
        throw new ELException("TypeError: slice indices must be integers or None");
    }

    @Override
    public void appendStructure(StringBuilder builder, Bindings bindings) {
        base.appendStructure(builder, bindings);
        builder.append('[');
        if (start != null) start.appendStructure(builder, bindings);
        builder.append(':');
        if (stop != null) stop.appendStructure(builder, bindings);
        builder.append(':');
        if (step != null) step.appendStructure(builder, bindings);
        builder.append(']');
    }

    @Override
    public int getCardinality() {
        return 4;
    }

    @Override
    public AstNode getChild(int i) {
        return switch (i) {
            case 0 -> base;
            case 1 -> start;
            case 2 -> stop;
            case 3 -> step;
            default -> null;
        };
    }
}
