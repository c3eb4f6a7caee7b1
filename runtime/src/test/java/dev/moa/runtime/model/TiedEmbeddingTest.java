package dev.moa.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.moa.runtime.Model;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tied checkpoint loads whichever of the pair transformers kept: the embedding or the output head. */
class TiedEmbeddingTest {
    @TempDir
    Path work;

    @Test
    void aTiedCheckpointWithOnlyTheOutputHeadRunsAsTheOneWithOnlyTheEmbedding() throws Exception {
        Path demo = DemoCopy.DEMO;
        Path headOnly = DemoCopy.write(work.resolve("head-only"), DemoCopy.config(),
                t -> DemoCopy.renamed(t, t.name().equals(LlamaWeights.EMBEDDING) ? LlamaWeights.HEAD : t.name()), List.of());
        int[] tokens = {1, 40, 41, 42, 300, 7};
        try (Model a = Model.load(demo); Model b = Model.load(headOnly)) {
            // the same weights; only the threads' order of float sums may differ
            assertArrayEquals(a.newSession(16).prefill(tokens), b.newSession(16).prefill(tokens), 1e-4f);
        }
    }
}
