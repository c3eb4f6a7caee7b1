package dev.moa.loader.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** Hand-checked behaviour on tiny tokenizers (no assets needed), real-vocabulary spot checks, concurrency. */
class TokenizerTest {
    private static final Tokenizer SPM = Tokenizer.fromJson(TinyTokenizers.sentencePiece(), "tiny-spm");
    private static final Tokenizer BYTE_LEVEL = Tokenizer.fromJson(TinyTokenizers.byteLevel(), "tiny-byte-level");

    @Test
    void sentencePieceMergesByRankAndFallsBackToBytes() {
        assertArrayEquals(new int[] {271, 276}, SPM.encode("hello world", false));
        assertArrayEquals(new int[] {1, 271, 276}, SPM.encode("hello world", true), "BOS from TemplateProcessing");
        // "é" is not a piece: its UTF-8 bytes C3 A9 become <0xC3> <0xA9>.
        assertArrayEquals(new int[] {267, 3 + 0xC3, 3 + 0xA9}, SPM.encode("hé", false));
        assertEquals("hé", SPM.decode(SPM.encode("hé", true), true));
        // Strip removes one leading space of the fused text; with "<s>" kept there is none to remove.
        assertEquals("<s> hello world", SPM.decode(new int[] {1, 271, 276}, false));
        assertEquals("hello world", SPM.decode(new int[] {1, 271, 276}, true));
        // Added tokens are cut out before normalization; the text after them gets its own "▁".
        assertArrayEquals(new int[] {271, 2, 276}, SPM.encode("hello</s>world", false));
        assertArrayEquals(new int[0], SPM.encode("", false));
    }

    @Test
    void byteLevelSplitsWordsAndMapsBytes() {
        // "the the": pre-tokens "the" and " the" ("Ġthe" after the byte mapping).
        assertArrayEquals(new int[] {259, 't', 257, 258}, BYTE_LEVEL.encode("the the", true));
        assertArrayEquals(new int[] {0xE4, 0xB8, 0xAD}, BYTE_LEVEL.encode("中", false));
        assertEquals("中 the", BYTE_LEVEL.decode(BYTE_LEVEL.encode("中 the", false), false));
        assertEquals("<|eot|>x", BYTE_LEVEL.decode(new int[] {259, 'x'}, false));
        assertEquals("x", BYTE_LEVEL.decode(new int[] {259, 'x'}, true));
        assertEquals("\uFFFD", BYTE_LEVEL.decode(new int[] {0xE4, 0xB8}, false), "an incomplete character");
    }

    @Test
    void tinyTokenizersAgreeWithHuggingFace() {
        for (String json : List.of(TinyTokenizers.sentencePiece(), TinyTokenizers.byteLevel())) {
            Tokenizer tokenizer = Tokenizer.fromJson(json, "tiny");
            try (ReferenceTokenizer reference = ReferenceTokenizer.fromJson(json)) {
                for (String text : RandomTexts.generate(1, 200)) {
                    int[] ids = reference.encode(text, true);
                    assertArrayEquals(ids, tokenizer.encode(text, true), text);
                    assertEquals(reference.decode(ids, false), tokenizer.decode(ids, false), text);
                }
            }
        }
    }

    @Test
    void vocabularyAccessors() {
        assertEquals(277, SPM.vocabSize());
        assertEquals(OptionalInt.of(1), SPM.tokenId("<s>"));
        assertEquals(OptionalInt.of(271), SPM.tokenId("▁hello"));
        assertEquals(OptionalInt.empty(), SPM.tokenId("nope"));
        assertEquals("▁world", SPM.token(276));
        assertEquals("<0x0A>", SPM.token(3 + 10));
        assertNull(SPM.token(277));
        assertNull(SPM.token(-1));
        assertTrue(SPM.isSpecial(2));
        assertFalse(SPM.isSpecial(271));
        assertEquals(260, BYTE_LEVEL.vocabSize());
        assertTrue(BYTE_LEVEL.isSpecial(259));
        assertFalse(BYTE_LEVEL.isSpecial(258));
    }

    @Test
    void realVocabulariesSpotChecks() throws IOException {
        Tokenizer llama3 = Tokenizer.load(TestAssets.require("tokenizers/llama3/tokenizer.json"));
        assertEquals(128256, llama3.vocabSize());
        assertEquals(OptionalInt.of(128000), llama3.tokenId("<|begin_of_text|>"));
        assertTrue(llama3.isSpecial(128009));
        assertEquals("<|eot_id|>", llama3.token(128009));
        // Special tokens in the text are one id each; llama3's post-processor adds no BOS.
        assertArrayEquals(new int[] {128000, 9906, 1917, 128009}, llama3.encode("<|begin_of_text|>Hello world<|eot_id|>", true));

        Tokenizer qwen3 = Tokenizer.load(TestAssets.require("tokenizers/qwen3/tokenizer.json"));
        assertEquals(151669, qwen3.vocabSize());
        assertArrayEquals(new int[] {151644, 872, 198, 9707, 151645}, qwen3.encode("<|im_start|>user\nHello<|im_end|>", false));
    }

    @Test
    void stories260kEncodesLikeItsReference() throws IOException {
        Path json = TestAssets.sharedModel("stories260k/tokenizer.json");
        Tokenizer stories = Tokenizer.load(json);
        assertArrayEquals(new int[] {1, 403, 407, 261, 378}, stories.encode("Once upon a time", true));
        assertArrayEquals(new int[] {1, 410, 469, 347}, stories.encode("Zoo", true));
        assertEquals("Once upon a time", stories.decode(stories.encode("Once upon a time", true), true));
        assertEquals(512, stories.vocabSize());
        try (ReferenceTokenizer reference = ReferenceTokenizer.load(json)) {
            for (String text : RandomTexts.generate(260, 200)) {
                assertArrayEquals(reference.encode(text, true), stories.encode(text, true), text);
            }
        }
    }

    @Test
    void concurrentEncodingGivesTheSameIds() throws Exception {
        Tokenizer tokenizer = Tokenizer.load(TestAssets.require("tokenizers/llama3/tokenizer.json"));
        List<String> texts = RandomTexts.generate(7, 400);
        List<int[]> sequential = texts.stream().map(t -> tokenizer.encode(t, true)).toList();
        Tokenizer fresh = Tokenizer.load(TestAssets.require("tokenizers/llama3/tokenizer.json")); // cold word cache
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<int[]>> futures = texts.stream().map(t -> pool.submit(() -> fresh.encode(t, true))).toList();
            for (int i = 0; i < texts.size(); i++) assertArrayEquals(sequential.get(i), futures.get(i).get(), texts.get(i));
        } finally {
            pool.shutdown();
        }
    }
}
