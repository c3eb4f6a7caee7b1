package dev.moa.loader.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * GPT-2's reversible bytes-to-unicode mapping: every byte value gets a printable character, so a
 * byte-level BPE vocabulary can be stored as ordinary strings. Printable Latin-1 bytes map to
 * themselves; the remaining 68 bytes (controls, space, ...) map to U+0100 upwards in byte order,
 * which is why a space appears as 'Ġ' (U+0120) and a newline as 'Ċ' (U+010A).
 */
final class ByteLevelAlphabet {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[324]; // highest mapped char is U+0143

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = (char) (printable ? b : next++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevelAlphabet() {}

    /** The text's UTF-8 bytes, each written as its alphabet character. */
    static String encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        return new String(out);
    }

    /** The byte a character of the alphabet stands for, or -1 for characters outside the alphabet. */
    static int byteOf(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }
}
