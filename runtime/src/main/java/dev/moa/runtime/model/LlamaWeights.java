package dev.moa.runtime.model;

import dev.moa.loader.config.ModelConfig;
import dev.moa.loader.safetensors.DType;
import dev.moa.loader.safetensors.SafetensorsException;
import dev.moa.loader.safetensors.Tensor;
import dev.moa.loader.safetensors.WeightFiles;
import dev.moa.tasks.cpu.WeightFormat;
import dev.moa.tasks.cpu.WeightMatrix;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * All parameters of a Llama-family model, bound to the memory-mapped tensors of its safetensors files under
 * their Hugging Face names. Every shape is checked against config.json before anything runs, and every tensor of
 * the files must be one of them. {@code tensors} are the names bound and {@code parameterCount} their elements
 * (a tied pair once): what runs.
 */
public record LlamaWeights(WeightMatrix embedding, LayerWeights[] layers, float[] finalNorm, WeightMatrix lmHead, long parameterCount, Set<String> tensors) {
    static final String EMBEDDING = "model.embed_tokens.weight", HEAD = "lm_head.weight";
    /** Buffers older checkpoints saved beside the weights; transformers skips them as well (RoPE is recomputed). */
    private static final Pattern IGNORED = Pattern.compile("\\.rotary_emb\\.inv_freq$");
    private static final Pattern LAYER = Pattern.compile("^model\\.layers\\.(\\d+)\\.");

    public static LlamaWeights bind(ModelConfig c, WeightFiles files) {
        var binder = new Binder(files);
        // transformers saves a tied pair once, under either name (safetensors refuses shared storage), so with
        // tie_word_embeddings either tensor may be the only one in the file; a tied checkpoint may also ship both.
        boolean tied = c.tieWordEmbeddings();
        boolean hasEmbedding = files.find(EMBEDDING).isPresent(), hasHead = files.find(HEAD).isPresent();
        WeightMatrix embedding = binder.matrix(tied && !hasEmbedding && hasHead ? HEAD : EMBEDDING, c.vocabSize(), c.hiddenSize());
        LayerWeights[] layers = new LayerWeights[c.numLayers()];
        for (int l = 0; l < layers.length; l++) {
            String p = "model.layers." + l + ".";
            layers[l] = new LayerWeights(
                    binder.vector(p + "input_layernorm.weight", c.hiddenSize()),
                    binder.matrix(p + "self_attn.q_proj.weight", c.queryDim(), c.hiddenSize()),
                    binder.matrix(p + "self_attn.k_proj.weight", c.kvDim(), c.hiddenSize()),
                    binder.matrix(p + "self_attn.v_proj.weight", c.kvDim(), c.hiddenSize()),
                    binder.matrix(p + "self_attn.o_proj.weight", c.hiddenSize(), c.queryDim()),
                    c.qkvBias() ? binder.vector(p + "self_attn.q_proj.bias", c.queryDim()) : null,
                    c.qkvBias() ? binder.vector(p + "self_attn.k_proj.bias", c.kvDim()) : null,
                    c.qkvBias() ? binder.vector(p + "self_attn.v_proj.bias", c.kvDim()) : null,
                    c.outputBias() ? binder.vector(p + "self_attn.o_proj.bias", c.hiddenSize()) : null,
                    binder.vector(p + "post_attention_layernorm.weight", c.hiddenSize()),
                    binder.matrix(p + "mlp.gate_proj.weight", c.intermediateSize(), c.hiddenSize()),
                    binder.matrix(p + "mlp.up_proj.weight", c.intermediateSize(), c.hiddenSize()),
                    binder.matrix(p + "mlp.down_proj.weight", c.hiddenSize(), c.intermediateSize()));
        }
        float[] finalNorm = binder.vector("model.norm.weight", c.hiddenSize());
        WeightMatrix lmHead = !tied || (hasHead && hasEmbedding) ? binder.matrix(HEAD, c.vocabSize(), c.hiddenSize()) : embedding;
        binder.checkAllUsed(c);
        return new LlamaWeights(embedding, layers, finalNorm, lmHead, binder.parameters, java.util.Collections.unmodifiableSet(binder.used));
    }

    /** Bytes streamed from memory to decode one token: every matrix once (the embedding row is negligible). */
    public long bytesPerDecodedToken() {
        long bytes = lmHead.byteSize();
        for (LayerWeights l : layers) {
            bytes += l.wq().byteSize() + l.wk().byteSize() + l.wv().byteSize() + l.wo().byteSize()
                    + l.gate().byteSize() + l.up().byteSize() + l.down().byteSize();
        }
        return bytes;
    }

    /** Binds tensors by name and remembers which, so that a tensor the config does not use is found. */
    private static final class Binder {
        private final WeightFiles files;
        private final Set<String> used = new java.util.TreeSet<>();
        private long parameters;

        Binder(WeightFiles files) {
            this.files = files;
        }

        /**
         * A tensor nothing reads means the config describes another model than the weights (fewer layers, no
         * attention bias where the file has one): running it would give wrong results without a word.
         */
        void checkAllUsed(ModelConfig c) {
            List<String> unused = files.names().stream().filter(n -> !used.contains(n) && !IGNORED.matcher(n).find()).sorted().toList();
            if (unused.isEmpty()) return;
            int deepest = -1;
            for (String n : unused) {
                Matcher m = LAYER.matcher(n);
                if (m.find()) deepest = Math.max(deepest, Integer.parseInt(m.group(1)));
            }
            String why = deepest >= c.numLayers()
                    ? "; config.json's num_hidden_layers is " + c.numLayers() + " but the weights hold layer " + deepest
                    : "; config.json describes a model without them";
            throw new SafetensorsException(files.directory() + ": " + unused.size() + " tensor" + (unused.size() == 1 ? " is" : "s are")
                    + " not used by the model (" + String.join(", ", unused.subList(0, Math.min(4, unused.size())))
                    + (unused.size() > 4 ? ", ..." : "") + ")" + why);
        }

        WeightMatrix matrix(String name, int rows, int cols) {
            Tensor t = expect(name, rows, cols);
            return WeightMatrix.of(format(t.dtype()), t.data(), rows, cols);
        }

        float[] vector(String name, int length) {
            Tensor t = expect(name, length);
            WeightMatrix asRow = WeightMatrix.of(format(t.dtype()), t.data(), 1, length);
            float[] values = new float[length];
            asRow.copyRow(0, values, 0);
            return values;
        }

        private Tensor expect(String name, long... shape) {
            Tensor t = files.tensor(name);
            if (used.add(name)) parameters += t.elementCount();
            if (!Arrays.equals(t.shape(), shape)) {
                throw new SafetensorsException(files.directory() + ": tensor '" + name + "' has shape " + t.shapeString()
                        + " but config.json implies " + Arrays.toString(shape));
            }
            return t;
        }

        private static WeightFormat format(DType dtype) {
            return WeightFormat.valueOf(dtype.name());
        }
    }
}
