package dev.moa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.plans.MoaPlan;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.synthetic.Presets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code moa compress} end to end, as a user runs it, on a small synthetic model: every stage's files, Pareto plans
 * that load in the runtime and whose KV cache, as the runtime really allocates it, stays inside the density.
 */
class CompressTest {
    @TempDir
    static Path work;

    @Test
    void compressWritesPlansThatLoadAndAllocateNoMoreThanTheDensityAllows() throws Exception {
        CliTest.work = work; // where CliTest.moa keeps each run's output (CliTest's own directory is gone once it ran)
        Path model = Presets.TINY.materialize(work.resolve("models"));
        Path corpus = work.resolve("corpus.txt");
        StringBuilder text = new StringBuilder();
        Random random = new Random(1);
        String[] words = {"Once", "upon", "a", "time", "the", "little", "girl", "walked", "through", "woods", "and", "sang"};
        for (int i = 0; i < 20_000; i++) text.append(words[random.nextInt(words.length)]).append(i % 13 == 12 ? ".\n" : " ");
        Files.writeString(corpus, text);
        Path out = work.resolve("compressed");
        double density = 0.5;

        CliTest.Run run = CliTest.moa(Map.of(), "compress", "--model", model.toString(), "--density", Double.toString(density),
                "--out", out.toString(), "--lengths", "512,1024", "--validation-length", "1536", "--samples", "2",
                "--validation-samples", "2", "--corpus", corpus.toString(), "--task", "passkey", "--task", "summary", "--time-limit", "5", "--validate-plans", "2");
        assertEquals(0, run.exit(), run.err());
        for (String file : List.of("plan.json", "report.md", "report.json", "plan-heatmap.svg", "validation.json", "calibration/calibration.json",
                "calibration/samples-512.jsonl", "calibration/samples-1536.jsonl", "profile/influence-512.safetensors",
                "profile/influence-1024.safetensors", "profile/profile.json", "optimize/pareto.json", "optimize/plans.csv", "optimize/pareto.png")) {
            assertTrue(Files.isRegularFile(out.resolve(file)), "missing " + file);
        }
        assertTrue(run.err().contains("ETA"), "progress with an ETA on stderr");
        String report = Files.readString(out.resolve("report.md"));
        assertTrue(report.contains("| 512 |") && report.contains("| 1536 |") && report.contains("measured loss increase"), report);

        JsonObject pareto = JsonParser.parseString(Files.readString(out.resolve("optimize/pareto.json"))).getAsJsonObject();
        List<Path> plans;
        try (var list = Files.list(out.resolve("optimize/plans"))) {
            plans = list.sorted().toList();
        }
        assertEquals(pareto.getAsJsonArray("plans").size(), plans.size());
        assertTrue(plans.size() >= 1);
        for (JsonElement p : pareto.getAsJsonArray("plans")) {
            for (var share : p.getAsJsonObject().getAsJsonObject("kv_share").entrySet()) {
                assertTrue(share.getValue().getAsDouble() <= density + 1e-9, p + " at " + share.getKey());
            }
        }

        // Round 1 validates the two plans predicted to lose least at the longest profiled length.
        List<String> byPrediction = new java.util.ArrayList<>();
        pareto.getAsJsonArray("plans").forEach(p -> byPrediction.add(p.getAsJsonObject().get("plan").getAsString()));
        byPrediction.sort(java.util.Comparator.comparingDouble(name -> predictedAt1024(pareto, name)));
        List<String> validated = new java.util.ArrayList<>();
        JsonObject round1 = JsonParser.parseString(Files.readString(out.resolve("round-1/validation.json"))).getAsJsonObject();
        round1.getAsJsonArray("plans").forEach(p -> validated.add(p.getAsJsonObject().get("plan").getAsString()));
        assertEquals(Math.min(2, plans.size()), validated.size(), round1.toString());
        for (String name : validated) {
            assertTrue(predictedAt1024(pareto, name) <= predictedAt1024(pareto, byPrediction.get(validated.size() - 1)), name + " in " + byPrediction);
        }

        // The runtime's own cache, sized for N = prompt + allowance at each profiled length, against dense.
        try (Model m = Model.load(model)) {
            int[] prompt = new Random(2).ints(200, 3, 300).toArray();
            for (Path file : plans) {
                MoaPlan plan = MoaPlan.load(file);
                for (int n : new int[] {512, 1024}) {
                    Session session = m.newSession(n, 64, new AttentionMode.Sparse("moa:" + file, c -> plan), n - prompt.length);
                    session.prefill(prompt);
                    long dense = 2L * m.config().numLayers() * m.config().numKvHeads() * n * m.config().headDim() * Float.BYTES;
                    assertTrue(session.kvCacheBytes() <= density * dense, file.getFileName() + " at N=" + n + ": "
                            + session.kvCacheBytes() + " bytes of KV against " + dense + " dense");
                }
            }
        }

        CliTest.Run generate = CliTest.moa(Map.of(), "generate", "--model", model.toString(), "--prompt", "Once upon a time",
                "--max-tokens", "8", "--attention", "moa:" + out.resolve("plan.json"));
        assertEquals(0, generate.exit(), generate.err());
    }

    private static double predictedAt1024(JsonObject pareto, String plan) {
        for (JsonElement p : pareto.getAsJsonArray("plans")) {
            JsonObject o = p.getAsJsonObject();
            if (o.get("plan").getAsString().equals(plan)) return o.getAsJsonObject("predicted_loss").get("1024").getAsDouble();
        }
        throw new AssertionError(plan + " is not in pareto.json");
    }
}
