package dev.moa.loader.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.TagNode;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What Jinja2's lexer does to a template's text that jinjava does differently, applied to the
 * source before jinjava parses it:
 * <ul>
 *   <li>newlines normalised to "\n" and one trailing newline dropped (keep_trailing_newline=False;
 *       jinjava's own option strips the last newline of the <em>output</em>);</li>
 *   <li>lstrip_blocks: only whitespace that starts a line is removed before {@code {%} or
 *       {@code {#}; jinjava strips trailing blanks before any tag, so {@code {{ m }} {% endfor %}}
 *       would lose its space;</li>
 *   <li>comments become an empty tag {@code {% moa_comment %}} with the same whitespace marks:
 *       jinjava drops comments before building its tree, so after {@code {%- macro f() -%}}, a
 *       comment line and an indented line, the indentation is trimmed as if it followed the tag
 *       (the Cohere templates' tool results shift left); a tag node keeps Jinja2's trimming, since
 *       trim_blocks treats comments and block tags alike.</li>
 * </ul>
 * Template text is told apart from {@code {{ }}} and {@code {% %}} blocks (skipped with their
 * string literals and brackets) and from {@code {% raw %}} bodies, which are left as written.
 */
final class Jinja2Source {
    static final String COMMENT_TAG = "moa_comment";

    private static final Pattern RAW_START = Pattern.compile("\\{%[-+]?\\s*raw\\s*[-+]?%}");
    private static final Pattern RAW_END = Pattern.compile("\\{%[-+]?\\s*endraw\\s*[-+]?%}");

    private Jinja2Source() {}

    static String prepare(String template) {
        String source = template.replace("\r\n", "\n").replace('\r', '\n');
        if (source.endsWith("\n")) source = source.substring(0, source.length() - 1);
        StringBuilder out = new StringBuilder(source.length() + 64);
        int i = 0;
        while (i < source.length()) {
            int open = nextOpening(source, i);
            if (open < 0) {
                out.append(source, i, source.length());
                break;
            }
            char kind = source.charAt(open + 1);
            String text = source.substring(i, open);
            out.append(kind == '{' ? text : lstripBlock(text, i == 0, source.startsWith("+", open + 2)));
            if (kind == '#') {
                int close = source.indexOf("#}", open + 2);
                if (close < 0) {
                    out.append(source, open, source.length()); // unclosed: let the engine report it
                    break;
                }
                String leftMark = markAt(source, open + 2);
                String rightMark = close - 1 >= open + 2 + leftMark.length() ? markAt(source, close - 1) : "";
                out.append("{%").append(leftMark.equals("+") ? "" : leftMark).append(' ').append(COMMENT_TAG).append(' ')
                        .append(rightMark.equals("+") ? "" : rightMark).append("%}");
                i = close + 2;
            } else {
                Matcher raw = RAW_START.matcher(source).region(open, source.length());
                int end;
                if (kind == '%' && raw.lookingAt()) {
                    Matcher endRaw = RAW_END.matcher(source);
                    end = endRaw.find(raw.end()) ? endRaw.end() : source.length();
                } else {
                    end = endOfBlock(source, open + 2, kind == '{' ? "}}" : "%}");
                }
                String block = source.substring(open, end);
                // jinjava has no "+" (keep whitespace) mark; it only matters for lstrip_blocks, done here.
                if (kind == '%' && block.startsWith("{%+")) block = "{%" + block.substring(3);
                out.append(block);
                i = end;
            }
        }
        return out.toString();
    }

    /**
     * The text before a block or comment tag, without the blanks that start the tag's line (Jinja2's
     * lstrip_blocks): only when nothing else precedes the tag on its line and the tag has no "+".
     */
    private static String lstripBlock(String text, boolean atTemplateStart, boolean keep) {
        if (keep) return text;
        int lineStart = text.lastIndexOf('\n') + 1;
        if (lineStart == 0 && !atTemplateStart) return text;
        for (int j = lineStart; j < text.length(); j++) {
            char c = text.charAt(j);
            if (c != ' ' && c != '\t') return text;
        }
        return text.substring(0, lineStart);
    }

    /** The next "{{", "{%" or "{#" at or after {@code from}, or -1. */
    private static int nextOpening(String s, int from) {
        for (int i = s.indexOf('{', from); i >= 0 && i + 1 < s.length(); i = s.indexOf('{', i + 1)) {
            char c = s.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') return i;
        }
        return -1;
    }

    private static String markAt(String s, int i) {
        char c = s.charAt(i);
        return c == '-' || c == '+' ? String.valueOf(c) : "";
    }

    /** Index just past the {@code closing} of a block that starts at {@code from}, outside strings and brackets. */
    private static int endOfBlock(String s, int from, String closing) {
        int depth = 0;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') {
                for (i++; i < s.length() && s.charAt(i) != c; i++) {
                    if (s.charAt(i) == '\\') i++;
                }
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (depth > 0 && (c == ')' || c == ']' || c == '}')) {
                depth--;
            } else if (depth == 0 && s.startsWith(closing, i)) {
                return i + closing.length();
            }
        }
        return s.length();
    }

    /** The tag comments become: renders nothing. */
    static final class CommentTag implements Tag {
        private static final long serialVersionUID = 1L;

        @Override
        public String getName() {
            return COMMENT_TAG;
        }

        @Override
        public String getEndTagName() {
            return null;
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            return "";
        }
    }
}
