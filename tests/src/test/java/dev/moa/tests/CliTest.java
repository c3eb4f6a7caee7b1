package dev.moa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.safetensors.DType;
import dev.moa.runtime.synthetic.SyntheticModel;
import dev.moa.runtime.synthetic.SyntheticTokenizer;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command-line contract, run as a user would: {@code java -jar runtime/target/moa.jar ...}. */
class CliTest {
    @TempDir
    static Path work;
    static Path model;
    static JsonObject golden;

    record Run(int exit, String out, String err) {}

    @BeforeAll
    static void createModel() throws IOException {
        golden = JsonParser.parseString(Files.readString(
                TestPaths.repoRoot().resolve("tests/src/test/resources/golden/llama3-gqa-bf16.json"))).getAsJsonObject();
        model = work.resolve("llama3-gqa-bf16");
        SyntheticModel.write(model, golden.getAsJsonObject("config"), DType.BF16, golden.get("model_seed").getAsLong());
    }

    static Run moa(Map<String, String> env, String... args) throws Exception {
        Path jar = TestPaths.repoRoot().resolve("runtime/target/moa.jar");
        assertTrue(Files.isRegularFile(jar), "build the jar first (mvn package): " + jar);
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-jar", jar.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().putAll(env);
        Path out = Files.createTempFile(work, "out", ".txt"), err = Files.createTempFile(work, "err", ".txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "moa " + String.join(" ", args) + " did not finish");
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }

    /** stderr minus the JVM's notice about the incubating Vector API module. */
    static List<String> errorLines(Run r) {
        return r.err().lines().filter(l -> !l.contains("Using incubator modules")).toList();
    }

    /** Without a GPU driver: auto runs the kernel check on the CPU emulator saying why; cuda fails with that line. */
    @Test
    void kernelsCheckFallsBackToTheCpuWithOneLine() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.moa.tasks.cuda.CudaAvailability.probe().available(),
                "a CUDA driver is present: the no-driver path is not what runs here");
        Run auto = moa(Map.of(), "kernels", "--check", "--device", "auto");
        assertEquals(0, auto.exit(), auto.err());
        assertTrue(auto.out().contains("emulator (the GPU program on the CPU)") && auto.out().contains("results correct"), auto.out());
        List<String> why = errorLines(auto);
        assertEquals(1, why.size(), auto.err());
        assertTrue(why.get(0).startsWith("using the CPU: ") && why.get(0).contains("libcuda.so.1"), why.get(0));

        Run cuda = moa(Map.of(), "kernels", "--check", "--device", "cuda");
        assertEquals(1, cuda.exit());
        assertEquals(List.of("moa: " + why.get(0).substring("using the CPU: ".length())), errorLines(cuda));
        Run bench = moa(Map.of(), "kernels", "--bench");
        assertEquals(1, bench.exit());
        assertEquals(errorLines(cuda), errorLines(bench), "the GPU benchmark needs a GPU and says why not in one line");

        Run print = moa(Map.of(), "kernels", "--print", "matvec-bf16", "--target", "sm_90");
        assertEquals(0, print.exit(), print.err());
        assertTrue(print.out().contains(".target sm_90") && print.out().contains(".visible .entry bf16(")
                && print.out().contains("shfl.sync.bfly.b32") && print.out().contains("ld.global.nc"), print.out());
        // a variant: named values, or the 1B model's; an unknown parameter or a missing --print is one line
        Run variant = moa(Map.of(), "kernels", "--print", "attention-grouped", "--specialize", "headDim=128,kvFormat=1");
        assertEquals(0, variant.exit(), variant.err());
        assertTrue(variant.out().contains("// specialized: headDim = 128, kvFormat = 1"), variant.out().lines().limit(5).toList().toString());
        Run oneB = moa(Map.of(), "kernels", "--print", "attention-grouped", "--specialize", "1b");
        assertTrue(oneB.out().contains("heads = 32, kvHeads = 8, headDim = 64, kvFormat = 0"), oneB.out().lines().limit(5).toList().toString());
        Run unknown = moa(Map.of(), "kernels", "--print", "attention-grouped", "--specialize", "rows=3");
        assertEquals(List.of("moa: kernels: AttentionKernels.decodeGrouped has no @Specialize parameter rows"), errorLines(unknown));
        Run alone = moa(Map.of(), "kernels", "--specialize", "1b");
        assertEquals(List.of("moa: kernels: --specialize goes with --print"), errorLines(alone));
    }

    @Test
    void forwardPrintsTheLastPositionLogitsAsJson() throws Exception {
        JsonObject prompt = golden.getAsJsonObject("prompts").getAsJsonObject("long");
        StringBuilder ids = new StringBuilder();
        prompt.getAsJsonArray("prompt_ids").forEach(e -> ids.append(e.getAsInt()).append(' '));
        Run r = moa(Map.of(), "forward", "--model", model.toString(), "--tokens", ids.toString().trim(), "--json");
        assertEquals(0, r.exit(), r.err());
        var logits = JsonParser.parseString(r.out()).getAsJsonObject().getAsJsonArray("logits");
        float[] actual = new float[logits.size()];
        for (int i = 0; i < actual.length; i++) actual[i] = logits.get(i).getAsFloat();
        ReferenceParityTest.assertClose(ReferenceParityTest.doubles(prompt.getAsJsonArray("logits")), actual, "forward --json");
    }

    static float[] logits(Run r) {
        var array = JsonParser.parseString(r.out()).getAsJsonObject().getAsJsonArray("logits");
        float[] v = new float[array.size()];
        for (int i = 0; i < v.length; i++) v[i] = array.get(i).getAsFloat();
        return v;
    }

    @Test
    void errorsAreOneLineWithoutStackTrace() throws Exception {
        Run missing = moa(Map.of(), "forward", "--model", work.resolve("nope").toString(), "--tokens", "1 2");
        assertNotEquals(0, missing.exit());
        assertEquals(1, errorLines(missing).size(), missing.err());
        assertTrue(missing.err().contains("model directory not found"), missing.err());

        Run badTokens = moa(Map.of(), "forward", "--model", model.toString(), "--tokens", "1 x");
        assertNotEquals(0, badTokens.exit());
        assertTrue(badTokens.err().contains("must be integers"), badTokens.err());

        Run outside = moa(Map.of(), "forward", "--model", model.toString(), "--tokens", "1 99999");
        assertNotEquals(0, outside.exit());
        assertTrue(outside.err().contains("outside the vocabulary"), outside.err());

        Run unknown = moa(Map.of(), "forward", "--model", model.toString(), "--tokens", "1", "--modle", "x");
        assertNotEquals(0, unknown.exit());
        assertTrue(unknown.err().contains("Unknown option") && unknown.err().contains("'--modle'") && unknown.err().contains("see: moa forward --help"), unknown.err());

        // Output paths are checked before the work starts, not after an evaluation ran.
        // (the demo model has a tokenizer, so without the check the evaluation would run to its end first)
        Path aFile = work.resolve("a-file.txt"), demo = TestPaths.repoRoot().resolve("models/moa-demo");
        Files.writeString(aFile, "x");
        for (String[] command : new String[][] {
                {"eval", "retrieval", "--model", demo.toString(), "--lengths", "1024", "--json", aFile.resolve("r.json").toString()},
                {"eval", "retrieval", "--model", demo.toString(), "--lengths", "1024", "--heatmap", work.toString()},
                {"compress", "--model", model.toString(), "--density", "0.5", "--out", aFile.resolve("out").toString(), "--corpus", aFile.toString()}}) {
            Run early = moa(Map.of(), command);
            assertNotEquals(0, early.exit(), early.err());
            assertEquals(1, errorLines(early).size(), early.err());
            assertTrue((early.err().contains("is a file, not a folder") || early.err().contains("is a directory")) && !early.err().contains("length 1024"),
                    String.join(" ", command) + ": " + early.err());
        }

        // A bad environment value is a usage error, even for a command that never starts the thread pool.
        for (String[] command : new String[][] {{"info", "--model", model.toString()}, {"forward", "--model", model.toString(), "--tokens", "1 2"}}) {
            Run threads = moa(Map.of("MOA_THREADS", "abc"), command);
            assertNotEquals(0, threads.exit());
            assertEquals(1, errorLines(threads).size(), threads.err());
            assertTrue(threads.err().contains("MOA_THREADS must be a positive integer") && threads.err().contains("'abc'"), threads.err());
        }
    }

    @Test
    void truncatedWeightsNameTheFileAndTensor() throws Exception {
        Path broken = work.resolve("broken");
        Files.createDirectories(broken);
        Files.copy(model.resolve("config.json"), broken.resolve("config.json"));
        Path weights = broken.resolve("model.safetensors");
        Files.copy(model.resolve("model.safetensors"), weights);
        try (FileChannel ch = FileChannel.open(weights, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 1000);
        }
        Run r = moa(Map.of(), "forward", "--model", broken.toString(), "--tokens", "1");
        assertNotEquals(0, r.exit());
        assertEquals(1, errorLines(r).size(), r.err());
        assertTrue(r.err().contains("model.safetensors") && r.err().contains("tensor '") && r.err().contains("truncated"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace without --debug");

        Run debug = moa(Map.of(), "forward", "--model", broken.toString(), "--tokens", "1", "--debug");
        assertTrue(debug.err().contains("\tat "), "--debug prints the stack trace");
    }

    @Test
    void generateStreamsChatAndReportsSpeed() throws Exception {
        Path chat = work.resolve("chat-model");
        SyntheticModel.write(chat, golden.getAsJsonObject("config"), DType.BF16, golden.get("model_seed").getAsLong());
        SyntheticTokenizer.write(chat, golden.getAsJsonObject("config").get("vocab_size").getAsInt());

        int plainTokens = dev.moa.loader.tokenizer.Tokenizer.load(chat.resolve("tokenizer.json")).encode("Once upon a time", true).length;
        Run plain = moa(Map.of(), "generate", "--model", chat.toString(), "--prompt", "Once upon a time", "--max-tokens", "12");
        assertEquals(0, plain.exit(), plain.err());
        assertTrue(plain.err().contains("prompt tokens: " + plainTokens + ", generated: 12 (max tokens)"), plain.err());
        assertTrue(plain.err().contains("time to first token:") && plain.err().contains("decode:"), plain.err());

        // The model's own chat template wraps the prompt: more prompt tokens than the plain text alone.
        Run chatRun = moa(Map.of(), "generate", "--model", chat.toString(), "--chat", "--system", "Be brief.",
                "--prompt", "Once upon a time", "--max-tokens", "4", "--temperature", "0.7", "--seed", "3");
        assertEquals(0, chatRun.exit(), chatRun.err());
        int chatPromptTokens = Integer.parseInt(chatRun.err().replaceAll("(?s).*prompt tokens: (\\d+),.*", "$1"));
        assertTrue(chatPromptTokens > plainTokens + 5, chatRun.err());

        Run tooLong = moa(Map.of(), "generate", "--model", chat.toString(), "--prompt", "a ".repeat(1100), "--max-tokens", "4");
        assertNotEquals(0, tooLong.exit());
        assertEquals(1, errorLines(tooLong).stream().filter(l -> !l.startsWith("loaded ")).count(), tooLong.err());
        assertTrue(tooLong.err().contains("context holds 1024") && tooLong.err().contains("--truncate"), tooLong.err());
    }

    @Test
    void forwardWithSparseAttentionModes() throws Exception {
        String ids = new java.util.Random(4).ints(300, 3, 384).mapToObj(String::valueOf).reduce((a, b) -> a + " " + b).orElseThrow();
        Run dense = moa(Map.of(), "forward", "--model", model.toString(), "--tokens", ids, "--json");
        Run full = moa(Map.of(), "forward", "--model", model.toString(), "--tokens", ids, "--json", "--attention", "uniform:0,1");
        Run half = moa(Map.of(), "forward", "--model", model.toString(), "--tokens", ids, "--json", "--attention", "uniform:0,0.5",
                "--max-tokens", "100");
        Run window = moa(Map.of(), "forward", "--model", model.toString(), "--tokens", ids, "--json", "--attention", "window:64");
        for (Run r : List.of(dense, full, half, window)) assertEquals(0, r.exit(), r.err());
        // Equal up to float rounding (the Vector API's lane-reduction order may differ between JIT tiers).
        float[] denseLogits = logits(dense), fullLogits = logits(full);
        double[] expected = new double[denseLogits.length];
        for (int i = 0; i < expected.length; i++) expected[i] = denseLogits[i];
        ReferenceParityTest.assertCloseWithin(expected, fullLogits, 1e-6, "a plan that keeps every position is dense");
        assertNotEquals(dense.out(), half.out(), "50% spans change the logits of a 300-token prompt");
        assertNotEquals(half.out(), window.out());

        Path plan = work.resolve("wrong-plan.json");
        Files.writeString(plan, "{\"alphas\": [[0, 0]], \"betas\": [[0.5, 0.5]]}");
        Run wrong = moa(Map.of(), "forward", "--model", model.toString(), "--tokens", "1 2", "--attention", "moa:" + plan);
        assertNotEquals(0, wrong.exit());
        assertTrue(wrong.err().contains("wrong-plan.json") && wrong.err().contains("1 layers") && wrong.err().contains("has 2"), wrong.err());

        Run bad = moa(Map.of(), "forward", "--model", model.toString(), "--tokens", "1 2", "--attention", "uniform:0");
        assertNotEquals(0, bad.exit());
        assertTrue(bad.err().contains("uniform: needs ALPHA,BETA"), bad.err());
    }

    @Test
    void planShowPrintsSpansAndWritesAHeatmap() throws Exception {
        Path plan = work.resolve("plan.json");
        Files.writeString(plan, "{\"alphas\": [[-1024, 0, 0, 0], [0, 0, 1024, 0]], \"betas\": [[0, 0.5, 0.5, 1], [0.25, 0.25, 0, 0.5]]}");
        Run r = moa(Map.of(), "plan", "show", "--plan", plan.toString(), "--model", model.toString(), "--length", "1024");
        assertEquals(0, r.exit(), r.err());
        // layer 0 spans 128, 512, 512, 1024 -> density (128 + 512 + 512 + 1024) / 4 / 1024 = 53.1%; groups {0,1}, {2,3}: 512 + 1024 slots
        assertTrue(r.out().contains("    0        128     512      1024    53.1%  1536 / 2048"), r.out());
        Path svg = work.resolve("plan-N1024.svg");
        assertTrue(Files.isRegularFile(svg) && Files.readString(svg).contains("layer 1 head 2: span 1024 (100%)"));
        // The worst KV share over N = 512..1024, brute force: per KV group its widest span, rounded up to whole blocks
        // (a full span may pass N by part of a block: the cache keeps it for generation past N).
        var config = dev.moa.loader.config.ModelConfig.load(model);
        dev.moa.plans.MoaPlan p = dev.moa.plans.MoaPlan.load(plan);
        double worst = 0;
        for (int m = 512; m <= 1024; m++) {
            long slots = 0;
            for (int l = 0; l < 2; l++) {
                for (int g = 0; g < config.numKvHeads(); g++) {
                    int widest = 0;
                    for (int h = g * config.groupSize(); h < (g + 1) * config.groupSize(); h++) widest = Math.max(widest, p.rule(l, h).span(m));
                    slots += widest;
                }
            }
            worst = Math.max(worst, slots / (2.0 * config.numKvHeads() * m));
        }
        assertTrue(r.out().contains(String.format(java.util.Locale.ROOT, "KV memory at any N from 512 to 1024: at most %.1f%% of dense", 100 * worst)), worst + "\n" + r.out());

        Run mismatch = moa(Map.of(), "plan", "show", "--plan", plan.toString(), "--model", model.toString());
        assertNotEquals(0, mismatch.exit());
        assertTrue(mismatch.err().contains("--length"), mismatch.err());
    }

    /** The heatmap goes beside the --json file, else under $MOA_HOME/eval -- never into the working directory. */
    @Test
    void evalRetrievalWritesTheHeatmapBesideTheJson() throws Exception {
        Path withTokenizer = work.resolve("with-tokenizer");
        JsonObject config = golden.getAsJsonObject("config").deepCopy();
        config.addProperty("max_position_embeddings", 2048); // a record of a few lines in a byte-sized vocabulary
        SyntheticModel.write(withTokenizer, config, DType.BF16, golden.get("model_seed").getAsLong());
        SyntheticTokenizer.write(withTokenizer, config.get("vocab_size").getAsInt());
        Map<String, String> env = Map.of("MOA_HOME", work.resolve("home").toString());
        Path json = work.resolve("results/dense.json");
        Files.createDirectories(json.getParent());
        Run r = moa(env, "eval", "retrieval", "--model", withTokenizer.toString(), "--lengths", "1536",
                "--samples-per-bin", "1", "--json", json.toString());
        assertEquals(0, r.exit(), r.err());
        Path png = work.resolve("results/dense.png");
        assertTrue(r.out().contains("heatmap: " + png.toAbsolutePath()), r.out());
        assertTrue(isPng(png), png.toString());
        assertEquals(1536, JsonParser.parseString(Files.readString(json)).getAsJsonObject()
                .getAsJsonArray("results").get(0).getAsJsonObject().get("length").getAsInt());

        Run noJson = moa(env, "eval", "retrieval", "--model", withTokenizer.toString(), "--lengths", "1536",
                "--samples-per-bin", "1", "--attention", "window:64");
        assertEquals(0, noJson.exit(), noJson.err());
        assertTrue(isPng(work.resolve("home/eval/retrieval-window_64.png")), noJson.out());
    }

    private static boolean isPng(Path file) throws IOException {
        if (!Files.isRegularFile(file)) return false;
        byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(file), 4);
        return head[0] == (byte) 0x89 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G';
    }

    @Test
    void infoDescribesTheModel() throws Exception {
        Run r = moa(Map.of(), "info", "--model", model.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("4 query heads, 2 KV heads (GQA x2)"), r.out());
        assertTrue(r.out().contains("BF16"), r.out());
        // 384x64 embedding + lm_head, 2 layers of q/k/v/o (64x64, 32x64, 32x64, 64x64), 3 MLP 160x64, 2 norms; final norm
        assertTrue(r.out().contains("parameters:    135,488"), r.out());
    }
}
