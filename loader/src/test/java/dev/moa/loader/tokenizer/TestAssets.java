package dev.moa.loader.tokenizer;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * Third-party test assets (real tokenizer.json files, llama.cpp's golden cases, a novel) live
 * outside the repository in a cache filled by {@code scripts/fetch-test-assets.sh}: system
 * property {@code moa.test.assets}, else env {@code MOA_TEST_ASSETS}, else
 * {@code ~/.cache/moa-java/test-assets}. When an asset is missing the test is skipped with a hint,
 * except on CI ({@code CI=true}), which runs the fetch script first, so a missing asset is a failure.
 */
final class TestAssets {
    private TestAssets() {}

    static Path dir() {
        String configured = System.getProperty("moa.test.assets");
        if (configured == null || configured.isBlank()) configured = System.getenv("MOA_TEST_ASSETS");
        if (configured != null && !configured.isBlank()) return Path.of(configured);
        return Path.of(System.getProperty("user.home"), ".cache", "moa-java", "test-assets");
    }

    /** The asset at {@code relative} under the cache; skips (or on CI fails) the test if absent. */
    static Path require(String relative) {
        Path path = dir().resolve(relative);
        if (!Files.exists(path)) missing(path + " is missing: run scripts/fetch-test-assets.sh");
        return path;
    }

    /** The repository's sibling {@code ../shared} (models shared between checkouts), or a skip if absent. */
    static Path sharedModel(String relative) {
        String root = System.getProperty("moa.repo.root", ".");
        Path path = Path.of(root).toAbsolutePath().normalize().resolveSibling("shared").resolve("models").resolve(relative);
        if (!Files.exists(path)) {
            System.out.println("skipping: " + path + " not present (../shared is not part of this checkout)");
            Assumptions.abort(path + " not present");
        }
        return path;
    }

    private static void missing(String message) {
        if ("true".equalsIgnoreCase(System.getenv("CI"))) fail(message + " (CI runs the fetch script first)");
        System.out.println("skipping: " + message);
        Assumptions.abort(message);
    }
}
