package dev.moa.runtime.synthetic;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.safetensors.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The synthetic models the CLI can create: a tiny demo model and a Llama-3.2-1B-shaped benchmark model. */
public enum Presets {
    /** A few hundred thousand parameters, Llama-3 style (GQA, theta 500000, llama3 rope scaling), BF16. */
    TINY("tiny-demo", DType.BF16, """
            {"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":128,"intermediate_size":352,
             "num_hidden_layers":4,"num_attention_heads":8,"num_key_value_heads":2,"head_dim":16,
             "rms_norm_eps":1e-05,"rope_theta":500000.0,
             "rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
                             "original_max_position_embeddings":512},
             "max_position_embeddings":4096,"vocab_size":320,"tie_word_embeddings":false,
             "bos_token_id":1,"eos_token_id":2,"torch_dtype":"bfloat16","hidden_act":"silu"}"""),

    /** Llama-3.2-1B's exact shapes (1.24B parameters, 2.5 GB in BF16) with random weights. */
    LLAMA_3_2_1B("llama-3.2-1b-shaped", DType.BF16, """
            {"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":2048,"intermediate_size":8192,
             "num_hidden_layers":16,"num_attention_heads":32,"num_key_value_heads":8,"head_dim":64,
             "rms_norm_eps":1e-05,"rope_theta":500000.0,
             "rope_scaling":{"rope_type":"llama3","factor":32.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
                             "original_max_position_embeddings":8192},
             "max_position_embeddings":131072,"vocab_size":128256,"tie_word_embeddings":true,
             "bos_token_id":1,"eos_token_id":2,"torch_dtype":"bfloat16","hidden_act":"silu"}""");

    public static final long SEED = 20261123L;

    private final String directoryName;
    private final DType storage;
    private final String configJson;

    Presets(String directoryName, DType storage, String configJson) {
        this.directoryName = directoryName;
        this.storage = storage;
        this.configJson = configJson;
    }

    public String directoryName() {
        return directoryName;
    }

    public JsonObject config() {
        return JsonParser.parseString(configJson).getAsJsonObject();
    }

    /**
     * The preset's directory under {@code root}, created on first use (config, weights, tokenizer). A marker
     * file is written last, so an interrupted creation is redone rather than half-used.
     */
    public Path materialize(Path root) throws IOException {
        Path dir = root.resolve(directoryName);
        Path done = dir.resolve(".complete");
        if (Files.isRegularFile(done)) return dir;
        SyntheticModel.write(dir, config(), storage, SEED);
        SyntheticTokenizer.write(dir, config().get("vocab_size").getAsInt());
        Files.writeString(done, "created by moa-java from preset " + name() + ", seed " + SEED + "\n");
        return dir;
    }

    /** Where the CLI keeps created models: $MOA_HOME/models, else ~/.cache/moa-java/models. */
    public static Path defaultRoot() {
        return home().resolve("models");
    }

    /** The CLI's own files (created models, evaluation pictures): $MOA_HOME, else ~/.cache/moa-java. */
    public static Path home() {
        String home = System.getenv("MOA_HOME");
        return home != null && !home.isBlank() ? Path.of(home) : Path.of(System.getProperty("user.home"), ".cache", "moa-java");
    }
}
