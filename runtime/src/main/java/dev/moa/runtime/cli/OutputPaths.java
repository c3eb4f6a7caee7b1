package dev.moa.runtime.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a command will write, checked before its work starts: an evaluation or a compression that runs for minutes
 * must not end in "cannot write". Missing folders are made here.
 */
final class OutputPaths {
    private OutputPaths() {
    }

    /** A file the command will write ({@code --json}, {@code --heatmap}, {@code plan show --out}). */
    static Path file(String option, Path file) {
        if (Files.isDirectory(file)) throw new UsageException(option + " " + file + " is a directory; give a file name");
        if (Files.exists(file) && !Files.isWritable(file)) throw new UsageException(option + " " + file + " exists and is not writable");
        directory(option, file.toAbsolutePath().getParent(), "the folder of " + file);
        return file;
    }

    /** A folder the command will write into ({@code --out}). */
    static Path directory(String option, Path dir) {
        return directory(option, dir, dir.toString());
    }

    private static Path directory(String option, Path dir, String what) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UsageException(option + ": cannot create " + what + " (" + reason(dir, e) + ")");
        }
        if (!Files.isWritable(dir)) throw new UsageException(option + ": " + what + " is not writable");
        return dir;
    }

    private static String reason(Path dir, IOException e) {
        for (Path p = dir.toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.exists(p) && !Files.isDirectory(p)) return p + " is a file, not a folder";
        }
        if (e instanceof java.nio.file.AccessDeniedException a) return "permission denied: " + a.getFile();
        return e instanceof java.nio.file.FileSystemException f && f.getReason() != null ? f.getReason() : e.getMessage();
    }
}
