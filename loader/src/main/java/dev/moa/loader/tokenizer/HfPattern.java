package dev.moa.loader.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The {@code pattern} of a Split pre-tokenizer or Replace normalizer/decoder: either
 * {@code {"String": "..."}} (a literal) or {@code {"Regex": "..."}} (an Oniguruma regex in HF).
 *
 * <p>Regexes are compiled with {@link Pattern#UNICODE_CHARACTER_CLASS}: Oniguruma's {@code \s}
 * is the Unicode White_Space property (Java's default {@code \s} is ASCII only, which would e.g.
 * leave U+00A0 or U+3000 outside {@code \s} and change how the Llama-3 regex splits), and its
 * {@code (?i)} folds case by Unicode rules ({@code 'ſ} matches {@code 's}). {@code \p{L}}/{@code
 * \p{N}} are general categories in both engines.
 */
record HfPattern(String source, Pattern regex) {

    static HfPattern parse(JsonNode node) {
        if (node.has("String")) {
            String literal = node.string("String");
            return new HfPattern(literal, literal.isEmpty() ? null : Pattern.compile(Pattern.quote(literal)));
        }
        if (node.has("Regex")) {
            String regex = node.string("Regex");
            try {
                return new HfPattern(regex, Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS));
            } catch (PatternSyntaxException e) {
                throw node.get("Regex").error("regex does not compile in Java: " + e.getDescription());
            }
        }
        throw node.expected("{\"String\": ...} or {\"Regex\": ...}");
    }

    static HfPattern regex(String regex) {
        return new HfPattern(regex, Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS));
    }

    /** A piece of the input: {@code [start, end)} and whether the pattern matched it. */
    record Span(int start, int end, boolean match) {}

    /**
     * Cuts the text into alternating non-matching and matching spans covering all of it, as HF's
     * {@code Pattern::find_matches}: matches are found left to right without overlap.
     */
    List<Span> findMatches(String text) {
        List<Span> spans = new ArrayList<>();
        if (regex == null) {
            spans.add(new Span(0, text.length(), false));
            return spans;
        }
        Matcher m = regex.matcher(text);
        int previous = 0;
        while (m.find()) {
            if (m.start() != previous) spans.add(new Span(previous, m.start(), false));
            spans.add(new Span(m.start(), m.end(), true));
            previous = m.end();
        }
        if (previous != text.length()) spans.add(new Span(previous, text.length(), false));
        return spans;
    }

    /** Every match replaced by {@code content}. */
    String replaceAll(String text, String content) {
        if (regex == null) return text;
        return regex.matcher(text).replaceAll(Matcher.quoteReplacement(content));
    }
}
