package dev.moa.loader.tokenizer;

import dev.moa.loader.tokenizer.SplitBehavior.Cut;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code pre_tokenizer} of a tokenizer.json: cuts normalized text into words ("pre-tokens")
 * that the model then tokenizes independently, and may rewrite them (ByteLevel maps each word's
 * UTF-8 bytes to its alphabet, Metaspace turns spaces into "▁").
 */
sealed interface PreTokenizer {
    /**
     * Appends the pre-tokens of {@code piece} to {@code out}.
     *
     * @param atStart whether the piece begins the original input (Metaspace's prepend_scheme
     *     "first" only adds its "▁" there, as HF checks that the piece's original offset is 0)
     */
    void preTokenize(String piece, boolean atStart, List<Piece> out);

    /** A pre-token and whether it begins the original input. */
    record Piece(String text, boolean atStart) {}

    /** {@code "pre_tokenizer": null}: the whole piece is one word. */
    PreTokenizer NONE = new Sequence(List.of());

    /** GPT-2's word regex, used by ByteLevel when {@code use_regex} is true. */
    HfPattern GPT2_WORDS = HfPattern.regex("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    static PreTokenizer parse(JsonNode node) {
        if (node.isNull()) return NONE;
        return switch (node.type()) {
            case "Sequence" -> new Sequence(node.get("pretokenizers").items().stream().map(PreTokenizer::parse).toList());
            case "Split" -> new Split(HfPattern.parse(node.get("pattern")), SplitBehavior.parse(node.get("behavior")),
                    node.bool("invert", false));
            case "ByteLevel" -> new ByteLevel(node.bool("add_prefix_space", true), node.bool("use_regex", true));
            case "Metaspace" -> Metaspace.parse(node);
            case "WhitespaceSplit" -> new Split(HfPattern.regex("\\s+"), SplitBehavior.REMOVED, false);
            case "Whitespace" -> new Split(HfPattern.regex("\\w+|[^\\w\\s]+"), SplitBehavior.REMOVED, true);
            case "Digits" -> new Split(HfPattern.regex(node.bool("individual_digits", false) ? "\\p{N}" : "\\p{N}+"),
                    SplitBehavior.ISOLATED, false);
            default -> throw node.get("type").unsupported("pre_tokenizer type '" + node.type() + "'",
                    "Sequence, Split, ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Digits");
        };
    }

    /** Each stage re-splits every piece produced by the stage before. */
    record Sequence(List<PreTokenizer> stages) implements PreTokenizer {
        @Override
        public void preTokenize(String piece, boolean atStart, List<Piece> out) {
            List<Piece> pieces = List.of(new Piece(piece, atStart));
            for (PreTokenizer stage : stages) {
                List<Piece> next = new ArrayList<>();
                for (Piece p : pieces) stage.preTokenize(p.text(), p.atStart(), next);
                pieces = next;
            }
            out.addAll(pieces);
        }
    }

    record Split(HfPattern pattern, SplitBehavior behavior, boolean invert) implements PreTokenizer {
        @Override
        public void preTokenize(String piece, boolean atStart, List<Piece> out) {
            for (Cut c : behavior.split(piece, pattern, invert)) {
                out.add(new Piece(piece.substring(c.start(), c.end()), atStart && c.start() == 0));
            }
        }
    }

    /**
     * Byte-level BPE's pre-tokenizer: optionally a leading space (so the first word looks like any
     * other), optionally GPT-2's word regex, then every word's UTF-8 bytes in the GPT-2 alphabet.
     */
    record ByteLevel(boolean addPrefixSpace, boolean useRegex) implements PreTokenizer {
        @Override
        public void preTokenize(String piece, boolean atStart, List<Piece> out) {
            if (addPrefixSpace && !piece.startsWith(" ")) piece = " " + piece;
            if (!useRegex) {
                out.add(new Piece(ByteLevelAlphabet.encode(piece), atStart));
                return;
            }
            for (Cut c : SplitBehavior.ISOLATED.split(piece, GPT2_WORDS, false)) {
                out.add(new Piece(ByteLevelAlphabet.encode(piece.substring(c.start(), c.end())), atStart && c.start() == 0));
            }
        }
    }

    /**
     * SentencePiece-style words: spaces become the replacement ("▁"), a "▁" is prepended
     * (always, only at the start of the input, or never), and the text is cut before each "▁".
     */
    record Metaspace(String replacement, PrependScheme prependScheme, boolean split) implements PreTokenizer {
        enum PrependScheme { ALWAYS, FIRST, NEVER }

        static Metaspace parse(JsonNode node) {
            String replacement = node.has("replacement") ? node.string("replacement") : node.optString("str_rep", "\u2581");
            if (replacement.codePointCount(0, replacement.length()) != 1) {
                throw node.get("replacement").expected("a single character");
            }
            return new Metaspace(replacement, prependScheme(node), node.bool("split", true));
        }

        /** {@code prepend_scheme}, or for older files the boolean {@code add_prefix_space}. */
        static PrependScheme prependScheme(JsonNode node) {
            if (!node.has("prepend_scheme")) return node.bool("add_prefix_space", true) ? PrependScheme.ALWAYS : PrependScheme.NEVER;
            JsonNode scheme = node.get("prepend_scheme");
            return switch (scheme.string()) {
                case "always" -> PrependScheme.ALWAYS;
                case "first" -> PrependScheme.FIRST;
                case "never" -> PrependScheme.NEVER;
                default -> throw scheme.unsupported("prepend_scheme '" + scheme.string() + "'", "always, first, never");
            };
        }

        @Override
        public void preTokenize(String piece, boolean atStart, List<Piece> out) {
            String text = piece.replace(" ", replacement);
            boolean prepend = switch (prependScheme) {
                case ALWAYS -> true;
                case FIRST -> atStart;
                case NEVER -> false;
            };
            if (prepend && !text.startsWith(replacement)) text = replacement + text;
            if (!split) {
                out.add(new Piece(text, atStart));
                return;
            }
            // HF splits on the replacement with MergedWithNext: a cut before every "▁".
            int start = 0;
            for (int at = text.indexOf(replacement, 1); at >= 0; at = text.indexOf(replacement, at + 1)) {
                out.add(new Piece(text.substring(start, at), atStart && start == 0));
                start = at;
            }
            if (start < text.length()) out.add(new Piece(text.substring(start), atStart && start == 0));
        }
    }
}
