package dev.moa.runtime.cli;

import dev.moa.runtime.Model;
import dev.moa.runtime.model.KvFormat;
import dev.moa.tasks.cuda.DeviceChoice;
import java.io.IOException;
import java.nio.file.Path;

/** Loads a model for a command, reporting how long it took (and where decode runs, off the CPU) on stderr. */
final class ModelLoading {
    private ModelLoading() {
    }

    static Model load(Path dir) throws IOException {
        return load(dir, new DeviceChoice(DeviceChoice.Kind.CPU, ""), KvFormat.F32);
    }

    static Model load(Path dir, Options.Device device) throws IOException {
        return load(dir, device.choose(), device.kvCache.format);
    }

    static Model load(Path dir, DeviceChoice device, KvFormat kvFormat) throws IOException {
        long start = System.nanoTime();
        Model model = Model.load(dir, device, kvFormat);
        System.err.printf("loaded %s (%s, %,d parameters) in %.2f s%s%n", dir, model.config().modelType(),
                model.parameterCount(), (System.nanoTime() - start) / 1e9,
                (model.device().equals("cpu") ? "" : "; prompts and decoding on " + model.device())
                        + (kvFormat == KvFormat.F32 ? "" : "; KV caches in " + kvFormat));
        return model;
    }
}
