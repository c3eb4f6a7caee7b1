package dev.moa.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.safetensors.DType;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.synthetic.SyntheticModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The runtime against the independent PyTorch reference (scripts/reference/make_goldens.py, float64): the same
 * seeded weights are re-created here, checked byte-for-byte by SHA-256, then last-position logits and 32-token
 * greedy continuations must match, for Llama-3/Llama-2/linear-RoPE/Mistral/Qwen2 shapes in F32, BF16 and F16.
 *
 * <p>Tolerance: the reference computes in float64 from the very weights we store (BF16/F16 widened exactly), so
 * the storage dtype does not change the maths; what remains is our F32 arithmetic, hence one bound for all
 * dtypes: max |ours − reference| ≤ 1e-4 · max |reference|.
 */
class ReferenceParityTest {
    static final double RELATIVE_TOLERANCE = 1e-4;

    @TempDir
    static Path models;

    static Stream<Path> goldens() throws IOException {
        Path dir = TestPaths.repoRoot().resolve("tests/src/test/resources/golden");
        try (var files = Files.list(dir)) {
            return files.filter(f -> f.toString().endsWith(".json")).sorted().toList().stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("goldens")
    void logitsAndGreedyContinuationMatchPyTorch(Path golden) throws IOException {
        JsonObject g = JsonParser.parseString(Files.readString(golden)).getAsJsonObject();
        Path dir = models.resolve(g.get("dir").getAsString());
        DType storage = DType.valueOf(g.get("dtype").getAsString().toUpperCase());
        String sha = SyntheticModel.write(dir, g.getAsJsonObject("config"), storage, g.get("model_seed").getAsLong());
        assertEquals(g.get("weights_sha256").getAsString(), sha, "Java and Python synthetic weights differ");

        try (Model model = Model.load(dir)) {
            for (Map.Entry<String, com.google.gson.JsonElement> e : g.getAsJsonObject("prompts").entrySet()) {
                JsonObject p = e.getValue().getAsJsonObject();
                int[] prompt = ints(p.getAsJsonArray("prompt_ids"));
                int[] expectedIds = ints(p.getAsJsonArray("greedy_new_ids"));
                // Chunk 16 crosses prefill chunk boundaries many times; 64 is the default.
                for (int chunk : new int[] {16, 64}) {
                    String what = golden.getFileName() + " prompt " + e.getKey() + " chunk " + chunk;
                    Session session = model.newSession(prompt.length + expectedIds.length, chunk);
                    float[] logits = session.prefill(prompt);
                    assertClose(doubles(p.getAsJsonArray("logits")), logits, what + " prefill logits");
                    int[] generated = new int[expectedIds.length];
                    for (int i = 0; i < generated.length; i++) {
                        generated[i] = Sampler.argmax(logits);
                        if (i + 1 < generated.length) logits = session.decode(generated[i]);
                    }
                    assertArrayEquals(expectedIds, generated, what + " greedy continuation");
                    assertClose(doubles(p.getAsJsonArray("last_step_logits")), logits, what + " logits after 31 decode steps");
                }
            }
        }
    }

    static void assertClose(double[] expected, float[] actual, String what) {
        assertCloseWithin(expected, actual, RELATIVE_TOLERANCE, what);
    }

    /** max |actual − expected| ≤ tolerance · max |expected|. */
    static void assertCloseWithin(double[] expected, float[] actual, double tolerance, String what) {
        assertEquals(expected.length, actual.length, what + ": vocabulary size");
        double scale = 0, worst = 0;
        for (double v : expected) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
        assertTrue(worst <= tolerance * scale, what + ": max |diff| " + worst + " > " + tolerance + " x max |logit| " + scale);
    }

    static int[] ints(JsonArray a) {
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = a.get(i).getAsInt();
        return v;
    }

    static double[] doubles(JsonArray a) {
        double[] v = new double[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = a.get(i).getAsDouble();
        return v;
    }
}
