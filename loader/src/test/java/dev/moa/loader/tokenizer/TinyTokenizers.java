package dev.moa.loader.tokenizer;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

/** Small hand-made tokenizer.json files, so that unit tests run without any downloaded asset. */
final class TinyTokenizers {
    private TinyTokenizers() {}

    /**
     * SentencePiece-style BPE (Llama 2 layout): {@code <unk> <s> </s>}, the 256 {@code <0xNN>} byte
     * tokens, then a few pieces and merges spelling "▁hello" and "▁world".
     */
    static String sentencePiece() {
        JsonObject vocab = new JsonObject();
        vocab.addProperty("<unk>", 0);
        vocab.addProperty("<s>", 1);
        vocab.addProperty("</s>", 2);
        for (int b = 0; b < 256; b++) vocab.addProperty(String.format("<0x%02X>", b), 3 + b);
        String[] pieces = {"▁", "h", "e", "l", "o", "w", "r", "d", "▁h", "el", "▁hel", "lo", "▁hello", "▁w", "or", "▁wor", "ld", "▁world"};
        for (int i = 0; i < pieces.length; i++) vocab.addProperty(pieces[i], 259 + i);
        JsonArray merges = new JsonArray();
        for (String m : new String[] {"▁ h", "e l", "▁h el", "l o", "▁hel lo", "▁ w", "o r", "▁w or", "l d", "▁wor ld"}) merges.add(m);
        JsonObject root = JsonParser.parseString("""
                {"version":"1.0","truncation":null,"padding":null,
                 "added_tokens":[
                  {"id":0,"content":"<unk>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                  {"id":1,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                  {"id":2,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
                 "normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},
                   {"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
                 "pre_tokenizer":null,
                 "post_processor":{"type":"TemplateProcessing",
                   "single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
                   "pair":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},
                           {"SpecialToken":{"id":"<s>","type_id":1}},{"Sequence":{"id":"B","type_id":1}}],
                   "special_tokens":{"<s>":{"id":"<s>","ids":[1],"tokens":["<s>"]}}},
                 "decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},
                   {"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},
                 "model":{"type":"BPE","dropout":null,"unk_token":"<unk>","continuing_subword_prefix":null,
                   "end_of_word_suffix":null,"fuse_unk":true,"byte_fallback":true,"ignore_merges":false}}""").getAsJsonObject();
        root.getAsJsonObject("model").add("vocab", vocab);
        root.getAsJsonObject("model").add("merges", merges);
        return root.toString();
    }

    /**
     * Byte-level BPE (GPT-2 layout): the 256 alphabet characters as ids 0-255, merges spelling
     * "Ġthe" (ids 256-258), a special {@code <|eot|>} (id 259: HF numbers added tokens after the
     * model vocabulary, whatever the file says) and a template that puts it first.
     */
    static String byteLevel() {
        JsonObject vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab.addProperty(String.valueOf(byteChar(b)), b);
        vocab.addProperty("Ġt", 256);
        vocab.addProperty("he", 257);
        vocab.addProperty("Ġthe", 258);
        JsonArray merges = new JsonArray();
        merges.add("Ġ t");
        merges.add("h e");
        merges.add("Ġt he");
        JsonObject root = JsonParser.parseString("""
                {"version":"1.0",
                 "added_tokens":[{"id":259,"content":"<|eot|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
                 "normalizer":null,
                 "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
                 "post_processor":{"type":"TemplateProcessing",
                   "single":[{"SpecialToken":{"id":"<|eot|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
                   "pair":[{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],
                   "special_tokens":{"<|eot|>":{"id":"<|eot|>","ids":[259],"tokens":["<|eot|>"]}}},
                 "decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},
                 "model":{"type":"BPE","dropout":null,"unk_token":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false}}""")
                .getAsJsonObject();
        root.getAsJsonObject("model").add("vocab", vocab);
        root.getAsJsonObject("model").add("merges", merges);
        return root.toString();
    }

    /** GPT-2's bytes_to_unicode, written out again independently of the main code. */
    static char byteChar(int b) {
        int next = 256;
        for (int x = 0; x < 256; x++) {
            boolean printable = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
            char c = (char) (printable ? x : next++);
            if (x == b) return c;
        }
        throw new IllegalArgumentException("not a byte: " + b);
    }
}
