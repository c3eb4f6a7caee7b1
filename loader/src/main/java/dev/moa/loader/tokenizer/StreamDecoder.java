package dev.moa.loader.tokenizer;

import java.util.Arrays;

/**
 * Decodes generated ids one at a time, returning only text that is complete. A character split
 * over several tokens (byte-level BPE pieces, or {@code <0xNN>} byte-fallback tokens) is held back
 * until its last byte arrives, so no broken character is ever emitted; {@link #flush()} returns
 * what is left, with U+FFFD for an incomplete sequence. The concatenation of all pushes and the
 * flush equals {@link Tokenizer#decode} of all ids.
 *
 * <p>Works like HF's {@code DecodeStream}: decoders are not purely per-token (SentencePiece strips
 * the first token's leading space, Metaspace treats the first token specially), so each step
 * decodes a window that starts with the tokens of the previous emission as context, and emits
 * what the new tokens added to the context's text. A decoded window ending in U+FFFD means the
 * last character is still incomplete: nothing is emitted until more ids arrive.
 *
 * <p>Not thread-safe: one instance per generation stream.
 */
public final class StreamDecoder {
    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private int[] window = new int[16]; // context ids followed by ids not yet emitted
    private int windowSize;
    private int contextSize;             // leading ids of the window whose text was already emitted
    private String contextText = "";     // decode of those context ids

    StreamDecoder(Tokenizer tokenizer, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    /** Adds one id; returns the newly completed text (possibly empty). */
    public String push(int id) {
        if (windowSize == window.length) window = Arrays.copyOf(window, windowSize * 2);
        window[windowSize++] = id;
        String text = decodeWindow();
        if (text.length() <= contextText.length() || text.endsWith("\uFFFD")) {
            return ""; // nothing new, or the last character is not complete yet
        }
        String emitted = newText(text);
        // The ids just emitted become the context for the next ones.
        System.arraycopy(window, contextSize, window, 0, windowSize - contextSize);
        windowSize -= contextSize;
        contextSize = windowSize;
        contextText = decodeWindow();
        return emitted;
    }

    /** Returns all text not yet emitted (U+FFFD for incomplete bytes) and starts afresh. */
    public String flush() {
        String rest = newText(decodeWindow());
        windowSize = 0;
        contextSize = 0;
        contextText = "";
        return rest;
    }

    /**
     * The window's text after the context's. The window's text starts with the context's for every
     * decoder here, except when new bytes turn an earlier valid byte-fallback run invalid (HF then
     * rewrites the whole run as U+FFFD); what was emitted cannot be taken back, so the text past
     * the context's length is emitted.
     */
    private String newText(String text) {
        return text.length() <= contextText.length() ? "" : text.substring(contextText.length());
    }

    private String decodeWindow() {
        return tokenizer.decode(Arrays.copyOf(window, windowSize), skipSpecialTokens);
    }
}
