package dev.moa.runtime.synthetic;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small GPT-2-style byte-level BPE {@code tokenizer.json} for synthetic models: three special tokens, the 256
 * byte symbols, and merges learned deterministically (most frequent pair first, ties by text) from a built-in
 * English paragraph until the vocabulary is full. Real format, real algorithm, tiny size.
 */
public final class SyntheticTokenizer {
    public static final String BOS = "<|begin_of_text|>", EOS = "<|end_of_text|>", PAD = "<|pad|>";
    public static final int PAD_ID = 0, BOS_ID = 1, EOS_ID = 2;

    private static final String CORPUS = """
            Once upon a time, there was a little girl who lived in a village near the forest. Whenever she went out, \
            the little girl wore a red riding cloak, so everyone in the village called her Little Red Riding Hood. \
            One morning, she asked her mother if she could go to visit her grandmother as it had been a while since \
            they had seen each other. The weather was fine, the birds were singing, and the path through the woods \
            was long. She walked and walked, and she thought about the stories her grandmother would tell her.""";

    private static final String GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    private SyntheticTokenizer() {
    }

    /** GPT-2's reversible byte → printable character map. */
    static char[] byteAlphabet() {
        char[] map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char) b : (char) next++;
        }
        return map;
    }

    /** Writes tokenizer.json and tokenizer_config.json (with a simple chat template) for a vocabulary of {@code vocabSize}. */
    public static void write(Path directory, int vocabSize) throws IOException {
        if (vocabSize < 259) throw new IllegalArgumentException("a byte-level vocabulary needs at least 259 ids, got " + vocabSize);
        char[] alphabet = byteAlphabet();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) vocab.put(String.valueOf(alphabet[b]), 3 + b);

        // Words of the corpus as symbol sequences (pre-tokenised the way the tokenizer will).
        List<List<String>> words = new ArrayList<>();
        var matcher = java.util.regex.Pattern.compile(GPT2_SPLIT).matcher(CORPUS);
        while (matcher.find()) {
            List<String> symbols = new ArrayList<>();
            for (byte b : matcher.group().getBytes(StandardCharsets.UTF_8)) symbols.add(String.valueOf(alphabet[b & 0xFF]));
            words.add(symbols);
        }
        JsonArray merges = new JsonArray();
        int nextId = 3 + 256;
        while (nextId < vocabSize) {
            Map<String, Integer> counts = new HashMap<>();
            for (List<String> w : words) {
                for (int i = 0; i + 1 < w.size(); i++) counts.merge(w.get(i) + " " + w.get(i + 1), 1, Integer::sum);
            }
            String best = counts.entrySet().stream()
                    .max(Map.Entry.<String, Integer>comparingByValue().thenComparing(Map.Entry.comparingByKey(java.util.Comparator.reverseOrder())))
                    .map(Map.Entry::getKey).orElse(null);
            if (best == null || counts.get(best) < 2) break;
            String[] pair = best.split(" ", 2);
            String merged = pair[0] + pair[1];
            merges.add(best);
            vocab.put(merged, nextId++);
            for (List<String> w : words) {
                for (int i = 0; i + 1 < w.size(); i++) {
                    if (w.get(i).equals(pair[0]) && w.get(i + 1).equals(pair[1])) {
                        w.set(i, merged);
                        w.remove(i + 1);
                    }
                }
            }
        }
        // Ids the corpus could not fill stay reserved, so the vocabulary matches the model's embedding rows.
        for (int id = nextId; id < vocabSize; id++) vocab.put("<|reserved_" + id + "|>", id);

        JsonObject root = new JsonObject();
        root.addProperty("version", "1.0");
        JsonArray added = new JsonArray();
        String[] specials = {PAD, BOS, EOS};
        for (int id = 0; id < specials.length; id++) {
            JsonObject t = new JsonObject();
            t.addProperty("id", id);
            t.addProperty("content", specials[id]);
            t.addProperty("single_word", false);
            t.addProperty("lstrip", false);
            t.addProperty("rstrip", false);
            t.addProperty("normalized", false);
            t.addProperty("special", true);
            added.add(t);
        }
        root.add("added_tokens", added);
        root.add("normalizer", null);
        JsonObject pre = new JsonObject();
        pre.addProperty("type", "ByteLevel");
        pre.addProperty("add_prefix_space", false);
        pre.addProperty("trim_offsets", true);
        pre.addProperty("use_regex", true);
        root.add("pre_tokenizer", pre);
        root.add("post_processor", JsonTemplates.bosTemplate(BOS, BOS_ID));
        JsonObject decoder = new JsonObject();
        decoder.addProperty("type", "ByteLevel");
        decoder.addProperty("add_prefix_space", true);
        decoder.addProperty("trim_offsets", true);
        decoder.addProperty("use_regex", true);
        root.add("decoder", decoder);
        JsonObject model = new JsonObject();
        model.addProperty("type", "BPE");
        model.add("dropout", null);
        model.add("unk_token", null);
        model.addProperty("fuse_unk", false);
        model.addProperty("byte_fallback", false);
        model.addProperty("ignore_merges", false);
        JsonObject v = new JsonObject();
        v.addProperty(PAD, PAD_ID);
        v.addProperty(BOS, BOS_ID);
        v.addProperty(EOS, EOS_ID);
        vocab.forEach(v::addProperty);
        model.add("vocab", v);
        model.add("merges", merges);
        root.add("model", model);
        Files.writeString(directory.resolve("tokenizer.json"), root.toString());

        JsonObject config = new JsonObject();
        config.addProperty("bos_token", BOS);
        config.addProperty("eos_token", EOS);
        config.addProperty("pad_token", PAD);
        config.addProperty("model_max_length", 4096);
        config.addProperty("chat_template", "{{ bos_token }}{% for message in messages %}"
                + "{{ '<|' + message['role'] + '|>\\n' + message['content'] | trim + '\\n' }}{% endfor %}"
                + "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}");
        Files.writeString(directory.resolve("tokenizer_config.json"), config.toString());
    }

    /** JSON fragments of tokenizer.json's post-processor. */
    static final class JsonTemplates {
        private JsonTemplates() {
        }

        /** TemplateProcessing that puts BOS before a single sequence, as Llama 3.1's tokenizer does. */
        static JsonObject bosTemplate(String bos, int bosId) {
            JsonObject special = new JsonObject();
            JsonObject specialBody = new JsonObject();
            specialBody.addProperty("id", bos);
            specialBody.addProperty("type_id", 0);
            special.add("SpecialToken", specialBody);
            JsonObject sequence = new JsonObject();
            JsonObject sequenceBody = new JsonObject();
            sequenceBody.addProperty("id", "A");
            sequenceBody.addProperty("type_id", 0);
            sequence.add("Sequence", sequenceBody);
            JsonArray single = new JsonArray();
            single.add(special);
            single.add(sequence);
            JsonObject specialTokens = new JsonObject();
            JsonObject entry = new JsonObject();
            entry.addProperty("id", bos);
            JsonArray ids = new JsonArray();
            ids.add(bosId);
            entry.add("ids", ids);
            JsonArray tokens = new JsonArray();
            tokens.add(bos);
            entry.add("tokens", tokens);
            specialTokens.add(bos, entry);
            JsonObject processor = new JsonObject();
            processor.addProperty("type", "TemplateProcessing");
            processor.add("single", single);
            processor.add("pair", single);
            processor.add("special_tokens", specialTokens);
            return processor;
        }
    }
}
