package dev.moa.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.loader.safetensors.DType;
import dev.moa.loader.safetensors.SafetensorsException;
import dev.moa.loader.safetensors.SafetensorsWriter;
import dev.moa.runtime.Model;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Weights the config does not use are an error naming them (before, the model ran on a prefix of its layers). */
class UnusedWeightsTest {
    @TempDir
    Path model;

    private void copyDemo(String config, List<SafetensorsWriter.Entry> extra) throws Exception {
        DemoCopy.write(model, config, t -> DemoCopy.renamed(t, t.name()), extra);
    }

    private static SafetensorsWriter.Entry f32(String name, int n) {
        return SafetensorsWriter.Entry.of(name, DType.F32, new long[] {n}, new byte[4 * n]);
    }

    @Test
    void aConfigWithFewerLayersThanTheWeightsIsAnError() throws Exception {
        copyDemo(DemoCopy.config().replace("\"num_hidden_layers\": 4", "\"num_hidden_layers\": 3"), List.of());
        String message = assertThrows(SafetensorsException.class, () -> Model.load(model).close()).getMessage();
        assertTrue(message.contains("9 tensors are not used by the model (model.layers.3.input_layernorm.weight"), message);
        assertTrue(message.contains("num_hidden_layers is 3 but the weights hold layer 3"), message);
    }

    @Test
    void aBiasTheConfigDoesNotDeclareIsAnError() throws Exception {
        copyDemo(DemoCopy.config(), List.of(f32("model.layers.1.self_attn.q_proj.bias", 192)));
        String message = assertThrows(SafetensorsException.class, () -> Model.load(model).close()).getMessage();
        assertTrue(message.contains("1 tensor is not used by the model (model.layers.1.self_attn.q_proj.bias)"), message);
    }

    @Test
    void ropeBuffersOfOlderCheckpointsAreSkippedAndInfoCountsWhatRuns() throws Exception {
        copyDemo(DemoCopy.config(), List.of(f32("model.layers.0.self_attn.rotary_emb.inv_freq", 12)));
        try (Model withBuffer = Model.load(model); Model demo = Model.load(DemoCopy.DEMO)) {
            assertEquals(demo.parameterCount(), withBuffer.parameterCount());
            var c = demo.config();
            long perLayer = 2L * c.hiddenSize() + (long) c.hiddenSize() * (c.queryDim() + 2 * c.kvDim()) + (long) c.queryDim() * c.hiddenSize()
                    + 3L * c.hiddenSize() * c.intermediateSize();
            // tied: the embedding is counted once
            assertEquals((long) c.vocabSize() * c.hiddenSize() + c.numLayers() * perLayer + c.hiddenSize(), demo.parameterCount());
        }
    }
}
