package dev.moa.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.moa.loader.safetensors.SafetensorsFile;
import dev.moa.loader.safetensors.SafetensorsWriter;
import dev.moa.loader.safetensors.Tensor;
import dev.moa.runtime.Model;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tied checkpoint loads whichever of the pair transformers kept: the embedding or the output head. */
class TiedEmbeddingTest {
    @TempDir
    Path work;

    @Test
    void aTiedCheckpointWithOnlyTheOutputHeadRunsAsTheOneWithOnlyTheEmbedding() throws Exception {
        Path demo = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");
        Path headOnly = work.resolve("head-only");
        Files.createDirectories(headOnly);
        for (String f : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")) {
            Files.copy(demo.resolve(f), headOnly.resolve(f));
        }
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile original = SafetensorsFile.open(demo.resolve("model.safetensors"), arena);
            List<SafetensorsWriter.Entry> entries = new ArrayList<>();
            for (Tensor t : original.tensors().values()) {
                String name = t.name().equals(LlamaWeights.EMBEDDING) ? LlamaWeights.HEAD : t.name();
                entries.add(SafetensorsWriter.Entry.of(name, t.dtype(), t.shape(), t.data().toArray(ValueLayout.JAVA_BYTE)));
            }
            SafetensorsWriter.write(headOnly.resolve("model.safetensors"), entries);
        }
        int[] tokens = {1, 40, 41, 42, 300, 7};
        try (Model a = Model.load(demo); Model b = Model.load(headOnly)) {
            // the same weights; only the threads' order of float sums may differ
            assertArrayEquals(a.newSession(16).prefill(tokens), b.newSession(16).prefill(tokens), 1e-4f);
        }
    }
}
