package dev.moa.runtime.cli;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Finds files of the repository (scripts/, models/): $MOA_REPO, else upwards from the jar, else the working directory. */
final class RepositoryPaths {
    private RepositoryPaths() {
    }

    static Path script(String relative) {
        for (Path root : candidates()) {
            Path p = root.resolve("scripts").resolve(relative);
            if (Files.isRegularFile(p)) return p;
        }
        throw new UsageException("cannot find scripts/" + relative + "; run from the repository or set MOA_REPO to it");
    }

    /** The demo model trained by scripts/train-demo-model and committed under models/moa-demo. */
    static java.util.Optional<Path> bundledModel() {
        for (Path root : candidates()) {
            Path p = root.resolve("models").resolve("moa-demo");
            if (Files.isRegularFile(p.resolve("config.json"))) return java.util.Optional.of(p);
        }
        return java.util.Optional.empty();
    }

    /** A reference plan from ../shared/moa-plans beside the repository. */
    static Path sharedPlan(String model) {
        for (Path root : candidates()) {
            Path p = root.resolve("../shared/moa-plans").resolve(model).resolve("moa_alpha_beta.json").normalize();
            if (Files.isRegularFile(p)) return p;
        }
        throw new UsageException("cannot find ../shared/moa-plans/" + model + "; pass --plan FILE");
    }

    private static java.util.List<Path> candidates() {
        var list = new java.util.ArrayList<Path>();
        String env = System.getenv("MOA_REPO");
        if (env != null) list.add(Path.of(env));
        try {
            Path jar = Path.of(RepositoryPaths.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            for (Path p = jar.getParent(); p != null; p = p.getParent()) list.add(p);
        } catch (URISyntaxException | SecurityException e) {
            // fall through to the working directory
        }
        list.add(Path.of("").toAbsolutePath());
        return list;
    }
}
