package dev.moa.loader.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
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
    /** Text corpora, prompt/answer pairs and calibration samples: one Java string holds at most 2^31 chars. */
    public static final long TEXT = 1L << 30;

    private InputFiles() {
    }

    /** The file's text as UTF-8; {@link NoSuchFileException} when it does not exist, any other problem in one sentence. */
    public static String readText(Path file, long maxBytes) throws IOException {
        checkRegular(file, maxBytes);
        return utf8(Files.readAllBytes(file), file);
    }

    /**
     * Checks that {@code file} is a readable regular file of at most {@code maxBytes} (following links) and returns
     * its size; {@link NoSuchFileException} when it does not exist, any other problem in one sentence.
     */
    public static long checkRegular(Path file, long maxBytes) throws IOException {
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
        return attributes.size();
    }

    /** Whether a name is present in its folder, even as a broken link (which {@link Files#exists} calls absent). */
    public static boolean present(Path file) {
        return Files.exists(file, java.nio.file.LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * Decodes UTF-8 strictly, as Python and the Rust readers do: a malformed byte is an error naming its offset,
     * never a silent U+FFFD that would change a token or a key.
     */
    public static String utf8(byte[] bytes, Object source) throws IOException {
        var decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        var in = ByteBuffer.wrap(bytes);
        var out = CharBuffer.allocate(bytes.length);
        CoderResult result = decoder.decode(in, out, true);
        if (result.isError()) throw new IOException(source + ": not valid UTF-8 at byte " + in.position());
        decoder.flush(out);
        return out.flip().toString();
    }

    private static String target(Path link) {
        try {
            return Files.readSymbolicLink(link).toString();
        } catch (IOException e) {
            return "?";
        }
    }
}
