package dev.moa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.config.ModelConfig;
import dev.moa.loader.safetensors.DType;
import dev.moa.plans.ElasticRule;
import dev.moa.plans.MoaPlan;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.LlamaModel;
import dev.moa.runtime.synthetic.SyntheticModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MoA sparse attention (per-head sink + window, block-sparse prefill, per-head ring cache with native GQA)
 * against a brute-force reference: every position kept densely, an explicit token-level mask written straight
 * from moa.md §2–3, and a plain masked softmax. Same model, same tokens; only the attention differs.
 */
class MoaAttentionTest {
    @TempDir
    static Path work;
    static Model model;

    @BeforeAll
    static void load() throws Exception {
        JsonObject golden = JsonParser.parseString(Files.readString(
                TestPaths.repoRoot().resolve("tests/src/test/resources/golden/llama3-gqa-f32.json"))).getAsJsonObject();
        Path dir = work.resolve("gqa");
        SyntheticModel.write(dir, golden.getAsJsonObject("config"), DType.F32, golden.get("model_seed").getAsLong());
        model = Model.load(dir); // 2 layers, 4 query heads over 2 KV heads, 1024 positions
    }

    /** The token-level mask of moa.md: may query i (of head h, layer l) see key j? */
    record ExplicitMask(MoaPlan plan, int promptLength, int totalLength) {
        boolean allowed(int layer, int head, int i, int j) {
            if (j > i) return false;
            int span = plan.rule(layer, head).span(totalLength);
            int sink = Math.min(span, 64), local = span - sink;
            if (i < promptLength) { // prefill: 64x64 blocks, sink block + band of local/64 blocks up to the diagonal
                if (promptLength <= 64) return true;
                int m = i / 64, band = local / 64, jb = j / 64;
                return jb == 0 || (m - band + 1 <= jb && jb <= m);
            }
            return j < sink || j > i - local; // decode: sink + the last `local` positions (the new one included)
        }
    }

    /** Dense storage of every position, masked softmax over what the mask allows. */
    static final class MaskedKvCache implements KvCache {
        final ExplicitMask mask;
        final int kvHeads, headDim, group, capacity;
        final float[][] k, v;

        MaskedKvCache(ModelConfig c, ExplicitMask mask, int capacity) {
            this.mask = mask;
            this.kvHeads = c.numKvHeads();
            this.headDim = c.headDim();
            this.group = c.groupSize();
            this.capacity = capacity;
            k = new float[c.numLayers()][kvHeads * capacity * headDim];
            v = new float[c.numLayers()][kvHeads * capacity * headDim];
        }

        public int capacity() {
            return capacity;
        }

        public void write(int layer, int position, float[] kk, int ko, float[] vv, int vo) {
            for (int g = 0; g < kvHeads; g++) {
                System.arraycopy(kk, ko + g * headDim, k[layer], (g * capacity + position) * headDim, headDim);
                System.arraycopy(vv, vo + g * headDim, v[layer], (g * capacity + position) * headDim, headDim);
            }
        }

        public void attend(int layer, int head, int i, float[] q, int qo, float[] out, int oo, float[] scores) {
            int g = head / group;
            double max = Double.NEGATIVE_INFINITY;
            double[] s = new double[i + 1];
            for (int j = 0; j <= i; j++) {
                if (!mask.allowed(layer, head, i, j)) {
                    s[j] = Double.NEGATIVE_INFINITY;
                    continue;
                }
                double dot = 0;
                for (int d = 0; d < headDim; d++) dot += q[qo + d] * k[layer][(g * capacity + j) * headDim + d];
                s[j] = dot / Math.sqrt(headDim);
                max = Math.max(max, s[j]);
            }
            double sum = 0;
            for (int j = 0; j <= i; j++) sum += s[j] = Math.exp(s[j] - max);
            for (int d = 0; d < headDim; d++) {
                double acc = 0;
                for (int j = 0; j <= i; j++) acc += s[j] / sum * v[layer][(g * capacity + j) * headDim + d];
                out[oo + d] = (float) acc;
            }
        }

        public long byteSize() {
            return 0;
        }
    }

    static MoaPlan randomPlan(Random r) {
        double[] alphas = {-1024, -256, 0, 64, 100, 300};
        double[][] a = new double[2][4], b = new double[2][4];
        for (int l = 0; l < 2; l++) {
            for (int h = 0; h < 4; h++) {
                a[l][h] = alphas[r.nextInt(alphas.length)];
                b[l][h] = r.nextInt(9) / 8.0 * (r.nextBoolean() ? 1 : 0.5);
            }
        }
        return MoaPlan.parse(toJson(a, b), "random");
    }

    static String toJson(double[][] a, double[][] b) {
        return "{\"alphas\": " + java.util.Arrays.deepToString(a) + ", \"betas\": " + java.util.Arrays.deepToString(b) + "}";
    }

    /**
     * Prefill and {@code steps} greedy decode steps with the MoA session and with the brute-force reference fed
     * the same tokens; logits must agree at every step.
     */
    static void assertMatchesReference(MoaPlan plan, int promptLength, int allowance, int steps, long seed) {
        assertMatchesReference(plan, promptLength, allowance, steps, seed, 64);
    }

    static void assertMatchesReference(MoaPlan plan, int promptLength, int allowance, int steps, long seed, int chunk) {
        int[] prompt = new Random(seed).ints(promptLength, 3, model.config().vocabSize()).toArray();
        int total = promptLength + allowance;
        Session moa = model.newSession(1024, chunk, new AttentionMode.Sparse("test", c -> plan), allowance);
        ExplicitMask mask = new ExplicitMask(plan, promptLength, total);
        LlamaModel llama = model.llama();
        MaskedKvCache reference = new MaskedKvCache(model.config(), mask, promptLength + steps + 1);
        LlamaModel.State state = new LlamaModel.State(model.config(), 64);

        float[] ours = moa.prefill(prompt);
        float[] expected = llama.forward(state, reference, prompt, 0, prompt.length, 0).clone();
        assertClose(expected, ours, "prefill, prompt " + promptLength);
        for (int step = 0; step < steps; step++) {
            int token = Sampler.argmax(ours);
            ours = moa.decode(token);
            expected = llama.forward(state, reference, new int[] {token}, 0, 1, promptLength + step).clone();
            assertClose(expected, ours, "decode step " + step + " (position " + (promptLength + step) + ", N " + total + ")");
        }
    }

    static void assertClose(float[] expected, float[] actual, String what) {
        assertCloseWithin(expected, actual, 1e-5, what);
    }

    static void assertCloseWithin(float[] expected, float[] actual, double tolerance, String what) {
        double scale = 0, worst = 0;
        for (float e : expected) scale = Math.max(scale, Math.abs(e));
        for (int i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
        assertTrue(worst <= tolerance * scale, what + ": max |diff| " + worst + " vs max |logit| " + scale);
    }

    @Test
    void randomPlansMatchTheExplicitMaskAtPrefillAndEveryDecodeStep() {
        Random r = new Random(11);
        // prompt lengths: not a multiple of 64, past several blocks; allowance small so decode runs past N
        int[][] cases = {{300, 128, 110}, {257, 16, 140}, {130, 1024, 100}, {200, 64, 105}};
        for (int[] c : cases) assertMatchesReference(randomPlan(r), c[0], c[1], c[2], r.nextLong());
        // prefill chunks of 48 and 40 tokens: no span (a multiple of 64) is a multiple of the chunk
        assertMatchesReference(randomPlan(r), 333, 100, 100, r.nextLong(), 48);
        assertMatchesReference(randomPlan(r), 190, 30, 100, r.nextLong(), 40);
    }

    @Test
    void shortPromptsAreDenseAtPrefillAndSparseAfter() {
        MoaPlan narrow = MoaPlan.uniform(2, 4, new ElasticRule(-1024, 0)); // S = 128: sink 64 + 64 local
        assertMatchesReference(narrow, 40, 16, 200, 5);
        assertMatchesReference(narrow, 64, 0, 150, 6);
    }

    @Test
    void ringWrapsManyTimesAndPromptExactlySpan() {
        MoaPlan narrow = MoaPlan.uniform(2, 4, new ElasticRule(-1024, 0)); // local 64: wraps every 64 tokens
        assertMatchesReference(narrow, 128, 0, 400, 7);                    // prompt == S, then 6 wraps
        MoaPlan mixed = MoaPlan.parse(toJson(new double[][] {{-1024, 0, 64, 0}, {0, -1024, 0, 192}},
                new double[][] {{0, 0.5, 0.25, 1}, {0.5, 0, 1, 0}}), "mixed"); // heads of one KV group differ
        assertMatchesReference(mixed, 192, 64, 300, 8);
    }

    @Test
    void planCoveringEverythingEqualsDense() {
        MoaPlan full = MoaPlan.uniform(2, 4, new ElasticRule(0, 1)); // S = N rounded up: nothing masked up to N
        int[] prompt = new Random(3).ints(300, 3, model.config().vocabSize()).toArray();
        Session moa = model.newSession(1024, 64, new AttentionMode.Sparse("full", c -> full), 100);
        Session dense = model.newSession(400);
        float[] a = moa.prefill(prompt), b = dense.prefill(prompt);
        for (int step = 0; step < 100; step++) {
            assertCloseWithin(b, a, 1e-6, "step " + step);
            int token = Sampler.argmax(b);
            a = moa.decode(token);
            b = dense.decode(token);
        }
        assertTrue(moa.kvCacheBytes() < dense.kvCacheBytes() * 1.3, "KV bytes: ring of the full span vs dense");
    }

    @Test
    void concurrentSessionsWithDifferentPlans() throws Exception {
        var pool = Executors.newFixedThreadPool(3);
        try {
            Random r = new Random(21);
            MoaPlan[] plans = {randomPlan(r), randomPlan(r), MoaPlan.uniform(2, 4, new ElasticRule(0, 0.5))};
            Future<?>[] runs = new Future<?>[plans.length];
            for (int i = 0; i < plans.length; i++) {
                MoaPlan p = plans[i];
                long seed = 100 + i;
                runs[i] = pool.submit(() -> assertMatchesReference(p, 220, 32, 120, seed));
            }
            for (Future<?> f : runs) f.get();
        } finally {
            pool.shutdown();
        }
    }

    /** The reference's published plans load unchanged on tiny models of the same layer/head shape (GQA included). */
    @Test
    void referencePlansLoadOnMatchingShapesAndGiveTheRuleSpans() throws Exception {
        Path plans = TestPaths.repoRoot().resolve("../shared/moa-plans").normalize();
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(plans), "shared MoA plans not present");
        // Llama-3.2-1B-Instruct: 16 layers x 32 query heads over 8 KV heads; Llama-3.2-3B: 28 x 24 over 8.
        int[][] shapes = {{16, 32, 8}, {28, 24, 8}};
        String[] names = {"meta-llama--Llama-3.2-1B-Instruct", "meta-llama--Llama-3.2-3B-Instruct"};
        for (int m = 0; m < names.length; m++) {
            int layers = shapes[m][0], heads = shapes[m][1], kvHeads = shapes[m][2];
            JsonObject config = JsonParser.parseString("""
                    {"model_type":"llama","hidden_size":64,"intermediate_size":32,"num_hidden_layers":%d,
                     "num_attention_heads":%d,"num_key_value_heads":%d,"head_dim":8,"vocab_size":300,
                     "max_position_embeddings":8192,"rope_theta":500000.0}""".formatted(layers, heads, kvHeads)).getAsJsonObject();
            Path dir = work.resolve(names[m]);
            SyntheticModel.write(dir, config, DType.BF16, 7);
            Path planFile = plans.resolve(names[m]).resolve("moa_alpha_beta.json");
            MoaPlan plan = MoaPlan.load(planFile);
            try (Model tiny = Model.load(dir)) {
                int prompt = 700, allowance = 1024, total = prompt + allowance;
                Session s = tiny.newSession(8192, 64, AttentionMode.parse("moa:" + planFile), allowance);
                s.prefill(new Random(m).ints(prompt, 3, 300).toArray());
                for (int i = 0; i < 5; i++) s.decode(7 + i);
                long expectedBytes = 0;
                for (int l = 0; l < layers; l++) {
                    int[] widest = new int[kvHeads];
                    for (int h = 0; h < heads; h++) {
                        ElasticRule rule = plan.rule(l, h);
                        assertEquals(rule.sink(total), s.spans().sink()[l][h], names[m] + " layer " + l + " head " + h);
                        assertEquals(rule.local(total), s.spans().local()[l][h], names[m] + " layer " + l + " head " + h);
                        widest[h / (heads / kvHeads)] = Math.max(widest[h / (heads / kvHeads)], rule.local(total));
                    }
                    for (int w : widest) expectedBytes += 2L * (64 + w) * 8 * Float.BYTES;
                }
                assertEquals(expectedBytes, s.kvCacheBytes(), names[m] + ": KV bytes = sum over groups of sink + widest ring");
            }
        }
    }

    @Test
    void kvMemoryIsTheSumOfGroupSpans() {
        // Uniform (0, 0.5) at N = 1024: S = 512 for every head; the dense cache would hold N positions.
        MoaPlan half = MoaPlan.uniform(2, 4, new ElasticRule(0, 0.5));
        Session s = model.newSession(1024, 64, new AttentionMode.Sparse("half", c -> half), 1024 - 300);
        s.prefill(new Random(1).ints(300, 3, 300).toArray());
        ModelConfig c = model.config();
        assertEquals(2L * c.numLayers() * c.numKvHeads() * 512 * c.headDim() * Float.BYTES, s.kvCacheBytes());
        // At N = 4096, past this model's 1024 positions, S = 2048 would be more than any session reaches: the ring
        // holds the whole context, no more.
        Session past = model.newSession(1024, 64, new AttentionMode.Sparse("half", c2 -> half), 4096 - 300);
        past.prefill(new Random(1).ints(300, 3, 300).toArray());
        assertEquals(2L * c.numLayers() * c.numKvHeads() * (64 + 1024) * c.headDim() * Float.BYTES, past.kvCacheBytes());
    }
}
