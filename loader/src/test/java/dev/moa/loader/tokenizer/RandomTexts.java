package dev.moa.loader.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Deterministic random texts built from fragments chosen to stress the places where tokenizers
 * disagree: Unicode whitespace (NBSP, ideographic space, NEL, line separator), numbers of every
 * kind (Arabic-Indic, fractions, Roman numerals, math digits outside the BMP), contractions in odd
 * case (incl. long s), many scripts, emoji with ZWJ / skin tones / flags, combining marks and
 * compatibility characters (for NFC/NFKC), code indentation, and added-token strings in and out
 * of context.
 */
final class RandomTexts {
    private static final String[] FRAGMENTS = {
        "Hello", "world", "don't", "I'M", "you'LL", "'s", "'ve", "'Re", "'ſ", "it's", "O'Neil", "rock'n'roll",
        " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\u00A0", "\u3000", "\u2028", "\u0085", "\u000B",
        "\u200B", "\u2009", "\f", " \u00A0 ",
        "1", "12", "123", "1234567", "3.14159", "1,000,000", "٣٤٥", "½", "Ⅻ", "²³", "𝟘𝟙", "০১২",
        "Привет", "мир", "你好世界", "こんにちは", "안녕하세요", "مرحبا", "שלום", "नमस्ते", "ภาษาไทย", "Ελληνικά", "ΣΊΣΥΦΟΣ",
        "🦙", "👍🏽", "👨‍👩‍👧", "🇫🇷", "😀😃", "e\u0301", "é", "ﬁ", "Å", "ǅ", "İstanbul", "ß", "Ⓐ",
        "...", "!!", "?!", "«»", "—", "–", "$5", "@#", "()", "{}", "[]", "<", ">", "/", "\\", "\"quoted\"", "«ok»",
        "def f(x):\n    return x**2", "    ", "\t\t", "if (a && b) { c++; }", "http://example.com/a?b=c",
        "<s>", "</s>", "<unk>", "<|endoftext|>", "<|begin_of_text|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>",
        "<think>", "<|begin_of_text|>Hi", "x<s>y", "_", "__init__", "▁", "▁▁x", "Ġ", "<0x41>",
    };

    private RandomTexts() {}

    static List<String> generate(long seed, int count) {
        Random random = new Random(seed);
        List<String> texts = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            StringBuilder text = new StringBuilder();
            int parts = 1 + random.nextInt(12);
            for (int p = 0; p < parts; p++) {
                if (p > 0 && random.nextInt(3) == 0) text.append(' ');
                text.append(FRAGMENTS[random.nextInt(FRAGMENTS.length)]);
            }
            texts.add(text.toString());
        }
        return texts;
    }
}
