package dev.moa.tests;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** Where tests find the repository and the shared assets (../shared beside the repository). */
final class TestPaths {
    private TestPaths() {
    }

    static Path repoRoot() {
        String root = System.getProperty("moa.repo.root");
        return root != null ? Path.of(root) : Path.of("").toAbsolutePath().getParent();
    }

    /** ../shared/models/NAME when present. */
    static Optional<Path> sharedModel(String name) {
        Path p = repoRoot().resolve("../shared/models").resolve(name).normalize();
        return Files.isDirectory(p) ? Optional.of(p) : Optional.empty();
    }
}
