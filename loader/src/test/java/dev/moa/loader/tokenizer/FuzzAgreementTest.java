package dev.moa.loader.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Agreement with the reference Rust implementation on 400 adversarial random texts per tokenizer:
 * the real tokenizers, and variants of them rewritten to exercise configurations the real files
 * do not use (Metaspace pre-tokenizer schemes, added-token options, normalizers, split behaviors,
 * unknown-token handling, post-processors, decoders). Compares encode with and without special
 * tokens and decode with and without skipping special tokens.
 */
class FuzzAgreementTest {
    private static final int TEXTS = 400;

    static Stream<Arguments> variants() {
        List<Arguments> out = new ArrayList<>();
        for (String real : List.of("llama3", "qwen3", "mistral", "gpt2", "llama-spm")) out.add(Arguments.of(real, real, noChange()));

        // SentencePiece-style with a Metaspace pre-tokenizer instead of the Prepend/Replace normalizer.
        for (String scheme : List.of("first", "always", "never")) {
            for (boolean split : List.of(true, false)) {
                out.add(Arguments.of("mistral+metaspace-" + scheme + (split ? "-split" : ""), "mistral", edit(t -> {
                    t.add("normalizer", null);
                    t.add("pre_tokenizer", json("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"" + scheme
                            + "\",\"split\":" + split + "}"));
                    t.add("decoder", json("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"" + scheme
                            + "\",\"split\":" + split + "}"));
                })));
            }
        }
        out.add(Arguments.of("mistral+unk-no-byte-fallback", "mistral", edit(t -> {
            t.getAsJsonObject("model").addProperty("byte_fallback", false);
        })));
        out.add(Arguments.of("mistral+unk-not-fused", "mistral", edit(t -> {
            t.getAsJsonObject("model").addProperty("byte_fallback", false);
            t.getAsJsonObject("model").addProperty("fuse_unk", false);
        })));
        out.add(Arguments.of("mistral+nfkc-lowercase-strip-regex-replace", "mistral", edit(t -> t.add("normalizer", json("""
                {"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Lowercase"},
                 {"type":"Strip","strip_left":true,"strip_right":true},
                 {"type":"Replace","pattern":{"Regex":"\\\\s+"},"content":" "},
                 {"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}""")))));
        out.add(Arguments.of("llama3+nfd-stripaccents+digits", "llama3", edit(t -> {
            t.add("normalizer", json("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},{\"type\":\"StripAccents\"},{\"type\":\"NFC\"}]}"));
            t.add("pre_tokenizer", json("""
                    {"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},
                     {"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}]}"""));
        })));
        out.add(Arguments.of("llama3+added-token-options", "llama3", edit(t -> {
            JsonArray added = t.getAsJsonArray("added_tokens");
            for (var e : added) {
                JsonObject token = e.getAsJsonObject();
                String content = token.get("content").getAsString();
                if (content.equals("<|eot_id|>")) { token.addProperty("lstrip", true); token.addProperty("rstrip", true); }
                if (content.equals("<|begin_of_text|>")) token.addProperty("single_word", true);
                if (content.equals("<|end_of_text|>")) token.addProperty("rstrip", true);
            }
            added.add(json("{\"id\":128256,\"content\":\"world\",\"single_word\":true,\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":false}"));
            added.add(json("{\"id\":128257,\"content\":\"<unk>\",\"single_word\":false,\"lstrip\":true,\"rstrip\":false,\"normalized\":false,\"special\":true}"));
            added.add(json("{\"id\":128258,\"content\":\"HELLO\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":false}"));
            added.add(json("{\"id\":128259,\"content\":\"<s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":true,\"normalized\":false,\"special\":false}"));
            t.add("normalizer", json("{\"type\":\"Lowercase\"}"));
        })));
        for (String behavior : List.of("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous")) {
            for (boolean invert : List.of(false, true)) {
                out.add(Arguments.of("gpt2+split-" + behavior + (invert ? "-inverted" : ""), "gpt2", edit(t -> t.add("pre_tokenizer", json("""
                        {"type":"Sequence","pretokenizers":[
                         {"type":"Split","pattern":{"Regex":"\\\\s+|[.,!?]"},"behavior":"%s","invert":%s},
                         {"type":"Split","pattern":{"String":"o"},"behavior":"%s","invert":false},
                         {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}"""
                        .formatted(behavior, invert, behavior))))));
            }
        }
        out.add(Arguments.of("gpt2+whitespace-split+prefix-space+roberta", "gpt2", edit(t -> {
            t.add("pre_tokenizer", json("""
                    {"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},
                     {"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}]}"""));
            t.add("post_processor", json("{\"type\":\"RobertaProcessing\",\"sep\":[\"<|endoftext|>\",50256],\"cls\":[\"<|endoftext|>\",50256],\"trim_offsets\":true,\"add_prefix_space\":true}"));
        })));
        out.add(Arguments.of("gpt2+whitespace+template", "gpt2", edit(t -> {
            t.add("pre_tokenizer", json("""
                    {"type":"Sequence","pretokenizers":[{"type":"Whitespace"},
                     {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}"""));
            t.add("post_processor", json("""
                    {"type":"Sequence","processors":[{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
                     {"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"bos","type_id":0}},{"Sequence":{"id":"A","type_id":0}},
                       {"SpecialToken":{"id":"eos","type_id":0}}],"pair":[{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],
                      "special_tokens":{"bos":{"id":"bos","ids":[50256,1],"tokens":["<|endoftext|>","\\""]},
                                        "eos":{"id":"eos","ids":[50256],"tokens":["<|endoftext|>"]}}}]}"""));
        })));
        // Strip per token (before Fuse). stop stays 0: HF's Strip panics when stop > 0 meets an empty token.
        out.add(Arguments.of("mistral+decoder-strip-each-token", "mistral", edit(t -> t.add("decoder", json("""
                {"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},
                 {"type":"ByteFallback"},{"type":"Strip","content":" ","start":2,"stop":0},{"type":"Fuse"}]}""")))));
        out.add(Arguments.of("llama3+no-decoder", "llama3", edit(t -> t.add("decoder", null))));
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void agreesWithHuggingFaceOnRandomTexts(String name, String base, Consumer<JsonObject> change) throws IOException {
        JsonObject tokenizerJson = JsonParser.parseString(Files.readString(TestAssets.require("tokenizers/" + base + "/tokenizer.json")))
                .getAsJsonObject();
        change.accept(tokenizerJson);
        String json = tokenizerJson.toString();
        Tokenizer tokenizer = Tokenizer.fromJson(json, name);
        List<String> failures = new ArrayList<>();
        List<String> texts = RandomTexts.generate(name.hashCode(), TEXTS);
        try (ReferenceTokenizer reference = ReferenceTokenizer.fromJson(json)) {
            for (String text : texts) {
                for (boolean special : new boolean[] {false, true}) {
                    int[] expected = reference.encode(text, special);
                    int[] actual = tokenizer.encode(text, special);
                    if (!Arrays.equals(expected, actual)) {
                        failures.add("encode(" + LlamaCppGoldenTest.quote(text) + ", " + special + ")\n  expected "
                                + Arrays.toString(expected) + "\n  actual   " + Arrays.toString(actual));
                    }
                    String expectedText = reference.decode(expected, special);
                    String actualText = tokenizer.decode(expected, special);
                    if (!expectedText.equals(actualText)) {
                        failures.add("decode(" + Arrays.toString(expected) + ", skip=" + special + ")\n  expected "
                                + LlamaCppGoldenTest.quote(expectedText) + "\n  actual   " + LlamaCppGoldenTest.quote(actualText));
                    }
                }
            }
            // Random id sequences: broken UTF-8 from byte-level pieces and <0xNN> tokens, special tokens anywhere.
            java.util.Random random = new java.util.Random(name.hashCode());
            for (int i = 0; i < TEXTS; i++) {
                int[] ids = random.ints(1 + random.nextInt(8), 0, tokenizer.vocabSize()).toArray();
                boolean skip = random.nextBoolean();
                String expected = reference.decode(ids, skip);
                String actual = tokenizer.decode(ids, skip);
                if (!expected.equals(actual)) {
                    failures.add("decode(" + Arrays.toString(ids) + ", skip=" + skip + ")\n  expected "
                            + LlamaCppGoldenTest.quote(expected) + "\n  actual   " + LlamaCppGoldenTest.quote(actual));
                }
            }
        }
        int total = 5 * texts.size();
        System.out.println(name + ": " + (total - failures.size()) + "/" + total + " encode/decode results equal to HF tokenizers");
        assertEquals(List.of(), failures.subList(0, Math.min(10, failures.size())), name + ": " + failures.size() + " differences");
    }

    private static Consumer<JsonObject> noChange() {
        return t -> {};
    }

    private static Consumer<JsonObject> edit(Consumer<JsonObject> change) {
        return change;
    }

    private static com.google.gson.JsonElement json(String text) {
        return JsonParser.parseString(text);
    }
}
