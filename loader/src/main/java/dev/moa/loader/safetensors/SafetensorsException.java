package dev.moa.loader.safetensors;

/** A safetensors file or index that cannot be used; the message names the file, tensor and what was expected. */
public final class SafetensorsException extends RuntimeException {
    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
