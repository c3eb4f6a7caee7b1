package dev.moa.runtime.model;

import dev.moa.loader.config.ModelConfig;
import dev.moa.loader.safetensors.DType;
import dev.moa.loader.safetensors.SafetensorsException;
import dev.moa.loader.safetensors.Tensor;
import dev.moa.loader.safetensors.WeightFiles;
import dev.moa.tasks.cpu.WeightFormat;
import dev.moa.tasks.cpu.WeightMatrix;
import java.util.Arrays;

/**
 * All parameters of a Llama-family model, bound to the memory-mapped tensors of its safetensors files under
 * their Hugging Face names. Every shape is checked against config.json before anything runs.
 */
public record LlamaWeights(WeightMatrix embedding, LayerWeights[] layers, float[] finalNorm, WeightMatrix lmHead) {
    static final String EMBEDDING = "model.embed_tokens.weight", HEAD = "lm_head.weight";

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
        return new LlamaWeights(embedding, layers, finalNorm, lmHead);
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

    private record Binder(WeightFiles files) {
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
