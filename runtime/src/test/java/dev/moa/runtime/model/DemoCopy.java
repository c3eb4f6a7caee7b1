package dev.moa.runtime.model;

import dev.moa.loader.safetensors.SafetensorsFile;
import dev.moa.loader.safetensors.SafetensorsWriter;
import dev.moa.loader.safetensors.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** A copy of {@code models/moa-demo} with its config text and tensors edited, for tests of what a bad checkpoint does. */
final class DemoCopy {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");

    private DemoCopy() {
    }

    /**
     * Writes the demo model into {@code dir} with {@code config} as config.json, each tensor passed through
     * {@code edit} (null drops it) and {@code extra} tensors appended.
     */
    static Path write(Path dir, String config, Function<Tensor, SafetensorsWriter.Entry> edit, List<SafetensorsWriter.Entry> extra) throws Exception {
        Files.createDirectories(dir);
        for (String f : List.of("generation_config.json", "tokenizer.json", "tokenizer_config.json")) Files.copy(DEMO.resolve(f), dir.resolve(f));
        Files.writeString(dir.resolve("config.json"), config);
        try (Arena arena = Arena.ofConfined()) {
            List<SafetensorsWriter.Entry> entries = new ArrayList<>();
            for (Tensor t : SafetensorsFile.open(DEMO.resolve("model.safetensors"), arena).tensors().values()) {
                SafetensorsWriter.Entry e = edit.apply(t);
                if (e != null) entries.add(e);
            }
            entries.addAll(extra);
            SafetensorsWriter.write(dir.resolve("model.safetensors"), entries);
        }
        return dir;
    }

    static String config() throws Exception {
        return Files.readString(DEMO.resolve("config.json"));
    }

    /** The tensor unchanged, under {@code name}. */
    static SafetensorsWriter.Entry renamed(Tensor t, String name) {
        return SafetensorsWriter.Entry.of(name, t.dtype(), t.shape(), t.data().toArray(ValueLayout.JAVA_BYTE));
    }
}
