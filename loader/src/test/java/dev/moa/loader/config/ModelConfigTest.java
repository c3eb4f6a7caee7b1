package dev.moa.loader.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelConfigTest {
    @TempDir
    Path dir;

    private ModelConfig config(String json) throws IOException {
        Files.writeString(dir.resolve("config.json"), json);
        return ModelConfig.load(dir);
    }

    private String error(String json) {
        return assertThrows(ConfigException.class, () -> config(json)).getMessage();
    }

    @Test
    void llama32StyleConfig() throws IOException {
        ModelConfig c = config("""
                {"model_type":"llama","hidden_size":2048,"intermediate_size":8192,"num_hidden_layers":16,
                 "num_attention_heads":32,"num_key_value_heads":8,"head_dim":64,"rms_norm_eps":1e-05,
                 "rope_theta":500000.0,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
                 "original_max_position_embeddings":8192,"rope_type":"llama3"},"max_position_embeddings":131072,
                 "vocab_size":128256,"tie_word_embeddings":true,"bos_token_id":128000,
                 "eos_token_id":[128001,128008,128009],"torch_dtype":"bfloat16"}""");
        assertEquals(4, c.groupSize());
        assertEquals(512, c.kvDim());
        assertEquals(List.of(128001, 128008, 128009), c.eosTokenIds());
        assertEquals(List.of(128000), c.bosTokenIds());
        assertInstanceOf(RopeScaling.Llama3.class, c.ropeScaling());
        assertTrue(c.tieWordEmbeddings());
        assertFalse(c.qkvBias());
    }

    @Test
    void defaultsFollowHuggingFace() throws IOException {
        ModelConfig c = config("""
                {"model_type":"qwen2","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,
                 "num_attention_heads":4,"vocab_size":100,"sliding_window":4096,"use_sliding_window":false}""");
        assertEquals(4, c.numKvHeads());
        assertEquals(16, c.headDim());
        assertTrue(c.qkvBias());
        assertEquals(0, c.slidingWindow());
        assertEquals(10000.0, c.ropeTheta());
        assertInstanceOf(RopeScaling.None.class, c.ropeScaling());
    }

    @Test
    void llama3ScalingMatchesHuggingFaceFormula() {
        var s = new RopeScaling.Llama3(8, 1, 4, 8192);
        double high = 2 * Math.PI / 1000; // wavelength 1000 < 8192/4: unchanged
        assertEquals(high, s.scale(high));
        double low = 2 * Math.PI / 20000; // wavelength 20000 > 8192: divided by factor
        assertEquals(low / 8, s.scale(low));
        double mid = 2 * Math.PI / 4096; // between: smooth = (8192/4096 - 1)/(4 - 1) = 1/3
        assertEquals((1 - 1.0 / 3) * mid / 8 + mid / 3, s.scale(mid), 1e-18);
        assertEquals(0.25, new RopeScaling.Linear(4).scale(1.0));
    }

    @Test
    void clearErrors() {
        assertTrue(error("{\"model_type\":\"gpt2\"}").contains("unsupported model_type \"gpt2\" (supported: llama, mistral, qwen2)"));
        assertTrue(error("{\"model_type\":\"llama\"}").contains("'hidden_size' must be a positive integer (missing)"));
        assertTrue(error("{\"model_type\":\"llama\",").contains("not valid JSON"));
        assertTrue(error("""
                {"model_type":"llama","hidden_size":64,"intermediate_size":1,"num_hidden_layers":1,
                 "num_attention_heads":6,"num_key_value_heads":4,"vocab_size":5}""").contains("not a multiple"));
        assertTrue(error("""
                {"model_type":"llama","hidden_size":64,"intermediate_size":1,"num_hidden_layers":1,
                 "num_attention_heads":4,"vocab_size":5,"rope_scaling":{"rope_type":"yarn","factor":2}}""")
                .contains("rope_scaling type \"yarn\" is not supported"));
        assertTrue(error("""
                {"model_type":"llama","hidden_size":64,"intermediate_size":1,"num_hidden_layers":1,
                 "num_attention_heads":4,"vocab_size":5,"rope_scaling":{"rope_type":"llama3","factor":2}}""")
                .contains("'low_freq_factor' must be a positive number"));
        assertTrue(error("""
                {"model_type":"llama","hidden_size":64.5,"intermediate_size":1,"num_hidden_layers":1,
                 "num_attention_heads":4,"vocab_size":5}""").contains("'hidden_size' must be a positive integer"));
        assertTrue(assertThrows(ConfigException.class, () -> ModelConfig.load(dir.resolve("none"))).getMessage().contains("file not found"));
    }

    @Test
    void generationConfigEosList() throws IOException {
        Files.writeString(dir.resolve("generation_config.json"), "{\"bos_token_id\":1,\"eos_token_id\":[2,1],\"temperature\":0.6}");
        GenerationConfig g = GenerationConfig.load(dir, 128256).orElseThrow();
        assertEquals(List.of(2, 1), g.eosTokenIds());
        assertEquals(0.6, g.temperature().orElseThrow());
        assertTrue(GenerationConfig.load(dir.resolve("x"), 128256).isEmpty());
    }
}
