package dev.moa.loader.tokenizer;

/**
 * A {@code tokenizer.json} that cannot be used: malformed JSON, a missing or mistyped field, or a
 * component type this implementation does not support. The message names the source file and the
 * JSON field (as a dotted path such as {@code model.vocab}) and what was expected there.
 */
public final class TokenizerException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
