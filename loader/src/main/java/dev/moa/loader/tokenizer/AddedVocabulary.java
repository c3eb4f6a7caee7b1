package dev.moa.loader.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The added tokens of a tokenizer, with ids assigned exactly as HF's {@code AddedVocabulary} does
 * when it loads a tokenizer.json: tokens are added one by one in file order; a token whose content
 * is already known (as an added token or in the model vocabulary) takes that id, any other gets the
 * next id after the model vocabulary and the added tokens so far. The {@code id} written in the
 * file is not used: for every file HF itself wrote the two agree, and where they do not, HF's
 * assignment is what models were trained with.
 */
final class AddedVocabulary {
    private final Map<String, Integer> idsByContent = new HashMap<>();
    private final Map<Integer, AddedToken> tokensById = new LinkedHashMap<>();
    private final Set<String> specialContents = new HashSet<>();
    private final List<AddedToken> specialTokens = new ArrayList<>();
    private final List<AddedToken> plainTokens = new ArrayList<>();
    private final AddedTokenMatcher rawMatcher;
    private final AddedTokenMatcher normalizedMatcher;

    AddedVocabulary(List<AddedToken> tokens, Map<String, Integer> modelVocab, Normalizer normalizer) {
        for (AddedToken token : tokens) add(token, modelVocab);
        // Matching: special tokens first, then the others, each against raw or normalized text.
        List<AddedTokenMatcher.Entry> raw = new ArrayList<>();
        List<AddedTokenMatcher.Entry> normalized = new ArrayList<>();
        for (List<AddedToken> group : List.of(specialTokens, plainTokens)) {
            for (AddedToken token : group) {
                int id = idsByContent.get(token.content());
                // The match options are those of the token now holding the id (HF looks them up by id).
                AddedToken options = tokensById.get(id);
                if (token.normalized()) normalized.add(new AddedTokenMatcher.Entry(normalizer.normalize(token.content()), id, options));
                else raw.add(new AddedTokenMatcher.Entry(token.content(), id, options));
            }
        }
        rawMatcher = new AddedTokenMatcher(raw);
        normalizedMatcher = new AddedTokenMatcher(normalized);
    }

    private void add(AddedToken token, Map<String, Integer> modelVocab) {
        if (token.special() && !token.content().isEmpty() && specialContents.add(token.content())) specialTokens.add(token);
        if (token.content().isEmpty() || tokensById.containsValue(token)) return;
        Integer id = idsByContent.get(token.content());
        if (id == null) id = modelVocab.get(token.content());
        if (id == null) {
            // HF: one past the largest added id if that is beyond the model vocabulary, else the model's size.
            int max = idsByContent.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
            id = max >= modelVocab.size() || (max >= 0 && modelVocab.isEmpty()) ? max + 1 : modelVocab.size();
        }
        idsByContent.put(token.content(), id);
        tokensById.put(id, token);
        if (!specialContents.contains(token.content())) plainTokens.add(token);
    }

    AddedTokenMatcher rawMatcher() {
        return rawMatcher;
    }

    AddedTokenMatcher normalizedMatcher() {
        return normalizedMatcher;
    }

    /** Added tokens by id (content of the token that holds the id). */
    Map<Integer, String> contentsById() {
        Map<Integer, String> out = new HashMap<>();
        tokensById.forEach((id, token) -> out.put(id, token.content()));
        return out;
    }

    Integer id(String content) {
        return idsByContent.get(content);
    }

    /** HF decides "special" by content: any token string equal to a special added token is skipped. */
    boolean isSpecial(String content) {
        return specialContents.contains(content);
    }
}
