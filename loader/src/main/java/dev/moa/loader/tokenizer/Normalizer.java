package dev.moa.loader.tokenizer;

import java.util.List;
import java.util.Locale;

/** The {@code normalizer} of a tokenizer.json: rewrites text before it is split into words. */
sealed interface Normalizer {
    String normalize(String text);

    /** {@code "normalizer": null}. */
    Normalizer IDENTITY = new Sequence(List.of());

    static Normalizer parse(JsonNode node) {
        if (node.isNull()) return IDENTITY;
        return switch (node.type()) {
            case "Sequence" -> new Sequence(node.get("normalizers").items().stream().map(Normalizer::parse).toList());
            case "Prepend" -> new Prepend(node.string("prepend"));
            case "Replace" -> new Replace(HfPattern.parse(node.get("pattern")), node.string("content"));
            case "NFC" -> new UnicodeForm(java.text.Normalizer.Form.NFC);
            case "NFD" -> new UnicodeForm(java.text.Normalizer.Form.NFD);
            case "NFKC" -> new UnicodeForm(java.text.Normalizer.Form.NFKC);
            case "NFKD" -> new UnicodeForm(java.text.Normalizer.Form.NFKD);
            case "Lowercase" -> new Lowercase();
            case "Strip" -> new Strip(node.bool("strip_left", true), node.bool("strip_right", true));
            case "StripAccents" -> new StripAccents();
            default -> throw node.get("type").unsupported("normalizer type '" + node.type() + "'",
                    "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents");
        };
    }

    record Sequence(List<Normalizer> normalizers) implements Normalizer {
        @Override
        public String normalize(String text) {
            for (Normalizer n : normalizers) text = n.normalize(text);
            return text;
        }
    }

    /** SentencePiece's dummy prefix ("▁"); an empty text stays empty. */
    record Prepend(String prefix) implements Normalizer {
        @Override
        public String normalize(String text) {
            return text.isEmpty() ? text : prefix + text;
        }
    }

    record Replace(HfPattern pattern, String content) implements Normalizer {
        @Override
        public String normalize(String text) {
            return pattern.replaceAll(text, content);
        }
    }

    record UnicodeForm(java.text.Normalizer.Form form) implements Normalizer {
        @Override
        public String normalize(String text) {
            return java.text.Normalizer.normalize(text, form);
        }
    }

    /**
     * HF lowercases character by character (Rust's {@code char::to_lowercase}), so there is no
     * context-dependent rule such as Greek final sigma; a single character may still become two
     * ("İ" → "i̇").
     */
    record Lowercase() implements Normalizer {
        @Override
        public String normalize(String text) {
            StringBuilder out = new StringBuilder(text.length());
            text.codePoints().forEach(cp -> out.append(Character.toString(cp).toLowerCase(Locale.ROOT)));
            return out.toString();
        }
    }

    /** Removes leading and/or trailing Unicode White_Space (Rust's {@code char::is_whitespace}). */
    record Strip(boolean left, boolean right) implements Normalizer {
        @Override
        public String normalize(String text) {
            int start = 0;
            int end = text.length();
            if (left) while (start < end && isWhiteSpace(text.codePointAt(start))) start += Character.charCount(text.codePointAt(start));
            if (right) while (end > start && isWhiteSpace(text.codePointBefore(end))) end -= Character.charCount(text.codePointBefore(end));
            return text.substring(start, end);
        }
    }

    /** Drops combining marks (category Mn), as used after NFD by BERT-style tokenizers. */
    record StripAccents() implements Normalizer {
        @Override
        public String normalize(String text) {
            StringBuilder out = new StringBuilder(text.length());
            text.codePoints().filter(cp -> Character.getType(cp) != Character.NON_SPACING_MARK).forEach(out::appendCodePoint);
            return out.toString();
        }
    }

    /** The Unicode White_Space property (what Rust's {@code char::is_whitespace} and Oniguruma's \s test). */
    static boolean isWhiteSpace(int cp) {
        return switch (cp) {
            case 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000 -> true;
            default -> cp >= 0x2000 && cp <= 0x200A;
        };
    }
}
