package dev.moa.loader.io;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Reading a small text file (a config, a tokenizer, an index) safely: only a regular file is read -- a FIFO would
 * block forever and {@code /dev/zero} would fill the heap -- and only when its size is below a limit, checked before
 * a byte is read. Symbolic links (the Hugging Face cache's snapshots point into its blobs) are followed, and a
 * broken one is named as such.
 */
public final class InputFiles {
    /** Config, generation config, tokenizer config, shard index, plan. */
    public static final long SMALL_JSON = 64L << 20;
    /** {@code tokenizer.json}: vocabularies of a few hundred thousand tokens with their merges stay far below this. */
    public static final long TOKENIZER_JSON = 1L << 30;

    private InputFiles() {
    }

    /** The file's text as UTF-8; {@link NoSuchFileException} when it does not exist, any other problem in one sentence. */
    public static String readText(Path file, long maxBytes) throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            if (Files.isSymbolicLink(file)) throw new IOException(file + ": broken symbolic link (its target " + target(file) + " does not exist)");
            throw e;
        } catch (java.nio.file.FileSystemException e) {
            if (e.getReason() != null && e.getReason().contains("Too many levels of symbolic links")) throw new IOException(file + ": symbolic link loop");
            if (e instanceof java.nio.file.AccessDeniedException) throw new IOException(file + ": permission denied");
            throw e;
        }
        if (attributes.isDirectory()) throw new IOException(file + ": is a directory, expected a file");
        if (!attributes.isRegularFile()) {
            throw new IOException(file + ": not a regular file (a pipe, socket or device); only regular files are read");
        }
        if (attributes.size() > maxBytes) {
            String limit = maxBytes >= 1 << 20 ? (maxBytes >> 20) + " MiB" : maxBytes + " bytes";
            throw new IOException(file + ": " + attributes.size() + " bytes, more than the " + limit + " such a file may hold");
        }
        if (!Files.isReadable(file)) throw new IOException(file + ": permission denied");
        return new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
    }

    private static String target(Path link) {
        try {
            return Files.readSymbolicLink(link).toString();
        } catch (IOException e) {
            return "?";
        }
    }
}
