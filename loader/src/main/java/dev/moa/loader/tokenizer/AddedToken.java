package dev.moa.loader.tokenizer;

/**
 * One entry of {@code added_tokens}: a string that is cut out of the input as a whole and mapped
 * straight to its id, before the model sees the text (e.g. {@code <|begin_of_text|>}).
 *
 * @param special    control token; dropped by {@code decode(..., skipSpecialTokens = true)}
 * @param lstrip     the match swallows whitespace on its left
 * @param rstrip     the match swallows whitespace on its right
 * @param singleWord only matches when not inside a word
 * @param normalized matched against the normalized text (else against the raw input)
 */
record AddedToken(int id, String content, boolean special, boolean lstrip, boolean rstrip, boolean singleWord,
                  boolean normalized) {

    static AddedToken parse(JsonNode node) {
        JsonNode content = node.get("content");
        if (content.string().isEmpty()) throw content.expected("a non-empty string");
        boolean special = node.bool("special", false);
        return new AddedToken(node.get("id").integer(), content.string(), special, node.bool("lstrip", false),
                node.bool("rstrip", false), node.bool("single_word", false), node.bool("normalized", !special));
    }
}
