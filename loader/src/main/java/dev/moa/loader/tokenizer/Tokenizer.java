package dev.moa.loader.tokenizer;

import com.google.gson.JsonElement;
import dev.moa.loader.io.InputFiles;
import dev.moa.loader.json.StrictJson;
import dev.moa.loader.tokenizer.AddedTokenMatcher.Segment;
import dev.moa.loader.tokenizer.PreTokenizer.Piece;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer, reproducing the Rust {@code tokenizers}
 * library's results exactly for BPE models (byte-level: GPT-2, Llama 3, Qwen; SentencePiece-style
 * with byte fallback: Llama 2, Mistral).
 *
 * <p>Encoding follows HF's pipeline:
 * <ol>
 *   <li>cut out added tokens matched on the raw text ({@code normalized: false});
 *   <li>normalize each remaining piece, then cut out added tokens matched on normalized text;
 *   <li>pre-tokenize each piece into words;
 *   <li>BPE each word;
 *   <li>if asked, add special tokens with the post-processor.
 * </ol>
 * Immutable and safe for concurrent use.
 */
public final class Tokenizer {
    private final Normalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final BpeModel model;
    private final PostProcessor postProcessor;
    private final Decoder decoder;
    private final AddedVocabulary addedVocabulary;
    private final String[] tokens; // id -> piece; added tokens take precedence over the model vocab
    private final boolean[] special;

    /** Ids at or past this are refused before a table is sized by them. */
    public static final int MAX_IDS = 1 << 24;

    private Tokenizer(JsonNode root) {
        normalizer = Normalizer.parse(root.get("normalizer"));
        preTokenizer = PreTokenizer.parse(root.get("pre_tokenizer"));
        JsonNode modelNode = root.get("model");
        if (modelNode.isNull()) throw modelNode.expected("an object (the tokenization model)");
        model = BpeModel.parse(modelNode);
        postProcessor = PostProcessor.parse(root.get("post_processor"));
        decoder = Decoder.parse(root.get("decoder"));

        List<AddedToken> added = new ArrayList<>();
        JsonNode addedNode = root.get("added_tokens");
        if (!addedNode.isNull()) for (JsonNode item : addedNode.items()) added.add(AddedToken.parse(item));
        addedVocabulary = new AddedVocabulary(added, model.vocab(), normalizer);

        Map<Integer, String> addedById = addedVocabulary.contentsById();
        int maxId = -1;
        for (int id : model.vocab().values()) maxId = Math.max(maxId, id);
        for (int id : addedById.keySet()) maxId = Math.max(maxId, id);
        tokens = new String[maxId + 1];
        special = new boolean[maxId + 1];
        for (Map.Entry<String, Integer> e : model.vocab().entrySet()) tokens[e.getValue()] = e.getKey();
        addedById.forEach((id, content) -> tokens[id] = content);
        for (int id = 0; id < tokens.length; id++) special[id] = tokens[id] != null && addedVocabulary.isSpecial(tokens[id]);
    }

    /** Reads a {@code tokenizer.json}; a bad file raises {@link TokenizerException} naming file and field. */
    public static Tokenizer load(Path tokenizerJson) throws IOException {
        String json;
        try {
            json = InputFiles.readText(tokenizerJson, InputFiles.TOKENIZER_JSON);
        } catch (NoSuchFileException e) {
            throw new TokenizerException(tokenizerJson + ": file not found", e);
        }
        return fromJson(json, tokenizerJson.toString());
    }

    /** Parses the content of a {@code tokenizer.json}; {@code sourceName} is used in error messages. */
    public static Tokenizer fromJson(String json, String sourceName) {
        JsonElement parsed;
        try {
            parsed = StrictJson.parse(json);
        } catch (StrictJson.Error e) {
            throw new TokenizerException(sourceName + ": not valid JSON (" + e.getMessage() + ")", e);
        }
        JsonNode root = new JsonNode(sourceName, parsed);
        if (!root.isObject()) throw new TokenizerException(sourceName + ": top level must be a JSON object");
        return new Tokenizer(root);
    }

    /**
     * Token ids of {@code text}. With {@code addSpecialTokens} the post-processor runs (e.g. Llama's
     * template prepends BOS); added tokens in the text (e.g. {@code <|eot_id|>}) are always
     * recognised.
     */
    public int[] encode(String text, boolean addSpecialTokens) {
        IntList ids = new IntList(text.length() / 3 + 4);
        List<Piece> words = new ArrayList<>();
        for (Segment raw : addedVocabulary.rawMatcher().split(text, 0)) {
            if (raw.isToken()) {
                ids.add(raw.tokenId());
                continue;
            }
            String normalized = normalizer.normalize(raw.text());
            for (Segment segment : addedVocabulary.normalizedMatcher().split(normalized, 0)) {
                if (segment.isToken()) {
                    ids.add(segment.tokenId());
                    continue;
                }
                words.clear();
                preTokenizer.preTokenize(segment.text(), raw.start() == 0 && segment.start() == 0, words);
                for (Piece word : words) model.tokenize(word.text(), ids);
            }
        }
        int[] out = ids.toArray();
        return addSpecialTokens ? postProcessor.process(out) : out;
    }

    /** Text of the ids; unknown ids are ignored, special tokens dropped if asked. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        List<String> pieces = new ArrayList<>(ids.length);
        for (int id : ids) {
            String piece = token(id);
            if (piece == null || (skipSpecialTokens && special[id])) continue;
            pieces.add(piece);
        }
        return decoder.decode(pieces);
    }

    /** An incremental decoder for generated ids, one at a time; not shared between threads. */
    public StreamDecoder streamDecoder(boolean skipSpecialTokens) {
        return new StreamDecoder(this, skipSpecialTokens);
    }

    /** One more than the largest id of the model vocabulary and the added tokens. */
    public int vocabSize() {
        return tokens.length;
    }

    /**
     * The largest id encoding can produce: the vocabulary's, the added tokens' and the post-processor's (the BOS a
     * template prepends need not be in the vocabulary). A model must have an embedding row for each.
     */
    public int largestId() {
        int largest = tokens.length - 1;
        for (int id : postProcessor.process(new int[0])) largest = Math.max(largest, id);
        return largest;
    }

    /** The id of a token string (added tokens first, then the model vocabulary). */
    public OptionalInt tokenId(String token) {
        Integer id = addedVocabulary.id(token);
        if (id == null) id = model.vocab().get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The raw piece of an id as stored in the vocabulary (e.g. "Ġthe", "▁the", "<0x0A>"), or null if none. */
    public String token(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    /** Whether the id's token is a special added token (BOS, EOS, chat markers, ...), skipped by decode if asked. */
    public boolean isSpecial(int id) {
        return id >= 0 && id < special.length && special[id];
    }
}
