package dev.moa.loader.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * llama.cpp's tokenizer golden cases ({@code models/ggml-vocab-*.gguf.inp/.out}): 46 tricky inputs
 * (whitespace runs, newlines, digits, apostrophes, emoji, CJK, Cyrillic, code) with the ids HF
 * {@code tokenizers} produced for them, without BOS. Each vocabulary is paired with a real
 * tokenizer.json for the same model (see scripts/fetch-test-assets.sh).
 */
class LlamaCppGoldenTest {
    private static final String SEPARATOR = "\n__ggml_vocab_test__\n";

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "llama-spm, tokenizers/llama-spm/tokenizer.json",
        "llama-bpe, tokenizers/llama3/tokenizer.json",
        "qwen2,     tokenizers/qwen3/tokenizer.json",
        "gpt-2,     tokenizers/gpt2/tokenizer.json",
    })
    void matchesAllGoldenCases(String vocab, String tokenizerJson) throws IOException {
        Path models = TestAssets.require("llama.cpp/models");
        Tokenizer tokenizer = Tokenizer.load(TestAssets.require(tokenizerJson));
        List<String> inputs = cases(Files.readString(TestAssets.require("llama.cpp/models/ggml-vocab-" + vocab + ".gguf.inp")));
        List<String> outputs = Files.readAllLines(models.resolve("ggml-vocab-" + vocab + ".gguf.out"));
        assertEquals(46, inputs.size(), "golden inputs");
        assertEquals(inputs.size(), outputs.size(), "golden outputs");

        List<String> failures = new ArrayList<>();
        for (int i = 0; i < inputs.size(); i++) {
            int[] expected = parseIds(outputs.get(i));
            int[] actual = tokenizer.encode(inputs.get(i), false);
            if (!Arrays.equals(expected, actual)) {
                failures.add("case " + i + " " + quote(inputs.get(i)) + "\n  expected " + Arrays.toString(expected)
                        + "\n  actual   " + Arrays.toString(actual));
            }
        }
        System.out.println(vocab + ": " + (inputs.size() - failures.size()) + "/" + inputs.size());
        assertEquals(List.of(), failures, vocab + " golden cases that differ");
    }

    /** Inputs are separated by a marker line; the file also ends with one. */
    private static List<String> cases(String inp) {
        List<String> parts = new ArrayList<>(Arrays.asList(inp.split(SEPARATOR, -1)));
        if (parts.getLast().isEmpty()) parts.removeLast();
        return parts;
    }

    private static int[] parseIds(String line) {
        String trimmed = line.trim();
        return trimmed.isEmpty() ? new int[0] : Arrays.stream(trimmed.split(" +")).mapToInt(Integer::parseInt).toArray();
    }

    static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        s.codePoints().forEach(cp -> {
            if (cp == '\n') out.append("\\n");
            else if (cp == '\r') out.append("\\r");
            else if (cp == '\t') out.append("\\t");
            else if (cp < 0x20) out.append(String.format("\\u%04x", cp));
            else out.appendCodePoint(cp);
        });
        return out.append('"').toString();
    }
}
