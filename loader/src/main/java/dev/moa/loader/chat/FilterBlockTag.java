package dev.moa.loader.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;

/**
 * Jinja2's filter block, {@code {% filter trim %}...{% endfilter %}}, which jinjava lacks
 * (firefunction-v2 wraps its whole template in one): renders the body, then pipes it through the
 * filter chain written in the tag.
 */
final class FilterBlockTag implements Tag {
    private static final long serialVersionUID = 1L;
    /** Holds the rendered body while the filter expression runs, in a scope of its own. */
    private static final String BODY = "moa_filter_body";

    @Override
    public String getName() {
        return "filter";
    }

    @Override
    public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
        StringBuilder body = new StringBuilder();
        for (Node child : tagNode.getChildren()) {
            body.append(child.render(interpreter).getValue());
        }
        interpreter.enterScope();
        try {
            interpreter.getContext().put(BODY, body.toString());
            Object filtered = interpreter.resolveELExpression(BODY + " | " + tagNode.getHelpers().trim(), tagNode.getLineNumber());
            return interpreter.getAsString(filtered);
        } finally {
            interpreter.leaveScope();
        }
    }
}
