package dev.moa.loader.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;

/**
 * The model author's generation defaults from {@code generation_config.json} (all optional).
 * Its eos ids take precedence over config.json's, as in Hugging Face.
 */
public record GenerationConfig(
        List<Integer> bosTokenIds,
        List<Integer> eosTokenIds,
        boolean doSample,
        OptionalDouble temperature,
        OptionalDouble topP,
        OptionalInt topK,
        OptionalInt maxLength) {

    public static final String FILE = "generation_config.json";

    public static GenerationConfig none() {
        return new GenerationConfig(List.of(), List.of(), false, OptionalDouble.empty(), OptionalDouble.empty(),
                OptionalInt.empty(), OptionalInt.empty());
    }

    /** The file of a model whose embedding has {@code vocabSize} rows: every token id in it must be one of them. */
    public static Optional<GenerationConfig> load(Path modelDirectory, int vocabSize) throws IOException {
        Path file = modelDirectory.resolve(FILE);
        if (!dev.moa.loader.io.InputFiles.present(file)) return Optional.empty(); // a broken link is reported
        JsonFields json = JsonFields.read(file);
        json.tokenIds("pad_token_id", vocabSize);
        return Optional.of(new GenerationConfig(
                List.copyOf(json.tokenIds("bos_token_id", vocabSize)),
                List.copyOf(json.tokenIds("eos_token_id", vocabSize)),
                json.bool("do_sample", false),
                json.has("temperature") ? OptionalDouble.of(json.number("temperature")) : OptionalDouble.empty(),
                json.has("top_p") ? OptionalDouble.of(json.number("top_p")) : OptionalDouble.empty(),
                json.has("top_k") ? OptionalInt.of((int) json.number("top_k")) : OptionalInt.empty(),
                json.has("max_length") ? OptionalInt.of(json.positiveInt("max_length")) : OptionalInt.empty()));
    }
}
