package dev.moa.runtime.model;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.loader.safetensors.DType;
import dev.moa.loader.safetensors.SafetensorsWriter;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.SamplingParams;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** NaN in the weights stops the forward with the position and layer where it first appears (it used to emit token 0). */
class NonFiniteTest {
    @TempDir
    Path work;

    private Path modelWithNanIn(String tensor) throws Exception {
        return DemoCopy.write(work.resolve("nan"), DemoCopy.config(), t -> {
            if (!t.name().equals(tensor)) return DemoCopy.renamed(t, t.name());
            int n = Math.toIntExact(t.elementCount());
            ByteBuffer nan = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) nan.putFloat(i == n / 2 ? Float.NaN : 1f);
            return SafetensorsWriter.Entry.of(t.name(), DType.F32, t.shape(), nan.array());
        }, List.of());
    }

    @Test
    void nanInALayerNormIsReportedWithItsLayerAndPosition() throws Exception {
        try (Model model = Model.load(modelWithNanIn("model.layers.2.post_attention_layernorm.weight"))) {
            String message = assertThrows(NonFiniteException.class, () -> model.newSession(16).prefill(new int[] {1, 40, 41, 42})).getMessage();
            assertTrue(message.contains("NaN at position 0, first in the output of layer 2"), message);
            var params = new GenerationParams(8, new SamplingParams(0, 0, 1, 1), List.of(), false, new AttentionMode.Dense());
            assertThrows(NonFiniteException.class, () -> Generator.generate(model, new int[] {1, 40}, params, text -> { }));
        }
    }

    @Test
    void nanInTheOutputHeadIsReportedAsSuch() throws Exception {
        try (Model model = Model.load(modelWithNanIn("model.norm.weight"))) {
            String message = assertThrows(NonFiniteException.class, () -> model.newSession(16).prefill(new int[] {1, 40, 41})).getMessage();
            assertTrue(message.contains("at position 2, first in the output head's logits"), message);
        }
    }
}
