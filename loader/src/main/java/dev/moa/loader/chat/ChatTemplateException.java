package dev.moa.loader.chat;

/**
 * A chat template that cannot be read or rendered: the template's own {@code raise_exception}
 * message, a Jinja error with its line, or a malformed tokenizer_config.json (naming file and field).
 */
public final class ChatTemplateException extends RuntimeException {
    public ChatTemplateException(String message) {
        super(message);
    }

    public ChatTemplateException(String message, Throwable cause) {
        super(message, cause);
    }
}
