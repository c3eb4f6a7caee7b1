package dev.moa.loader.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The {@code "model": {"type": "BPE"}} of a tokenizer.json: turns one pre-token into token ids by
 * starting from its characters and applying the ranked merge rules.
 *
 * <p>Covers both flavours in use: byte-level BPE (GPT-2, Llama 3, Qwen), whose words are already
 * in the byte alphabet so every character is in the vocabulary, and SentencePiece-style BPE (Llama
 * 2, Mistral), where a character missing from the vocabulary becomes its UTF-8 bytes as
 * {@code <0xNN>} tokens ({@code byte_fallback}) or the unknown token (consecutive unknowns fused
 * into one with {@code fuse_unk}).
 *
 * <p>Thread-safe: immutable apart from the word cache, which is a concurrent map.
 */
final class BpeModel {
    /** Words are cached until this many are held; natural text has far fewer distinct words. */
    private static final int CACHE_CAPACITY = 200_000;
    /** Longer words are not cached: they are rare and would only bloat the cache. */
    private static final int CACHE_MAX_WORD = 256;

    private final Map<String, Integer> vocab;
    private final MergeTable merges;
    private final int unkId; // -1: no unknown token
    private final boolean fuseUnk;
    private final int[] byteTokens; // id of "<0xNN>" per byte, or null without byte_fallback
    private final String continuingSubwordPrefix;
    private final String endOfWordSuffix;
    private final boolean ignoreMerges;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private BpeModel(Map<String, Integer> vocab, MergeTable merges, int unkId, boolean fuseUnk, int[] byteTokens,
                     String continuingSubwordPrefix, String endOfWordSuffix, boolean ignoreMerges) {
        this.vocab = vocab;
        this.merges = merges;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.byteTokens = byteTokens;
        this.continuingSubwordPrefix = continuingSubwordPrefix;
        this.endOfWordSuffix = endOfWordSuffix;
        this.ignoreMerges = ignoreMerges;
    }

    static BpeModel parse(JsonNode model) {
        String type = model.type();
        if (!type.equals("BPE")) {
            throw model.get("type").unsupported("model type '" + type + "'", "BPE");
        }
        JsonNode dropout = model.get("dropout");
        if (!dropout.isNull() && dropout.number() != 0) {
            throw dropout.unsupported("BPE dropout (randomised training-time merges)", "null or 0");
        }

        JsonNode vocabNode = model.get("vocab");
        if (!vocabNode.isObject()) throw vocabNode.expected("an object mapping token strings to ids");
        Map<String, Integer> vocab = new HashMap<>();
        for (Map.Entry<String, JsonNode> e : vocabNode.entries()) vocab.put(e.getKey(), e.getValue().tokenId());

        String prefix = model.optString("continuing_subword_prefix", null);
        MergeTable merges = parseMerges(model.get("merges"), vocab, prefix == null ? 0 : prefix.length());

        int unkId = -1;
        String unk = model.optString("unk_token", null);
        if (unk != null) {
            Integer id = vocab.get(unk);
            if (id == null) throw model.get("unk_token").error("unknown token '" + unk + "' is not in model.vocab");
            unkId = id;
        }
        int[] byteTokens = null;
        if (model.bool("byte_fallback", false)) {
            byteTokens = new int[256];
            for (int b = 0; b < 256; b++) byteTokens[b] = vocab.getOrDefault(String.format("<0x%02X>", b), -1);
        }
        return new BpeModel(vocab, merges, unkId, model.bool("fuse_unk", false), byteTokens, prefix,
                model.optString("end_of_word_suffix", null), model.bool("ignore_merges", false));
    }

    /** Merges are {@code "left right"} strings (older files) or {@code ["left", "right"]} pairs. */
    private static MergeTable parseMerges(JsonNode node, Map<String, Integer> vocab, int prefixLength) {
        if (node.isNull()) return new MergeTable(0);
        List<JsonNode> items = node.items();
        MergeTable table = new MergeTable(items.size());
        for (int rank = 0; rank < items.size(); rank++) {
            JsonNode item = items.get(rank);
            String left;
            String right;
            if (item.isString()) {
                String line = item.string();
                int space = line.indexOf(' ');
                if (space < 0 || line.indexOf(' ', space + 1) >= 0) throw item.expected("\"left right\" (two tokens separated by one space)");
                left = line.substring(0, space);
                right = line.substring(space + 1);
            } else {
                List<JsonNode> pair = item.isArray() ? item.items() : List.of();
                if (pair.size() != 2) throw item.expected("a merge: \"left right\" or [\"left\", \"right\"]");
                left = pair.get(0).string();
                right = pair.get(1).string();
            }
            // The right part of a merge carries the continuing-subword prefix, which the merged token does not repeat.
            String merged = left + right.substring(Math.min(prefixLength, right.length()));
            int leftId = idOf(vocab, left, item), rightId = idOf(vocab, right, item);
            Integer mergedId = vocab.get(merged);
            // tokenizers refuses such a file too: the merge would make a token the model has no id for
            if (mergedId == null) throw item.error("merge makes '" + merged + "', which is not in model.vocab");
            table.put(leftId, rightId, rank, mergedId);
        }
        return table;
    }

    private static int idOf(Map<String, Integer> vocab, String token, JsonNode where) {
        Integer id = vocab.get(token);
        if (id == null) throw where.error("merge uses token '" + token + "' which is not in model.vocab");
        return id;
    }

    Map<String, Integer> vocab() {
        return vocab;
    }

    /** Appends the ids of one pre-token. */
    void tokenize(String word, IntList out) {
        if (word.isEmpty()) return;
        if (ignoreMerges) {
            // Llama 3: a word that is itself a token is emitted whole, even if the merges would split it.
            Integer id = vocab.get(word);
            if (id != null) {
                out.add(id);
                return;
            }
        }
        int[] cached = cache.get(word);
        if (cached == null) {
            cached = merge(word);
            if (word.length() <= CACHE_MAX_WORD && cache.size() < CACHE_CAPACITY) cache.put(word, cached);
        }
        out.addAll(cached);
    }

    /** HF's {@code merge_word}: one symbol per character (or byte tokens / unk), then all merges. */
    private int[] merge(String word) {
        BpeWord symbols = new BpeWord(word.length());
        int pendingUnk = 0; // unknown characters waiting to be emitted (fused into one with fuse_unk)
        for (int i = 0; i < word.length(); ) {
            int end = i + Character.charCount(word.codePointAt(i));
            String symbol = word.substring(i, end);
            if (i > 0 && continuingSubwordPrefix != null) symbol = continuingSubwordPrefix + symbol;
            if (end == word.length() && endOfWordSuffix != null) symbol = symbol + endOfWordSuffix;
            i = end;

            Integer id = vocab.get(symbol);
            if (id != null) {
                pendingUnk = flushUnknown(symbols, pendingUnk);
                symbols.add(id);
            } else if (addByteFallback(symbols, symbol)) {
                // Written as <0xNN> tokens. Like HF, a pending unk is not flushed first (it can
                // only be pending if some <0xNN> token is missing from the vocabulary).
            } else if (unkId >= 0) {
                if (!fuseUnk) pendingUnk = flushUnknown(symbols, pendingUnk);
                pendingUnk++;
            }
            // Without unk token or byte fallback the character is silently dropped, as in HF.
        }
        flushUnknown(symbols, pendingUnk);
        symbols.mergeAll(merges);
        return symbols.ids();
    }

    private int flushUnknown(BpeWord symbols, int pending) {
        if (pending > 0) symbols.add(unkId);
        return 0;
    }

    /** Adds the symbol's UTF-8 bytes as {@code <0xNN>} tokens if byte fallback is on and all exist. */
    private boolean addByteFallback(BpeWord symbols, String symbol) {
        if (byteTokens == null) return false;
        byte[] bytes = symbol.getBytes(StandardCharsets.UTF_8);
        for (byte b : bytes) if (byteTokens[b & 0xFF] < 0) return false;
        for (byte b : bytes) symbols.add(byteTokens[b & 0xFF]);
        return true;
    }
}
