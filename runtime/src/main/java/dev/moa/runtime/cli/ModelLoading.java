package dev.moa.runtime.cli;

import dev.moa.runtime.Model;
import java.io.IOException;
import java.nio.file.Path;

/** Loads a model for a command, reporting how long it took on stderr. */
final class ModelLoading {
    private ModelLoading() {
    }

    static Model load(Path dir) throws IOException {
        long start = System.nanoTime();
        Model model = Model.load(dir);
        System.err.printf("loaded %s (%s, %,d parameters) in %.2f s%n", dir, model.config().modelType(),
                model.parameterCount(), (System.nanoTime() - start) / 1e9);
        return model;
    }
}
