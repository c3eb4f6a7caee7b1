package dev.moa.loader.chat;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * llama.cpp's real chat templates, fetched by scripts/fetch-chat-templates.sh into the test-asset
 * cache (third-party files: never copied into the repository). Missing assets fail the build on CI
 * and skip the test elsewhere.
 */
final class TemplateAssets {
    /** The clock strftime_now reads in tests: 2025-03-09 (local time as UTC). */
    static final Clock CLOCK = Clock.fixed(Instant.parse("2025-03-09T10:15:30Z"), ZoneOffset.UTC);

    private TemplateAssets() {}

    static Path templatesDir() {
        String root = System.getenv("MOA_TEST_ASSETS");
        Path assets = root != null && !root.isBlank() ? Path.of(root) : Path.of(System.getProperty("user.home"), ".cache/moa-java/test-assets");
        Path dir = assets.resolve("llama.cpp/models/templates");
        if (!Files.isDirectory(dir)) {
            String message = "llama.cpp chat templates not found in " + dir + ": run scripts/fetch-chat-templates.sh";
            if ("true".equalsIgnoreCase(System.getenv("CI"))) fail(message);
            Assumptions.abort(message);
        }
        return dir;
    }

    static List<Path> allTemplates() {
        try (Stream<Path> files = Files.list(templatesDir())) {
            return files.filter(p -> p.getFileName().toString().endsWith(".jinja")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String read(String fileName) {
        Path file = templatesDir().resolve(fileName);
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }
}
