package dev.moa.loader.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * The real Rust HF {@code tokenizers} library (0.21, through DJL's JNI binding, native library
 * bundled in the jar) as an independent reference. Built from the JSON text alone so that DJL
 * does not pick up a tokenizer_config.json beside it; truncation is off (DJL's default would cut
 * every encoding at 512 tokens).
 */
final class ReferenceTokenizer implements AutoCloseable {
    private final HuggingFaceTokenizer hf;

    private ReferenceTokenizer(HuggingFaceTokenizer hf) {
        this.hf = hf;
    }

    static ReferenceTokenizer fromJson(String json) {
        try {
            return new ReferenceTokenizer(HuggingFaceTokenizer.newInstance(
                    new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)),
                    Map.of("truncation", "false", "padding", "false", "maxLength", "1000000000")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static ReferenceTokenizer load(Path tokenizerJson) throws IOException {
        return fromJson(Files.readString(tokenizerJson));
    }

    int[] encode(String text, boolean addSpecialTokens) {
        return Arrays.stream(hf.encode(text, addSpecialTokens, false).getIds()).mapToInt(Math::toIntExact).toArray();
    }

    String decode(int[] ids, boolean skipSpecialTokens) {
        return hf.decode(Arrays.stream(ids).asLongStream().toArray(), skipSpecialTokens);
    }

    @Override
    public void close() {
        hf.close();
    }
}
