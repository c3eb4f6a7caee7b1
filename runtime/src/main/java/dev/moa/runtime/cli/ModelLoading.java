package dev.moa.runtime.cli;

import dev.moa.runtime.Model;
import dev.moa.runtime.device.PromptPrecision;
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
        return device.apply(load(dir, device.choose(), device.kvCache.format, device.precision));
    }

    static Model load(Path dir, DeviceChoice device, KvFormat kvFormat) throws IOException {
        return load(dir, device, kvFormat, PromptPrecision.F32);
    }

    /**
     * The model on {@code device}, its loading reported with where it runs and what is not the default ({@code
     * precision} is only reported: {@link Options.Device#apply} sets it).
     */
    static Model load(Path dir, DeviceChoice device, KvFormat kvFormat, PromptPrecision precision) throws IOException {
        long start = System.nanoTime();
        Model model = Model.load(dir, device, kvFormat);
        System.err.printf("loaded %s (%s, %,d parameters) in %.2f s%s%n", dir, model.config().modelType(),
                model.parameterCount(), (System.nanoTime() - start) / 1e9,
                (model.device().equals("cpu") ? "" : "; prompts and decoding on " + model.device())
                        + (kvFormat == KvFormat.F32 ? "" : "; KV caches in " + kvFormat)
                        + (precision == PromptPrecision.F32 || model.device().equals("cpu") ? "" : "; prompts' products in " + precision));
        return model;
    }
}
