package dev.moa.loader.config;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The architecture of a Llama-family model, read from Hugging Face's {@code config.json}.
 *
 * @param qkvBias     q/k/v projections carry a bias (Qwen2; Llama with {@code attention_bias})
 * @param outputBias  o_proj carries a bias (Llama with {@code attention_bias})
 * @param slidingWindow Mistral-style attention window in tokens, 0 when attention is unbounded
 */
public record ModelConfig(
        String modelType,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        int maxPositions,
        int vocabSize,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean outputBias,
        int slidingWindow,
        List<Integer> bosTokenIds,
        List<Integer> eosTokenIds,
        String torchDtype) {

    public static final Set<String> SUPPORTED_MODEL_TYPES = Set.of("llama", "mistral", "qwen2");
    public static final String FILE = "config.json";

    public int groupSize() {
        return numHeads / numKvHeads;
    }

    public int queryDim() {
        return numHeads * headDim;
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }

    public static ModelConfig load(Path modelDirectory) throws IOException {
        return parse(JsonFields.read(modelDirectory.resolve(FILE)));
    }

    /** A config given as JSON in memory; {@code source} names it in errors. */
    public static ModelConfig parse(com.google.gson.JsonObject json, String source) {
        return parse(new JsonFields(Path.of(source), json));
    }

    static ModelConfig parse(JsonFields json) {
        String modelType = json.string("model_type");
        if (!SUPPORTED_MODEL_TYPES.contains(modelType)) {
            throw new ConfigException(json.file() + ": unsupported model_type \"" + modelType
                    + "\" (supported: " + String.join(", ", SUPPORTED_MODEL_TYPES.stream().sorted().toList()) + ")");
        }
        int hidden = json.positiveInt("hidden_size");
        int heads = json.positiveInt("num_attention_heads");
        int kvHeads = json.positiveInt("num_key_value_heads", heads);
        if (heads % kvHeads != 0) {
            throw new ConfigException(json.file() + ": num_attention_heads " + heads
                    + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int headDim = json.has("head_dim") ? json.positiveInt("head_dim") : hidden / heads;
        if (!json.has("head_dim") && hidden % heads != 0) {
            throw new ConfigException(json.file() + ": hidden_size " + hidden + " is not divisible by num_attention_heads "
                    + heads + " and no head_dim is given");
        }
        if (headDim % 2 != 0) {
            throw new ConfigException(json.file() + ": head_dim " + headDim + " must be even for rotary embeddings");
        }
        if (json.bool("mlp_bias", false)) {
            throw new ConfigException(json.file() + ": mlp_bias=true is not supported (no Llama-family checkpoint uses it)");
        }
        String act = json.string("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new ConfigException(json.file() + ": hidden_act \"" + act + "\" is not supported (expected \"silu\")");
        }
        boolean llamaBias = json.bool("attention_bias", false);
        boolean qwen = modelType.equals("qwen2");
        int slidingWindow = 0;
        if (json.has("sliding_window") && (!qwen || json.bool("use_sliding_window", false))) {
            slidingWindow = json.positiveInt("sliding_window");
        }
        int defaultMaxPositions = modelType.equals("llama") ? 2048 : 32768;
        int vocabSize = json.positiveInt("vocab_size");
        json.tokenIds("pad_token_id", vocabSize); // not used here, but a pad id outside the vocabulary is a broken file
        return new ModelConfig(
                modelType,
                hidden,
                json.positiveInt("intermediate_size"),
                json.positiveInt("num_hidden_layers"),
                heads,
                kvHeads,
                headDim,
                json.positiveNumber("rms_norm_eps", 1e-6),
                json.positiveNumber("rope_theta", 10000.0),
                ropeScaling(json),
                json.positiveInt("max_position_embeddings", defaultMaxPositions),
                vocabSize,
                json.bool("tie_word_embeddings", false),
                qwen || llamaBias,
                llamaBias,
                slidingWindow,
                List.copyOf(json.tokenIds("bos_token_id", vocabSize)),
                List.copyOf(json.tokenIds("eos_token_id", vocabSize)),
                json.string("torch_dtype", json.string("dtype", "float32")));
    }

    private static RopeScaling ropeScaling(JsonFields json) {
        if (!json.has("rope_scaling")) return new RopeScaling.None();
        JsonFields scaling = json.object("rope_scaling");
        String type = scaling.has("rope_type") ? scaling.string("rope_type") : scaling.string("type");
        return switch (type) {
            case "default" -> new RopeScaling.None();
            case "linear" -> new RopeScaling.Linear(scaling.positiveNumber("factor"));
            case "llama3" -> new RopeScaling.Llama3(
                    scaling.positiveNumber("factor"),
                    scaling.positiveNumber("low_freq_factor"),
                    scaling.positiveNumber("high_freq_factor"),
                    scaling.positiveInt("original_max_position_embeddings"));
            default -> throw new ConfigException(json.file() + ": rope_scaling type \"" + type
                    + "\" is not supported (supported: linear, llama3)");
        };
    }
}
