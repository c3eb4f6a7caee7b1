package dev.moa.loader.config;

/** A config.json / generation_config.json the runtime cannot use; names the file, the field and what was expected. */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
