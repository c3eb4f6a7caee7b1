package dev.moa.runtime;

/** A prompt or generation that does not fit the context; the message says how many tokens and what the limit is. */
public final class ContextOverflowException extends RuntimeException {
    public ContextOverflowException(String message) {
        super(message);
    }
}
