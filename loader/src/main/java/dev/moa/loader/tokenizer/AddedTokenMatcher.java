package dev.moa.loader.tokenizer;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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

    /** A string to look for, the id it stands for and the token whose options apply. */
    record Entry(String pattern, int id, AddedToken options) {}

    /** Trie over UTF-16 units; a node is terminal when {@code entry != null}. */
    private static final class Node {
        final Map<Character, Node> children = new HashMap<>();
        Entry entry;
    }

    private final Node root = new Node();
    private final boolean empty;
    /** Characters some token starts with: most positions are rejected without touching the trie. */
    private final BitSet firstChars = new BitSet(1 << 16);

    AddedTokenMatcher(List<Entry> entries) {
        for (Entry entry : entries) {
            String pattern = entry.pattern();
            if (pattern.isEmpty()) continue;
            Node node = root;
            for (int i = 0; i < pattern.length(); i++) node = node.children.computeIfAbsent(pattern.charAt(i), c -> new Node());
            if (node.entry == null) node.entry = entry; // Aho-Corasick: of equal patterns, the first listed wins
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
            Entry match = longestAt(text, pos, end);
            if (match == null) {
                pos++;
                continue;
            }
            int start = pos;
            int stop = end[0];
            pos = stop; // matches never overlap, even when one is rejected below
            AddedToken token = match.options();
            if (token.singleWord() && (endsWithWordChar(text, start) || startsWithWordChar(text, stop))) continue;
            if (token.lstrip()) start = Math.max(textStart, skipWhiteSpaceBackward(text, start));
            if (token.rstrip()) stop = skipWhiteSpaceForward(text, stop);
            if (textStart < start) out.add(new Segment(text.substring(textStart, start), offset + textStart, -1));
            out.add(new Segment(text.substring(start, stop), offset + start, match.id()));
            textStart = stop;
            pos = stop;
        }
        if (textStart < text.length()) out.add(new Segment(text.substring(textStart), offset + textStart, -1));
        return out;
    }

    private Entry longestAt(String text, int pos, int[] end) {
        if (!firstChars.get(text.charAt(pos))) return null;
        Node node = root;
        Entry found = null;
        for (int i = pos; i < text.length(); i++) {
            node = node.children.get(text.charAt(i));
            if (node == null) break;
            if (node.entry != null) {
                found = node.entry;
                end[0] = i + 1;
            }
        }
        return found;
    }

    /**
     * HF tests word boundaries with the Rust regex {@code \w}: Unicode Alphabetic, marks, decimal
     * digits, connector punctuation and the joiners (ZWNJ, ZWJ).
     */
    private static boolean isWordChar(int cp) {
        return switch (Character.getType(cp)) {
            case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.COMBINING_SPACING_MARK,
                 Character.DECIMAL_DIGIT_NUMBER, Character.CONNECTOR_PUNCTUATION -> true;
            default -> Character.isAlphabetic(cp) || cp == 0x200C || cp == 0x200D;
        };
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
