package dev.moa.runtime.profile;

import dev.moa.runtime.synthetic.Presets;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The real text calibration prompts are made of: plain-text files (the user's, or the Debian corpora that
 * {@code scripts/fetch-corpora.sh} writes to {@code $MOA_HOME/corpora}: Jane Austen's novels, Moby Dick, the King
 * James Bible). Lines of the form {@code Ge1:3 And God said ...} (the {@code bible -f} format) are also kept as
 * verses, which the verse-lookup task asks about.
 */
public final class Corpus {
    /** Files larger than this are refused: the text is held in memory. */
    static final long MAX_BYTES = 64L << 20;
    private static final Pattern VERSE = Pattern.compile("([0-9]?[A-Za-z]+[0-9]+:[0-9]+) (\\S.*)");

    /** One file: its name, text and SHA-256 (recorded in the calibration manifest). */
    public record Document(String name, String text, String sha256) {
    }

    /** A verse and its reference. */
    public record Verse(String reference, String text) {
    }

    private final List<Document> documents;
    private final List<Verse> verses;
    /** Documents of running text (not mostly verse lines), which passages come from when there are any. */
    private final List<Document> prose;

    private Corpus(List<Document> documents) {
        this.documents = List.copyOf(documents);
        List<Verse> found = new ArrayList<>();
        List<Document> running = new ArrayList<>();
        for (Document d : documents) {
            String[] lines = d.text().split("\n");
            int before = found.size();
            for (String line : lines) {
                var m = VERSE.matcher(line.strip());
                if (m.matches()) found.add(new Verse(m.group(1), m.group(2).strip()));
            }
            if (found.size() - before < lines.length / 2) running.add(d);
        }
        this.verses = List.copyOf(found);
        this.prose = running.isEmpty() ? this.documents : List.copyOf(running);
    }

    /** Where {@code scripts/fetch-corpora.sh} puts the Debian corpora. */
    public static Path defaultDirectory() {
        return Presets.home().resolve("corpora");
    }

    /** The given files, or every {@code *.txt} of the default directory when none are given. */
    public static Corpus load(List<Path> files) throws IOException {
        List<Path> paths = files;
        if (paths.isEmpty()) {
            Path dir = defaultDirectory();
            if (Files.isDirectory(dir)) {
                try (Stream<Path> list = Files.list(dir)) {
                    paths = list.filter(p -> p.getFileName().toString().endsWith(".txt")).sorted().toList();
                }
            }
            if (paths.isEmpty()) {
                throw new IllegalArgumentException("no calibration text: give --corpus FILE (plain text, UTF-8) or run scripts/fetch-corpora.sh, "
                        + "which writes the Debian corpora (Austen, Moby Dick, King James Bible) to " + dir);
            }
        }
        List<Document> documents = new ArrayList<>();
        for (Path p : paths) {
            if (!Files.isRegularFile(p)) throw new IllegalArgumentException(p + ": corpus file not found (or not a regular file)");
            long size = Files.size(p);
            if (size > MAX_BYTES) throw new IllegalArgumentException(p + ": corpus file of " + size + " bytes is larger than " + MAX_BYTES);
            byte[] bytes = Files.readAllBytes(p);
            String text = new String(bytes, StandardCharsets.UTF_8).replace("\r", "");
            if (text.isBlank()) throw new IllegalArgumentException(p + ": corpus file is empty");
            documents.add(new Document(p.getFileName().toString(), text, sha256(bytes)));
        }
        return new Corpus(documents);
    }

    /** A corpus from text already in memory (tests). */
    public static Corpus of(List<Document> documents) {
        return new Corpus(documents);
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public List<Document> documents() {
        return documents;
    }

    public List<Verse> verses() {
        return verses;
    }

    /**
     * About {@code chars} characters of running text from a random document and offset, starting and ending at
     * a word boundary (whole documents and wrap-arounds when the text is shorter).
     */
    String passage(java.util.Random random, int chars) {
        Document d = prose.get(random.nextInt(prose.size()));
        String text = d.text();
        StringBuilder out = new StringBuilder(chars + 64);
        int at = random.nextInt(text.length());
        int space = text.indexOf(' ', at);
        at = space < 0 ? 0 : space + 1;
        while (out.length() < chars) {
            int take = Math.min(chars - out.length(), text.length() - at);
            out.append(text, at, at + take);
            at = (at + take) % text.length();
            if (out.length() < chars) out.append(' ');
        }
        int end = out.lastIndexOf(" ");
        return (end > chars / 2 ? out.substring(0, end) : out.toString()).strip();
    }
}
