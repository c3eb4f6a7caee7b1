package dev.moa.runtime.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.runtime.Model;
import dev.moa.runtime.bench.DecodeBenchmark;
import dev.moa.runtime.bench.MemoryBandwidth;
import dev.moa.runtime.synthetic.Presets;
import dev.moa.tasks.cpu.Parallel;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code moa bench}: prefill and decode tokens/s of a synthetic Llama-3.2-1B-shaped BF16 model, against the
 * memory-bandwidth roofline (weight bytes per token ÷ measured read bandwidth; copy bandwidth is reported too) and, with {@code --torch},
 * against PyTorch CPU on the same shapes and thread count, all in one run.
 */
final class BenchCommand {
    int run(String[] argv) throws Exception {
        Args args = new Args("bench", argv, 1, Set.of("preset", "prompt-tokens", "decode-tokens", "model", "rounds", "attention", "lengths", "plan",
                "layers", "heads", "kv-heads", "cost", "time-limit"), Set.of("torch", "kernels", "long-context", "profile", "optimizer"));
        if (args.flag("kernels")) return kernels();
        if (args.flag("optimizer")) return optimizer(args);
        if (args.flag("profile")) return profile(args);
        if (args.flag("long-context")) return longContext(args);
        if (args.has("attention")) return attention(args);
        Presets preset = switch (args.string("preset", "llama-3.2-1b")) {
            case "llama-3.2-1b" -> Presets.LLAMA_3_2_1B;
            case "tiny" -> Presets.TINY;
            default -> throw new UsageException("bench: --preset must be llama-3.2-1b or tiny");
        };
        int promptTokens = args.integer("prompt-tokens", 256);
        int decodeTokens = args.integer("decode-tokens", 32);
        int rounds = args.integer("rounds", 3);
        Path dir = args.has("model") ? Path.of(args.string("model", null)) : materialize(preset);

        System.err.println("measuring memory bandwidth with " + Parallel.threads() + " threads ...");
        MemoryBandwidth.Result bandwidth = MemoryBandwidth.measure(1L << 30, 6);
        try (Model model = ModelLoading.load(dir)) {
            long bytesPerToken = model.llama().weights().bytesPerDecodedToken();
            // Decoding streams every weight once per token: the read bandwidth bounds it.
            double roofline = bandwidth.readBytesPerSecond() / bytesPerToken;
            System.err.printf("running: prompt %d tokens, decode %d tokens, %d rounds ...%n", promptTokens, decodeTokens, rounds);
            DecodeBenchmark.Result ours = DecodeBenchmark.run(model, promptTokens, decodeTokens, rounds);

            JsonObject report = new JsonObject();
            report.addProperty("model", dir.getFileName().toString());
            report.addProperty("threads", Parallel.threads());
            report.addProperty("copy_bandwidth_GBps", round(bandwidth.copyBytesPerSecond() / 1e9));
            report.addProperty("read_bandwidth_GBps", round(bandwidth.readBytesPerSecond() / 1e9));
            report.addProperty("weight_bytes_per_token", bytesPerToken);
            report.addProperty("roofline_decode_tps", round(roofline));
            report.addProperty("prefill_tps", round(ours.prefillTokensPerSecond()));
            report.addProperty("decode_tps", round(ours.decodeTokensPerSecond()));
            report.addProperty("decode_vs_roofline", round(ours.decodeTokensPerSecond() / roofline));
            System.out.printf("memory:          copy %.1f GB/s (read+write), read %.1f GB/s (%d threads)%n",
                    bandwidth.copyBytesPerSecond() / 1e9, bandwidth.readBytesPerSecond() / 1e9, Parallel.threads());
            System.out.printf("weights/token:   %.2f GB -> roofline decode %.2f tokens/s (read bandwidth)%n", bytesPerToken / 1e9, roofline);
            System.out.printf("moa-java:        prefill %.1f tokens/s (%d tokens), decode %.2f tokens/s = %.0f%% of roofline%n",
                    ours.prefillTokensPerSecond(), promptTokens, ours.decodeTokensPerSecond(), 100 * ours.decodeTokensPerSecond() / roofline);
            if (args.flag("torch") && preset == Presets.LLAMA_3_2_1B) {
                for (String dtype : List.of("bf16", "f32")) {
                    JsonObject torch = runTorch(dtype, promptTokens, decodeTokens, rounds);
                    double prefill = torch.get("prefill_tok_s").getAsDouble(), decode = torch.get("decode_tok_s").getAsDouble();
                    System.out.printf("pytorch %-5s    prefill %.1f tokens/s, decode %.2f tokens/s -> ours/torch: prefill %.2fx, decode %.2fx%n",
                            dtype, prefill, decode, ours.prefillTokensPerSecond() / prefill, ours.decodeTokensPerSecond() / decode);
                    report.add("torch_" + dtype, torch);
                }
            }
            System.out.println(report);
        }
        return 0;
    }

    /** {@code --optimizer}: the plan optimiser's sweep at the reference's size on synthetic loss tables. */
    private static int optimizer(Args args) {
        int layers = args.integer("layers", 32), heads = args.integer("heads", 32), kvHeads = args.integer("kv-heads", 8);
        if (layers < 1 || heads < 1 || kvHeads < 1 || heads % kvHeads != 0) throw new UsageException("bench --optimizer: --heads must be a multiple of --kv-heads, all positive");
        var cost = dev.moa.plans.optimize.CostModel.parse(args.string("cost", "groups"));
        var r = dev.moa.runtime.bench.OptimizerBenchmark.run(layers, heads, kvHeads, cost, args.number("time-limit", 10), System.err);
        System.out.printf(java.util.Locale.ROOT, "optimizer: %d layers x %d heads (%d KV heads), 48 rules, 3 objectives, %s cost: %d solves in %.1f s, "
                        + "%d proven optimal, largest gap %.2f%%, %d Pareto plans (%d threads)%n", layers, heads, kvHeads, args.string("cost", "groups"),
                r.solves(), r.seconds(), r.optimal(), 100 * r.maxGap(), r.paretoPlans(), Runtime.getRuntime().availableProcessors());
        return 0;
    }

    /** {@code --profile}: one profiling pass (forward + backward with influence) against one forward pass. */
    private static int profile(Args args) throws Exception {
        Presets preset = switch (args.string("preset", "llama-3.2-1b")) {
            case "llama-3.2-1b" -> Presets.LLAMA_3_2_1B;
            case "tiny" -> Presets.TINY;
            default -> throw new UsageException("bench: --preset must be llama-3.2-1b or tiny");
        };
        Path dir = args.has("model") ? Path.of(args.string("model", null)) : materialize(preset);
        try (Model model = ModelLoading.load(dir)) {
            for (int length : EvalCommand.lengths(args.string("lengths", "2048"))) {
                var r = dev.moa.runtime.bench.ProfileBenchmark.run(model, length, System.err);
                System.out.printf(java.util.Locale.ROOT, "profile %s at %d tokens: %.1f s per sample (forward + backward + influence) vs %.1f s "
                                + "for a dense forward (%.1fx); heap peak %.0f MiB, buffers %.0f MiB (%d threads)%n", dir.getFileName(), length,
                        r.profileSeconds(), r.forwardSeconds(), r.profileSeconds() / r.forwardSeconds(), r.peakHeapBytes() / 1048576.0,
                        r.bufferBytes() / 1048576.0, Parallel.threads());
            }
        }
        return 0;
    }

    /** {@code --kernels}: the matmul alone per storage format, against the read bandwidth. */
    private static int kernels() {
        MemoryBandwidth.Result bandwidth = MemoryBandwidth.measure(1L << 30, 6);
        System.out.printf("read bandwidth %.1f GB/s (%d threads); matrix 16384 x 4096, prefill chunk 64%n",
                bandwidth.readBytesPerSecond() / 1e9, Parallel.threads());
        for (var format : dev.moa.tasks.cpu.WeightFormat.values()) {
            var r = dev.moa.runtime.bench.KernelBenchmark.run(format, 16384, 4096, 64);
            System.out.printf("%-5s decode %6.1f GB/s (%3.0f%% of read bandwidth)   prefill %6.1f GFLOP/s%n", format,
                    r.decodeGigabytesPerSecond(), 100 * r.decodeGigabytesPerSecond() * 1e9 / bandwidth.readBytesPerSecond(),
                    r.prefillGigaflops());
        }
        return 0;
    }

    /** {@code --long-context}: whole-model decode tokens/s at long contexts, dense vs MoA plan vs uniform 0.5. */
    private static int longContext(Args args) throws Exception {
        Path dir = args.has("model") ? Path.of(args.string("model", null)) : materialize(Presets.LLAMA_3_2_1B);
        Path planFile = Path.of(args.string("plan", RepositoryPaths.sharedPlan("meta-llama--Llama-3.2-1B-Instruct").toString()));
        int allowance = 1024, steps = args.integer("decode-tokens", 8);
        try (Model model = ModelLoading.load(dir)) {
            var config = model.config();
            var moaPlan = dev.moa.plans.MoaPlan.load(planFile).validateFor(config.numLayers(), config.numHeads(), dir.toString());
            var half = dev.moa.plans.MoaPlan.uniform(config.numLayers(), config.numHeads(), new dev.moa.plans.ElasticRule(0, 0.5));
            System.out.printf("whole-model decode at long context, %d threads; N = prompt + %d; best of %d steps; moa plan %s%n",
                    Parallel.threads(), allowance, steps, planFile);
            System.out.println("length  mode          KV cache   vs dense   decode tokens/s   vs dense");
            for (String lengthText : args.string("lengths", "4096,8192,16384").split(",")) {
                int length = Integer.parseInt(lengthText.trim());
                var dense = dev.moa.runtime.bench.LongContextBenchmark.run(model, null, length, allowance, steps);
                for (var entry : java.util.List.of(java.util.Map.entry("dense", java.util.Optional.<dev.moa.plans.MoaPlan>empty()),
                        java.util.Map.entry("moa", java.util.Optional.of(moaPlan)), java.util.Map.entry("uniform", java.util.Optional.of(half)))) {
                    var r = entry.getValue().isEmpty() ? dense
                            : dev.moa.runtime.bench.LongContextBenchmark.run(model, entry.getValue().get(), length, allowance, steps);
                    System.out.printf("%6d  %-8s  %9s   %6.1f%%   %10.2f      %6.2fx%n", length, entry.getKey(), InfoCommand.bytes(r.kvBytes()),
                            100.0 * r.kvBytes() / dense.kvBytes(), r.decodeTokensPerSecond(), r.decodeTokensPerSecond() / dense.decodeTokensPerSecond());
                }
            }
        }
        return 0;
    }

    /**
     * {@code --attention dense,moa,uniform}: attention alone on Llama-3.2-1B's attention shapes (16 layers, 32
     * query heads over 8 KV heads, head_dim 64) at each length: KV bytes, decode-step attention time, and the
     * prompt's attention time in one layer; moa uses {@code --plan} (default: the reference's Llama-3.2-1B plan).
     */
    private static int attention(Args args) throws Exception {
        var config = dev.moa.loader.config.ModelConfig.parse(com.google.gson.JsonParser.parseString(
                "{\"model_type\":\"llama\",\"hidden_size\":2048,\"intermediate_size\":8192,\"num_hidden_layers\":16,"
                        + "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"head_dim\":64,\"vocab_size\":128256,"
                        + "\"max_position_embeddings\":131072}").getAsJsonObject(), "llama-3.2-1b attention shapes");
        Path planFile = Path.of(args.string("plan", RepositoryPaths.sharedPlan("meta-llama--Llama-3.2-1B-Instruct").toString()));
        var moaPlan = dev.moa.plans.MoaPlan.load(planFile).validateFor(16, 32, "Llama-3.2-1B");
        var half = dev.moa.plans.MoaPlan.uniform(16, 32, new dev.moa.plans.ElasticRule(0, 0.5));
        int allowance = 1024;
        System.out.printf("attention only, Llama-3.2-1B shapes, %d threads; N = prompt + %d; moa plan %s%n", Parallel.threads(), allowance, planFile);
        System.out.println("length  mode          KV cache   vs dense   decode-step attention   prefill attention (all layers)");
        for (String lengthText : args.string("lengths", "4096,8192,16384").split(",")) {
            int length = Integer.parseInt(lengthText.trim());
            boolean prefill = length <= 4096; // dense prefill attention grows as N²: minutes beyond this on 2 cores
            var dense = dev.moa.runtime.bench.AttentionBenchmark.run(config, null, length, allowance, prefill);
            for (String mode : args.string("attention", "dense,moa,uniform").split(",")) {
                var plan = switch (mode.trim()) {
                    case "dense" -> null;
                    case "moa" -> moaPlan;
                    case "uniform" -> half;
                    default -> throw new UsageException("bench --attention: modes are dense, moa, uniform");
                };
                var r = plan == null ? dense : dev.moa.runtime.bench.AttentionBenchmark.run(config, plan, length, allowance, prefill);
                System.out.printf("%6d  %-8s  %9s   %6.1f%%   %8.1f ms (%5.1f%%)    %s%n", length, mode.trim(), InfoCommand.bytes(r.kvBytes()),
                        100.0 * r.kvBytes() / dense.kvBytes(), r.decodeMillis(), 100 * r.decodeMillis() / dense.decodeMillis(),
                        prefill ? String.format("%6.2f s (%5.1f%%)", r.prefillSeconds(), 100 * r.prefillSeconds() / dense.prefillSeconds()) : "(measured up to 4096)");
            }
        }
        return 0;
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    private static Path materialize(Presets preset) throws Exception {
        Path root = Presets.defaultRoot();
        if (!Files.isRegularFile(root.resolve(preset.directoryName()).resolve(".complete"))) {
            System.err.println("creating synthetic " + preset.directoryName() + " model (random weights) under " + root + " ...");
        }
        return preset.materialize(root);
    }

    /** Runs scripts/reference/bench_torch.py with Debian's PyTorch on the same shapes and thread count. */
    private static JsonObject runTorch(String dtype, int promptTokens, int decodeTokens, int rounds) throws Exception {
        Path script = RepositoryPaths.script("reference/bench_torch.py");
        List<String> command = new ArrayList<>(List.of("/usr/bin/python3", script.toString(), "--dtype", dtype,
                "--threads", String.valueOf(Parallel.threads()), "--prompt", String.valueOf(promptTokens),
                "--gen", String.valueOf(decodeTokens), "--repeat", String.valueOf(rounds)));
        System.err.println("running PyTorch baseline: " + String.join(" ", command));
        Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String last = null;
        try (var reader = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = reader.readLine()) != null; ) if (line.startsWith("{")) last = line;
        }
        if (process.waitFor() != 0 || last == null) {
            throw new IllegalStateException("the PyTorch baseline failed (exit " + process.exitValue()
                    + "); is python3-torch installed for /usr/bin/python3?");
        }
        return JsonParser.parseString(last).getAsJsonObject();
    }
}
