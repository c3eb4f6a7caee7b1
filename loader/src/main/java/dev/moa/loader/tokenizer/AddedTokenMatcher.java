package dev.moa.loader.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Finds added tokens in text, as HF's {@code AddedVocabulary::find_matches}: scanning left to
 * right, the longest token starting at the leftmost position wins (Aho-Corasick LeftmostLongest),
 * matches do not overlap, and the token's single_word / lstrip / rstrip options are applied.
 */
final class AddedTokenMatcher {
    /** A piece of the input: plain text ({@code tokenId < 0}) or one added token. */
    record Segment(String text, int start, int tokenId) {
        boolean isToken() {
            return tokenId >= 0;
        }
    }

    /** Trie over UTF-16 units; a node is terminal when {@code token != null}. */
    private static final class Node {
        final Map<Character, Node> children = new HashMap<>();
        AddedToken token;
    }

    private final Node root = new Node();
    private final boolean empty;
    /** Characters some token starts with: most positions are rejected without touching the trie. */
    private final java.util.BitSet firstChars = new java.util.BitSet(1 << 16);

    /** @param form maps a token's content to the string to look for (the normalizer, for normalized tokens) */
    AddedTokenMatcher(List<AddedToken> tokens, UnaryOperator<String> form) {
        for (AddedToken token : tokens) {
            String pattern = form.apply(token.content());
            if (pattern.isEmpty()) continue;
            Node node = root;
            for (int i = 0; i < pattern.length(); i++) node = node.children.computeIfAbsent(pattern.charAt(i), c -> new Node());
            if (node.token == null) node.token = token; // duplicate contents: the first entry wins
            firstChars.set(pattern.charAt(0));
        }
        empty = root.children.isEmpty();
    }

    /** Cuts {@code text} into plain-text segments and added-token segments (empty segments dropped). */
    List<Segment> split(String text, int offset) {
        List<Segment> out = new ArrayList<>();
        if (empty) {
            if (!text.isEmpty()) out.add(new Segment(text, offset, -1));
            return out;
        }
        int textStart = 0; // start of the plain text not yet emitted
        int pos = 0;
        while (pos < text.length()) {
            int[] end = new int[1];
            AddedToken token = longestAt(text, pos, end);
            if (token == null) {
                pos++;
                continue;
            }
            int start = pos;
            int stop = end[0];
            pos = stop; // matches never overlap, even when one is rejected below
            if (token.singleWord() && (endsWithWordChar(text, start) || startsWithWordChar(text, stop))) continue;
            if (token.lstrip()) start = Math.max(textStart, skipWhiteSpaceBackward(text, start));
            if (token.rstrip()) stop = skipWhiteSpaceForward(text, stop);
            if (textStart < start) out.add(new Segment(text.substring(textStart, start), offset + textStart, -1));
            out.add(new Segment(text.substring(start, stop), offset + start, token.id()));
            textStart = stop;
            pos = stop;
        }
        if (textStart < text.length()) out.add(new Segment(text.substring(textStart), offset + textStart, -1));
        return out;
    }

    private AddedToken longestAt(String text, int pos, int[] end) {
        if (!firstChars.get(text.charAt(pos))) return null;
        Node node = root;
        AddedToken found = null;
        for (int i = pos; i < text.length(); i++) {
            node = node.children.get(text.charAt(i));
            if (node == null) break;
            if (node.token != null) {
                found = node.token;
                end[0] = i + 1;
            }
        }
        return found;
    }

    /** Rust's {@code char::is_alphanumeric() || c == '_'}: a character that continues a word. */
    private static boolean isWordChar(int cp) {
        int type = Character.getType(cp);
        return cp == '_' || Character.isAlphabetic(cp) || type == Character.DECIMAL_DIGIT_NUMBER
                || type == Character.LETTER_NUMBER || type == Character.OTHER_NUMBER;
    }

    private static boolean endsWithWordChar(String text, int at) {
        return at > 0 && isWordChar(text.codePointBefore(at));
    }

    private static boolean startsWithWordChar(String text, int at) {
        return at < text.length() && isWordChar(text.codePointAt(at));
    }

    private static int skipWhiteSpaceBackward(String text, int at) {
        while (at > 0 && Normalizer.isWhiteSpace(text.codePointBefore(at))) at -= Character.charCount(text.codePointBefore(at));
        return at;
    }

    private static int skipWhiteSpaceForward(String text, int at) {
        while (at < text.length() && Normalizer.isWhiteSpace(text.codePointAt(at))) at += Character.charCount(text.codePointAt(at));
        return at;
    }
}
