package dev.moa.runtime.synthetic;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import dev.moa.loader.config.ModelConfig;
import dev.moa.loader.safetensors.DType;
import dev.moa.loader.safetensors.SafetensorsWriter;
import dev.moa.tasks.cpu.Parallel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeMap;

/**
 * Writes a Llama-family model with seeded random weights in real Hugging Face layout ({@code config.json},
 * {@code model.safetensors}, optionally a tokenizer), following the weight recipe of
 * scripts/reference/synthetic.py so the PyTorch reference and this runtime load the very same numbers.
 *
 * <p>Recipe per tensor (u = {@link SeededWeights#uniform}): linear weights {@code u · f32(1/√in)}, the
 * embedding {@code u}, norm weights {@code 1 + 0.25·u}, biases {@code 0.125·u}; all in F32, then rounded to
 * the storage dtype (round to nearest even).
 */
public final class SyntheticModel {
    private SyntheticModel() {
    }

    /** Writes config.json (as given) and model.safetensors; returns the weights' SHA-256 (see {@link #weightsSha256}). */
    public static String write(Path directory, JsonObject configJson, DType storage, long seed) throws IOException {
        Files.createDirectories(directory);
        Files.writeString(directory.resolve(ModelConfig.FILE), new GsonBuilder().setPrettyPrinting().create().toJson(configJson));
        ModelConfig config = ModelConfig.load(directory);
        TreeMap<String, Recipe> tensors = tensors(config);
        List<SafetensorsWriter.Entry> entries = new ArrayList<>();
        for (var e : tensors.entrySet()) {
            Recipe r = e.getValue();
            long seedOf = SeededWeights.streamSeed(seed, e.getKey());
            entries.add(new SafetensorsWriter.Entry(e.getKey(), storage, r.shape(), out -> {
                // Generate in row blocks, in parallel, so a 1B-parameter model takes seconds and bounded memory.
                long count = r.elements();
                int block = 1 << 20;
                for (long start = 0; start < count; start += block) {
                    int n = (int) Math.min(block, count - start);
                    byte[] bytes = new byte[n * storage.byteSize()];
                    long base = start;
                    Parallel.forRange(n, 1 << 14, (from, to) -> {
                        ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
                        for (int i = from; i < to; i++) {
                            float value = r.value(SeededWeights.uniform(seedOf, base + i));
                            switch (storage) {
                                case F32 -> buffer.putFloat(i * 4, value);
                                case BF16 -> buffer.putShort(i * 2, toBf16(value));
                                case F16 -> buffer.putShort(i * 2, Float.floatToFloat16(value));
                            }
                        }
                    });
                    out.write(bytes);
                }
            }));
        }
        SafetensorsWriter.write(directory.resolve("model.safetensors"), entries);
        return weightsSha256(directory);
    }

    /** SHA-256 over the stored bytes of all tensors in name order: the check that Java and Python agree. */
    public static String weightsSha256(Path directory) throws IOException {
        try (var files = dev.moa.loader.safetensors.WeightFiles.open(directory)) {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            for (String name : new java.util.TreeSet<>(files.names())) {
                digest.update(files.tensor(name).data().asByteBuffer());
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** F32 to BF16 with round-to-nearest-even (inputs here are finite). */
    static short toBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** How one tensor's values derive from the uniform stream. */
    private record Recipe(long[] shape, Kind kind, float scale) {
        enum Kind { LINEAR, EMBEDDING, NORM, BIAS }

        long elements() {
            return dev.moa.loader.safetensors.Tensor.elementCount(shape);
        }

        float value(float u) {
            return switch (kind) {
                case LINEAR -> u * scale;
                case EMBEDDING -> u;
                case NORM -> u * 0.25f + 1.0f;
                case BIAS -> u * 0.125f;
            };
        }

        static Recipe linear(int out, int in) {
            return new Recipe(new long[] {out, in}, Kind.LINEAR, (float) (1.0 / Math.sqrt(in)));
        }

        static Recipe vector(Kind kind, int n) {
            return new Recipe(new long[] {n}, kind, 1f);
        }
    }

    private static TreeMap<String, Recipe> tensors(ModelConfig c) {
        TreeMap<String, Recipe> t = new TreeMap<>();
        t.put("model.embed_tokens.weight", new Recipe(new long[] {c.vocabSize(), c.hiddenSize()}, Recipe.Kind.EMBEDDING, 1f));
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            t.put(p + "input_layernorm.weight", Recipe.vector(Recipe.Kind.NORM, c.hiddenSize()));
            t.put(p + "post_attention_layernorm.weight", Recipe.vector(Recipe.Kind.NORM, c.hiddenSize()));
            t.put(p + "self_attn.q_proj.weight", Recipe.linear(c.queryDim(), c.hiddenSize()));
            t.put(p + "self_attn.k_proj.weight", Recipe.linear(c.kvDim(), c.hiddenSize()));
            t.put(p + "self_attn.v_proj.weight", Recipe.linear(c.kvDim(), c.hiddenSize()));
            t.put(p + "self_attn.o_proj.weight", Recipe.linear(c.hiddenSize(), c.queryDim()));
            if (c.qkvBias()) {
                t.put(p + "self_attn.q_proj.bias", Recipe.vector(Recipe.Kind.BIAS, c.queryDim()));
                t.put(p + "self_attn.k_proj.bias", Recipe.vector(Recipe.Kind.BIAS, c.kvDim()));
                t.put(p + "self_attn.v_proj.bias", Recipe.vector(Recipe.Kind.BIAS, c.kvDim()));
            }
            if (c.outputBias()) t.put(p + "self_attn.o_proj.bias", Recipe.vector(Recipe.Kind.BIAS, c.hiddenSize()));
            t.put(p + "mlp.gate_proj.weight", Recipe.linear(c.intermediateSize(), c.hiddenSize()));
            t.put(p + "mlp.up_proj.weight", Recipe.linear(c.intermediateSize(), c.hiddenSize()));
            t.put(p + "mlp.down_proj.weight", Recipe.linear(c.hiddenSize(), c.intermediateSize()));
        }
        t.put("model.norm.weight", Recipe.vector(Recipe.Kind.NORM, c.hiddenSize()));
        if (!c.tieWordEmbeddings()) t.put("lm_head.weight", Recipe.linear(c.vocabSize(), c.hiddenSize()));
        return t;
    }
}
