package dev.moa.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import dev.moa.loader.safetensors.DType;
import dev.moa.runtime.Model;
import dev.moa.runtime.synthetic.SyntheticModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The profiler's backward pass against finite differences of the model's own forward pass, and its influence
 * estimate against the loss change of really masking attention entries (moa.md §4).
 *
 * <p>Everything runs in F32, as the runtime does. A central difference with step h has truncation error O(h²) and
 * a rounding error of about (F32 ulp of the loss ≈ 1e-7·L)/h; with L ≈ 4 nats and h = 1e-2 that is ≈ 5e-5 nats per
 * unit of direction, so directional derivatives of size ~1e-2..1 are checked to 2 % plus 1e-4 absolute.
 */
class LlamaBackwardTest {
    static final String LLAMA = """
            {"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":32,"intermediate_size":48,
             "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":8,"rms_norm_eps":1e-5,
             "rope_theta":10000.0,"max_position_embeddings":512,"vocab_size":61,"tie_word_embeddings":false,
             "bos_token_id":1,"eos_token_id":2,"torch_dtype":"float32","hidden_act":"silu"}""";
    static final String QWEN = """
            {"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","hidden_size":32,"intermediate_size":40,
             "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":1,"head_dim":8,"rms_norm_eps":1e-6,
             "rope_theta":1000000.0,"max_position_embeddings":512,"vocab_size":53,"tie_word_embeddings":true,
             "bos_token_id":1,"eos_token_id":2,"torch_dtype":"float32","hidden_act":"silu"}""";

    @TempDir
    static Path work;
    static final List<Model> open = new ArrayList<>();
    static LlamaModel llama, qwen;

    @BeforeAll
    static void create() throws Exception {
        llama = load("llama", LLAMA, 11);
        qwen = load("qwen", QWEN, 12);
    }

    static LlamaModel load(String name, String config, long seed) throws Exception {
        Path dir = work.resolve(name);
        SyntheticModel.write(dir, JsonParser.parseString(config).getAsJsonObject(), DType.F32, seed);
        Model model = Model.load(dir);
        open.add(model);
        return model.llama();
    }

    @AfterAll
    static void close() {
        open.forEach(Model::close);
    }

    static int[] tokens(Random random, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = 3 + random.nextInt(vocab - 3);
        return t;
    }

    static float[] gaussian(Random random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) random.nextGaussian();
        return v;
    }

    @Test
    void embeddingGradientMatchesCentralDifferencesThroughEveryLayer() {
        for (LlamaModel model : List.of(llama, qwen)) {
            Random random = new Random(3);
            int n = 40, answerStart = 28, hidden = model.config().hiddenSize();
            int[] tokens = tokens(random, n, model.config().vocabSize());
            LlamaBackward backward = new LlamaBackward(model);
            float[] gradient = backward.inputGradient(tokens, answerStart);
            for (int trial = 0; trial < 4; trial++) {
                // random directions, and one that only touches a position before the answer (the attention path)
                float[] direction = gaussian(random, n * hidden);
                if (trial == 3) for (int i = 10 * hidden; i < direction.length; i++) direction[i] = 0;
                double analytic = 0;
                for (int i = 0; i < direction.length; i++) analytic += gradient[i] * direction[i];
                double h = 1e-2;
                double numeric = (backward.loss(tokens, answerStart, null, scaled(direction, h))
                        - backward.loss(tokens, answerStart, null, scaled(direction, -h))) / (2 * h);
                assertEquals(numeric, analytic, 0.02 * Math.abs(numeric) + 1e-4,
                        model.config().modelType() + " direction " + trial + ": backward " + analytic + " vs finite differences " + numeric);
            }
        }
    }

    static float[] scaled(float[] v, double h) {
        float[] s = new float[v.length];
        for (int i = 0; i < v.length; i++) s[i] = (float) (h * v[i]);
        return s;
    }

    @Test
    void ropeBackwardIsTheTransposeOfRope() {
        RotaryEmbedding rope = new RotaryEmbedding(llama.config());
        Random random = new Random(4);
        int heads = 4, d = llama.config().headDim();
        RotaryEmbedding.Angles angles = rope.angles(new int[] {0, 7, 300}, 3);
        for (int t = 0; t < 3; t++) {
            float[] v = gaussian(random, heads * d), u = gaussian(random, heads * d);
            float[] rv = v.clone(), ru = u.clone();
            rope.rotate(rv, 0, heads, angles, t);
            rope.rotateBackward(ru, 0, heads, angles, t);
            double a = 0, b = 0;
            for (int i = 0; i < v.length; i++) {
                a += u[i] * rv[i];
                b += ru[i] * v[i];
            }
            assertEquals(a, b, 1e-4 * (1 + Math.abs(a)), "<u, R v> = <Rᵀ u, v>");
        }
    }

    /**
     * Masking one entry (i, j) of one head and renormalising its row changes the loss by ΔL_ij to first order. Over
     * 200 random entries, the predicted and the measured changes must correlate and agree in sign.
     */
    @Test
    void influencePredictsTheLossChangeOfMaskingSingleEntries() {
        Random random = new Random(8);
        int n = 48, answerStart = 36;
        int[] tokens = tokens(random, n, llama.config().vocabSize());
        LlamaBackward backward = new LlamaBackward(llama);
        Map<List<Integer>, Double> predicted = new ConcurrentHashMap<>();
        backward.entryInfluence(tokens, answerStart, (layer, head, i, j, loss) -> predicted.put(List.of(layer, head, i, j), loss));
        double base = backward.loss(tokens, answerStart, null, null);
        List<double[]> pairs = new ArrayList<>();
        int agree = 0, signed = 0;
        for (int trial = 0; trial < 200; trial++) {
            int layer = random.nextInt(2), head = random.nextInt(4), i = 1 + random.nextInt(n - 1), j = random.nextInt(i + 1);
            double measured = backward.loss(tokens, answerStart, (l, h, q, k) -> l == layer && h == head && q == i && k == j, null) - base;
            double p = predicted.get(List.of(layer, head, i, j));
            pairs.add(new double[] {p, measured});
            if (Math.abs(measured) > 1e-5) {
                signed++;
                if (Math.signum(p) == Math.signum(measured)) agree++;
            }
        }
        double correlation = correlation(pairs);
        System.out.printf("influence vs masking single entries: correlation %.4f, signs agree %d/%d%n", correlation, agree, signed);
        assertTrue(correlation > 0.95, "correlation " + correlation);
        assertTrue(agree >= 0.9 * signed, agree + " of " + signed + " signs agree");
    }

    /**
     * Profiled under a plan, an entry the plan leaves out carries the loss of leaving it out (what computing it would
     * gain), and a kept one the loss of masking it as well: both against the loss really measured with the plan's
     * mask, with and without the entry.
     */
    @Test
    void influenceUnderAPlanPredictsAddingAndRemovingEntries() {
        Random random = new Random(12);
        int n = 256, answerStart = 232;
        int[] tokens = tokens(random, n, llama.config().vocabSize());
        int[][] bands = {{1, 2, 3, 1}, {2, 1, 1, 3}};
        LlamaBackward backward = new LlamaBackward(llama);
        Map<List<Integer>, Double> predicted = new ConcurrentHashMap<>();
        backward.entryInfluence(tokens, answerStart, bands, (layer, head, i, j, loss) -> predicted.put(List.of(layer, head, i, j), loss));
        CausalAttention.EntryMask plan = (l, h, i, j) -> j >= 64 && j < Math.max(64, Math.min(new dev.moa.plans.BlockBand(bands[l][h]).firstBandBlock(i / 64) * 64, i + 1));
        double base = backward.loss(tokens, answerStart, plan, null);
        List<double[]> pairs = new ArrayList<>();
        int outside = 0;
        for (int trial = 0; trial < 160; trial++) {
            int layer = random.nextInt(2), head = random.nextInt(4), i = 64 + random.nextInt(n - 64), j = random.nextInt(i + 1);
            boolean dropped = plan.drops(layer, head, i, j);
            double measured = dropped
                    ? base - backward.loss(tokens, answerStart, (l, h, q, k) -> plan.drops(l, h, q, k) && !(l == layer && h == head && q == i && k == j), null)
                    : backward.loss(tokens, answerStart, (l, h, q, k) -> plan.drops(l, h, q, k) || (l == layer && h == head && q == i && k == j), null) - base;
            if (dropped) outside++;
            pairs.add(new double[] {predicted.get(List.of(layer, head, i, j)), measured});
        }
        double correlation = correlation(pairs);
        System.out.printf("influence under a plan vs masking/unmasking single entries: correlation %.4f (%d of %d outside the plan)%n",
                correlation, outside, pairs.size());
        assertTrue(outside > 20, "entries outside the plan were tested: " + outside);
        assertTrue(correlation > 0.95, "correlation " + correlation);
    }

    /** Masking a whole 64×64 block against the sum of its entries' first-order changes. */
    @Test
    void influencePredictsTheLossChangeOfMaskingBlocks() {
        Random random = new Random(9);
        int n = 256, answerStart = 224;
        int[] tokens = tokens(random, n, llama.config().vocabSize());
        LlamaBackward backward = new LlamaBackward(llama);
        Map<List<Integer>, Double> block = new ConcurrentHashMap<>();
        backward.entryInfluence(tokens, answerStart, (layer, head, i, j, loss) ->
                block.merge(List.of(layer, head, i / 64, j / 64), loss, Double::sum));
        double base = backward.loss(tokens, answerStart, null, null);
        List<double[]> pairs = new ArrayList<>();
        for (int layer = 0; layer < 2; layer++) {
            for (int head = 0; head < 4; head++) {
                for (int m = 1; m < 4; m++) {
                    for (int j = 0; j < m; j++) {
                        int l = layer, h = head, qb = m, kb = j;
                        double measured = backward.loss(tokens, answerStart,
                                (ll, hh, q, k) -> ll == l && hh == h && q / 64 == qb && k / 64 == kb, null) - base;
                        pairs.add(new double[] {block.get(List.of(layer, head, m, j)), measured});
                    }
                }
            }
        }
        double correlation = correlation(pairs);
        System.out.printf("influence vs masking 64x64 blocks: correlation %.4f over %d blocks%n", correlation, pairs.size());
        assertTrue(correlation > 0.8, "correlation " + correlation);
    }

    /**
     * The profiler's block map, both ways: the sum of |ΔL| over each block's causal entries (ENTRIES), and the
     * magnitude of their signed sum (BLOCKS), for every layer and head.
     */
    @Test
    void influenceMapSumsEachBlocksEntryChanges() {
        Random random = new Random(10);
        int n = 150, answerStart = 120, blocks = 3;
        int[] tokens = tokens(random, n, qwen.config().vocabSize());
        LlamaBackward backward = new LlamaBackward(qwen);
        Map<List<Integer>, Double> absolute = new ConcurrentHashMap<>(), signed = new ConcurrentHashMap<>();
        backward.entryInfluence(tokens, answerStart, (layer, head, i, j, d) -> {
            absolute.merge(List.of(layer, head, i / 64, j / 64), Math.abs(d), Double::sum);
            signed.merge(List.of(layer, head, i / 64, j / 64), d, Double::sum);
        });
        for (InfluenceSum sum : InfluenceSum.values()) {
            double[][][] map = new double[2][4][blocks * blocks];
            LlamaBackward.Loss loss = backward.influence(tokens, answerStart, sum, map);
            assertEquals(n - answerStart, loss.answerTokens());
            assertEquals(loss.mean(), backward.loss(tokens, answerStart, null, null), 1e-6);
            for (int l = 0; l < 2; l++) {
                for (int h = 0; h < 4; h++) {
                    for (int m = 0; m < blocks; m++) {
                        for (int j = 0; j < blocks; j++) {
                            List<Integer> key = List.of(l, h, m, j);
                            double e = j > m ? 0 : sum == InfluenceSum.ENTRIES ? absolute.get(key) : Math.abs(signed.get(key));
                            assertEquals(e, map[l][h][m * blocks + j], 1e-4 * absolute.getOrDefault(key, 0.0) + 1e-12,
                                    sum + " layer " + l + " head " + h + " block " + m + "," + j);
                        }
                    }
                }
            }
        }
    }

    static double correlation(List<double[]> pairs) {
        double mx = 0, my = 0;
        for (double[] p : pairs) {
            mx += p[0];
            my += p[1];
        }
        mx /= pairs.size();
        my /= pairs.size();
        double sxy = 0, sxx = 0, syy = 0;
        for (double[] p : pairs) {
            sxy += (p[0] - mx) * (p[1] - my);
            sxx += (p[0] - mx) * (p[0] - mx);
            syy += (p[1] - my) * (p[1] - my);
        }
        return sxy / Math.sqrt(sxx * syy);
    }
}
