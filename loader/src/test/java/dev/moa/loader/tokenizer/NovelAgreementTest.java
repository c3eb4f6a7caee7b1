package dev.moa.loader.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Whole-novel agreement with the reference Rust implementation: Pride and Prejudice (≈700 KB,
 * ≈160k tokens) encoded in one call, ids compared one by one, plus decode round trips. Also prints
 * the encoding speed.
 */
class NovelAgreementTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama3", "qwen3", "mistral", "gpt2", "llama-spm"})
    void encodesPrideAndPrejudiceExactlyLikeHuggingFace(String name) throws IOException {
        String text = Files.readString(TestAssets.require("texts/pride-and-prejudice.txt"));
        var json = TestAssets.require("tokenizers/" + name + "/tokenizer.json");

        long t0 = System.nanoTime();
        Tokenizer tokenizer = Tokenizer.load(json);
        long t1 = System.nanoTime();
        int[] ids = tokenizer.encode(text, true);
        long t2 = System.nanoTime();
        int[] again = tokenizer.encode(text, true); // word cache warm
        long t3 = System.nanoTime();

        int[] expected;
        String expectedText;
        try (ReferenceTokenizer reference = ReferenceTokenizer.load(json)) {
            expected = reference.encode(text, true);
            expectedText = reference.decode(expected, true);
            assertEquals(expectedText, tokenizer.decode(expected, true), name + ": decode differs from HF");
            assertEquals(reference.decode(expected, false), tokenizer.decode(expected, false), name + ": decode (keeping special tokens) differs from HF");
        }

        int firstDifference = Arrays.mismatch(expected, ids);
        System.out.printf("%s: %d/%d ids equal to HF tokenizers (%s); load %.0f ms, "
                        + "encode %.0f ms (%.0f tokens/s), again %.0f ms (%.0f tokens/s)%n",
                name, firstDifference < 0 ? ids.length : firstDifference, expected.length,
                firstDifference < 0 ? "identical" : "first difference at " + firstDifference,
                (t1 - t0) / 1e6, (t2 - t1) / 1e6, ids.length / ((t2 - t1) / 1e9), (t3 - t2) / 1e6,
                ids.length / ((t3 - t2) / 1e9));
        assertTrue(firstDifference < 0, () -> name + ": ids differ from HF at index " + firstDifference + ": expected "
                + slice(expected, firstDifference) + " got " + slice(ids, firstDifference));
        assertTrue(Arrays.equals(ids, again), "encoding twice gives the same ids");
        // The novel is plain text that every one of these vocabularies can represent: decoding gives it back.
        assertEquals(text, expectedText, name + ": HF's own round trip");
        assertEquals(text, tokenizer.decode(ids, true), name + ": decode(encode(text)) round trip");
    }

    private static String slice(int[] ids, int at) {
        return Arrays.toString(Arrays.copyOfRange(ids, Math.max(0, at - 3), Math.min(ids.length, at + 5)));
    }
}
