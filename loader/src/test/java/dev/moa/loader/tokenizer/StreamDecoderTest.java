package dev.moa.loader.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import org.junit.jupiter.api.Test;

/** Incremental decoding: never a broken character, and the pieces add up to {@link Tokenizer#decode}. */
class StreamDecoderTest {
    private static final String MULTILINGUAL = "Héllo wörld! 中文字符 🦙👨‍👩‍👧🇫🇷 Привет, ελληνικά. ½ ∑x² <3\n\tdone";

    @Test
    void byteLevelPiecesAreHeldUntilCharactersComplete() {
        Tokenizer tokenizer = Tokenizer.fromJson(TinyTokenizers.byteLevel(), "tiny-byte-level");
        int[] ids = tokenizer.encode(MULTILINGUAL, true); // mostly one byte per token
        assertStreamsLikeDecode(tokenizer, ids, false);
        assertStreamsLikeDecode(tokenizer, ids, true);
    }

    @Test
    void byteFallbackTokensAreHeldUntilCharactersComplete() {
        Tokenizer tokenizer = Tokenizer.fromJson(TinyTokenizers.sentencePiece(), "tiny-spm");
        int[] ids = tokenizer.encode(MULTILINGUAL, true);
        assertStreamsLikeDecode(tokenizer, ids, true);
        assertStreamsLikeDecode(tokenizer, ids, false);
    }

    @Test
    void flushReturnsAnIncompleteCharacterAsReplacement() {
        Tokenizer tokenizer = Tokenizer.fromJson(TinyTokenizers.byteLevel(), "tiny-byte-level");
        StreamDecoder stream = tokenizer.streamDecoder(false);
        assertEquals("a", stream.push('a'));
        assertEquals("", stream.push(0xF0)); // first two bytes of a 4-byte character
        assertEquals("", stream.push(0x9F));
        assertEquals("\uFFFD", stream.flush());
        assertEquals("", stream.flush());
        assertEquals("b", stream.push('b'), "usable again after flush");
    }

    @Test
    void specialTokensCanBeSkipped() {
        Tokenizer tokenizer = Tokenizer.fromJson(TinyTokenizers.sentencePiece(), "tiny-spm");
        StreamDecoder stream = tokenizer.streamDecoder(true);
        assertEquals("", stream.push(1));
        assertEquals("hello", stream.push(271)); // the first token's "▁" is stripped, as in decode
        assertEquals(" world", stream.push(276));
        assertEquals("", stream.push(2));
        assertEquals("", stream.flush());
    }

    @Test
    void realTokenizers() throws IOException {
        for (String name : new String[] {"llama3", "qwen3", "mistral", "gpt2", "llama-spm"}) {
            Tokenizer tokenizer = Tokenizer.load(TestAssets.require("tokenizers/" + name + "/tokenizer.json"));
            for (String text : RandomTexts.generate(99, 100)) {
                assertStreamsLikeDecode(tokenizer, tokenizer.encode(text, true), true);
            }
            assertStreamsLikeDecode(tokenizer, tokenizer.encode(MULTILINGUAL, true), false);
        }
    }

    private static void assertStreamsLikeDecode(Tokenizer tokenizer, int[] ids, boolean skipSpecialTokens) {
        String expected = tokenizer.decode(ids, skipSpecialTokens);
        StreamDecoder stream = tokenizer.streamDecoder(skipSpecialTokens);
        StringBuilder streamed = new StringBuilder();
        for (int id : ids) {
            String piece = stream.push(id);
            if (!expected.contains("\uFFFD")) assertFalse(piece.contains("\uFFFD"), "broken character emitted: " + piece);
            assertTrue(isWellFormed(piece), "unpaired surrogate emitted");
            streamed.append(piece);
        }
        streamed.append(stream.flush());
        assertEquals(expected, streamed.toString());
    }

    private static boolean isWellFormed(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(++i))) return false;
            } else if (Character.isLowSurrogate(c)) {
                return false;
            }
        }
        return true;
    }
}
