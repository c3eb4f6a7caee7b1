package dev.moa.loader.tokenizer;

/**
 * One entry of {@code added_tokens}: a string that is cut out of the input as a whole and mapped
 * straight to its id, before the model sees the text (e.g. {@code <|begin_of_text|>}). Its id is
 * assigned by {@link AddedVocabulary}, as HF does, not taken from the file.
 *
 * @param special    control token; dropped by {@code decode(..., skipSpecialTokens = true)}
 * @param lstrip     the match swallows whitespace on its left
 * @param rstrip     the match swallows whitespace on its right
 * @param singleWord only matches when not inside a word
 * @param normalized matched against the normalized text (else against the raw input)
 */
record AddedToken(String content, boolean special, boolean lstrip, boolean rstrip, boolean singleWord,
                  boolean normalized) {

    static AddedToken parse(JsonNode node) {
        boolean special = node.bool("special", false);
        return new AddedToken(node.string("content"), special, node.bool("lstrip", false), node.bool("rstrip", false),
                node.bool("single_word", false), node.bool("normalized", !special));
    }
}
