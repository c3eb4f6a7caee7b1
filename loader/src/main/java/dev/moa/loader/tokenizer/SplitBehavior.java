package dev.moa.loader.tokenizer;

import dev.moa.loader.tokenizer.HfPattern.Span;
import java.util.ArrayList;
import java.util.List;

/** What a split does with the pieces its pattern matched (HF's {@code SplitDelimiterBehavior}). */
enum SplitBehavior {
    /** Matches are dropped. */
    REMOVED,
    /** Matches become pieces of their own. */
    ISOLATED,
    /** A match is appended to the piece before it. */
    MERGED_WITH_PREVIOUS,
    /** A match is prepended to the piece after it (Metaspace: "▁word"). */
    MERGED_WITH_NEXT,
    /** Runs of matches, and runs of non-matches, each become one piece. */
    CONTIGUOUS;

    static SplitBehavior parse(JsonNode node) {
        return switch (node.string()) {
            case "Removed" -> REMOVED;
            case "Isolated" -> ISOLATED;
            case "MergedWithPrevious" -> MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> MERGED_WITH_NEXT;
            case "Contiguous" -> CONTIGUOUS;
            default -> throw node.unsupported("split behavior '" + node.string() + "'",
                    "Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
        };
    }

    /** A non-empty piece {@code [start, end)} of the split text. */
    record Cut(int start, int end) {}

    /** Splits {@code text} around the pattern's matches (or around the non-matches when inverted). */
    List<Cut> split(String text, HfPattern pattern, boolean invert) {
        List<Span> spans = pattern.findMatches(text);
        if (invert) spans = spans.stream().map(s -> new Span(s.start(), s.end(), !s.match())).toList();
        List<int[]> pieces = new ArrayList<>(); // [start, end]
        switch (this) {
            case REMOVED -> {
                for (Span s : spans) if (!s.match()) pieces.add(new int[] {s.start(), s.end()});
            }
            case ISOLATED -> {
                for (Span s : spans) pieces.add(new int[] {s.start(), s.end()});
            }
            case MERGED_WITH_PREVIOUS -> {
                boolean previousMatch = false;
                for (Span s : spans) {
                    if (s.match() && !previousMatch && !pieces.isEmpty()) pieces.getLast()[1] = s.end();
                    else pieces.add(new int[] {s.start(), s.end()});
                    previousMatch = s.match();
                }
            }
            case MERGED_WITH_NEXT -> {
                // Same as MERGED_WITH_PREVIOUS, walking from the end.
                boolean previousMatch = false;
                for (Span s : spans.reversed()) {
                    if (s.match() && !previousMatch && !pieces.isEmpty()) pieces.getLast()[0] = s.start();
                    else pieces.add(new int[] {s.start(), s.end()});
                    previousMatch = s.match();
                }
                pieces = pieces.reversed();
            }
            case CONTIGUOUS -> {
                boolean previousMatch = false;
                for (Span s : spans) {
                    if (s.match() == previousMatch && !pieces.isEmpty()) pieces.getLast()[1] = s.end();
                    else pieces.add(new int[] {s.start(), s.end()});
                    previousMatch = s.match();
                }
            }
        }
        List<Cut> out = new ArrayList<>(pieces.size());
        for (int[] p : pieces) if (p[1] > p[0]) out.add(new Cut(p[0], p[1])); // HF drops empty pieces
        return out;
    }
}
