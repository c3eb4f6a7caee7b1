package dev.moa.runtime.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.bench.DecodeBenchmark;
import dev.moa.runtime.bench.LongContextBenchmark;
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
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code moa bench decode|kernels|attention|long-context|profile|optimizer|serve|prefill|sampling}, each mode a sub-command with only its own
 * options. {@code decode}: prefill and decode tokens/s of a synthetic Llama-3.2-1B-shaped BF16 model against the
 * memory-bandwidth roofline (weight bytes per token ÷ measured read bandwidth; copy bandwidth is reported too) and,
 * with {@code --torch}, against PyTorch CPU on the same shapes and thread count, all in one run.
 */
@Command(name = "bench", description = "Benchmarks; `moa bench` alone runs `moa bench decode`.", subcommands = {BenchCommand.Decode.class,
        BenchCommand.Kernels.class, BenchCommand.Attention.class, BenchCommand.LongContext.class, BenchCommand.Profile.class,
        BenchCommand.Optimizer.class, BenchCommand.Serve.class, BenchCommand.Prefill.class, BenchCommand.Sampling.class})
final class BenchCommand {
    private BenchCommand() {
    }

    /** {@code --preset} or {@code --model}: which model a benchmark runs. */
    static final class Target {
        @Option(names = "--preset", paramLabel = "llama-3.2-1b|tiny", defaultValue = "llama-3.2-1b",
                description = "synthetic model with seeded random weights, made on first use (default: ${DEFAULT-VALUE})")
        String preset;

        @Option(names = "--model", paramLabel = "DIR", description = "a model folder instead of the preset")
        Path model;

        Presets preset() {
            return switch (preset) {
                case "llama-3.2-1b" -> Presets.LLAMA_3_2_1B;
                case "tiny" -> Presets.TINY;
                default -> throw new UsageException("bench: --preset must be llama-3.2-1b or tiny, got '" + preset + "'");
            };
        }

        Path dir() throws Exception {
            Presets p = preset();
            return model != null ? model : materialize(p);
        }
    }

    /** {@code --plan FILE}, the reference's Llama-3.2-1B plan by default. */
    static final class PlanFile {
        @Option(names = "--plan", paramLabel = "FILE", description = "the MoA plan (default: the reference's Llama-3.2-1B-Instruct plan)")
        Path plan;

        Path file() {
            return plan != null ? plan : RepositoryPaths.sharedPlan("meta-llama--Llama-3.2-1B-Instruct");
        }
    }

    /** {@code --products}: how a batched step on a device multiplies, one or several to compare in one run. */
    static final class Products {
        @Option(names = "--products", paramLabel = "KIND", split = ",", defaultValue = "auto",
                description = "a batched device step's matmuls: auto (BF16 weights on the tensor cores from 5 sessions), matvec (the batched matvec), "
                        + "tensor (the tensor cores from 2 sessions); a list runs each (default: ${DEFAULT-VALUE})")
        List<String> kinds;

        /** Checks the kinds before any work: known names, and a device to apply them to when more than auto is asked. */
        void check(String command, dev.moa.tasks.cuda.DeviceChoice choice) {
            for (String kind : kinds) from(command, kind);
            Options.require(kinds.equals(List.of("auto")) || choice.kind() != dev.moa.tasks.cuda.DeviceChoice.Kind.CPU,
                    command + ": --products applies to a device step (--device cuda or emulator)");
        }

        /** Sets the model's accelerator (if any) to {@code kind}. */
        static void apply(Model model, String kind) {
            model.accelerator().ifPresent(a -> a.tensorProductsFrom(from("bench", kind)));
        }

        private static int from(String command, String kind) {
            return switch (kind) {
                case "auto" -> dev.moa.tasks.kernels.MatVecKernels.BATCH_PASS + 1;
                case "matvec" -> 0;
                case "tensor" -> 2;
                default -> throw new UsageException(command + ": --products takes auto, matvec or tensor, not '" + kind + "'");
            };
        }
    }

    @Command(name = "decode", description = "Prefill/decode tokens/s vs the memory-bandwidth roofline (and PyTorch with --torch).")
    static final class Decode implements Callable<Integer> {
        @Mixin
        Target target;

        @Option(names = "--prompt-tokens", paramLabel = "N", defaultValue = "256", description = "prompt length (default: ${DEFAULT-VALUE})")
        int promptTokens;

        @Option(names = "--decode-tokens", paramLabel = "N", defaultValue = "32", description = "tokens decoded per round (default: ${DEFAULT-VALUE})")
        int decodeTokens;

        @Option(names = "--rounds", paramLabel = "R", defaultValue = "3", description = "rounds; the best counts (default: ${DEFAULT-VALUE})")
        int rounds;

        @Option(names = "--torch", description = "also PyTorch CPU (bf16 and f32) on the same shapes and threads (preset llama-3.2-1b)")
        boolean torch;

        @Option(names = "--batch", paramLabel = "B", split = ",",
                description = "instead: aggregate decode tokens/s of B sessions stepped together, for each B (e.g. 1,4,16)")
        List<Integer> batches;

        @Mixin
        Options.Attention attention;

        @Mixin
        Options.Device device;

        @Option(names = "--sample", description = "also decode sampling (temperature 0.7, top-p 0.9), drawn where the step runs as a sampled generation "
                + "does (on a device there, after its argmax), beside greedy")
        boolean sample;

        @Option(names = "--profile", description = "on a CUDA device: also the time of each kernel of the decode step, launched alone")
        boolean profile;

        @Mixin
        Products products;

        @Mixin
        Options.StepOptions stepOptions;

        @Override
        public Integer call() throws Exception {
            Options.require(promptTokens >= 1 && decodeTokens >= 2 && rounds >= 1, "bench decode: --prompt-tokens and --rounds must be positive and --decode-tokens at least 2 (the first step, which may move the cache to a device, is timed apart)");
            if (batches != null) for (int b : batches) Options.require(b >= 1 && b <= 4096, "bench decode: --batch sizes must be in 1..4096, got " + b);
            Presets preset = target.preset();
            var choice = device.choose();
            products.check("bench decode", choice);
            stepOptions.check("bench decode", choice);
            Options.require(batches != null || products.kinds.equals(List.of("auto")), "bench decode: --products compares batched steps: give --batch too");
            Path dir = target.dir();
            MemoryBandwidth.Result bandwidth;
            if (choice.kind() == dev.moa.tasks.cuda.DeviceChoice.Kind.CUDA) {
                System.err.println("measuring GPU memory bandwidth (device-to-device copy) ...");
                double copy = dev.moa.runtime.bench.DeviceBandwidth.measure(1L << 31, 10);
                bandwidth = new MemoryBandwidth.Result(copy, copy); // a copy's reads and writes share the same HBM
            } else {
                System.err.println("measuring memory bandwidth with " + Parallel.threads() + " threads ...");
                bandwidth = MemoryBandwidth.measure(1L << 30, 6);
            }
            try (Model model = device.apply(ModelLoading.load(dir, choice, device.kvCache.format, device.precision))) {
                stepOptions.apply(model);
                if (batches != null) return batched(model, bandwidth);
                long bytesPerToken = model.llama().weights().bytesPerDecodedToken();
                // Decoding streams every weight once per token: the read bandwidth bounds it.
                double roofline = bandwidth.readBytesPerSecond() / bytesPerToken;
                System.err.printf("running: prompt %d tokens, decode %d tokens, %d rounds ...%n", promptTokens, decodeTokens, rounds);
                DecodeBenchmark.Result ours = DecodeBenchmark.run(model, promptTokens, decodeTokens, rounds);

                JsonObject report = new JsonObject();
                report.addProperty("model", dir.getFileName().toString());
                report.addProperty("device", model.device());
                report.addProperty("threads", Parallel.threads());
                report.addProperty("copy_bandwidth_GBps", round(bandwidth.copyBytesPerSecond() / 1e9));
                report.addProperty("read_bandwidth_GBps", round(bandwidth.readBytesPerSecond() / 1e9));
                report.addProperty("weight_bytes_per_token", bytesPerToken);
                report.addProperty("roofline_decode_tps", round(roofline));
                report.addProperty("prefill_tps", round(ours.prefillTokensPerSecond()));
                report.addProperty("decode_tps", round(ours.decodeTokensPerSecond()));
                report.addProperty("decode_vs_roofline", round(ours.decodeTokensPerSecond() / roofline));
                model.accelerator().ifPresent(a -> report.addProperty("overlapping_launches", a.overlapsLaunches()));
                System.out.printf("memory:          copy %.1f GB/s (read+write), read %.1f GB/s (%d threads)%n",
                        bandwidth.copyBytesPerSecond() / 1e9, bandwidth.readBytesPerSecond() / 1e9, Parallel.threads());
                System.out.printf("weights/token:   %.2f GB -> roofline decode %.2f tokens/s (read bandwidth)%n", bytesPerToken / 1e9, roofline);
                System.out.printf("moa-java:        prefill %.1f tokens/s (%d tokens), decode %.2f tokens/s = %.0f%% of roofline%n",
                        ours.prefillTokensPerSecond(), promptTokens, ours.decodeTokensPerSecond(), 100 * ours.decodeTokensPerSecond() / roofline);
                if (sample) {
                    var sampling = new dev.moa.runtime.generate.SamplingParams(0.7, 0, 0.9, 1);
                    System.err.printf("running: the same, sampling (temperature 0.7, top-p 0.9) ...%n");
                    double sampled = DecodeBenchmark.run(model, promptTokens, decodeTokens, rounds, sampling).decodeTokensPerSecond();
                    report.addProperty("decode_sampled_tps", round(sampled));
                    System.out.printf("sampled:         decode %.2f tokens/s (temperature 0.7, top-p 0.9, drawn where the step ran) = %.2fx greedy%n",
                            sampled, sampled / ours.decodeTokensPerSecond());
                }
                if (torch && preset == Presets.LLAMA_3_2_1B && target.model == null) {
                    for (String dtype : List.of("bf16", "f32")) {
                        JsonObject torch = runTorch(dtype, promptTokens, decodeTokens, rounds);
                        double prefill = torch.get("prefill_tok_s").getAsDouble(), decode = torch.get("decode_tok_s").getAsDouble();
                        System.out.printf("pytorch %-5s    prefill %.1f tokens/s, decode %.2f tokens/s -> ours/torch: prefill %.2fx, decode %.2fx%n",
                                dtype, prefill, decode, ours.prefillTokensPerSecond() / prefill, ours.decodeTokensPerSecond() / decode);
                        report.add("torch_" + dtype, torch);
                    }
                }
                System.out.println(report);
                if (profile) profileStep(model, 1e6 / ours.decodeTokensPerSecond());
            }
            return 0;
        }

        /** Each kernel of the device step alone, summed by task name over the layers, against the step's wall time. */
        private void profileStep(Model model, double stepMicros) {
            try (var session = model.newSession(promptTokens + 4)) {
                float[] logits = session.prefill(new java.util.SplittableRandom(7).ints(promptTokens, 3, model.config().vocabSize()).toArray());
                session.decodeGreedy(dev.moa.runtime.generate.Sampler.argmax(logits));
                var step = session.deviceStep().orElse(null);
                double[] micros = step == null ? null : step.profile(50);
                if (micros == null) {
                    System.out.println("--profile: the step runs on " + model.device() + ", not on a CUDA device: nothing to profile");
                    return;
                }
                double[] inGraph = step.profileInGraph(20);
                var tasks = step.tasks();
                // name -> {launches, alone us, in-graph us, weight bytes}
                java.util.Map<String, double[]> byName = new java.util.LinkedHashMap<>();
                for (int i = 0; i < tasks.size(); i++) {
                    double[] row = byName.computeIfAbsent(tasks.get(i).name().replaceFirst("^layer \\d+ ", ""), k -> new double[4]);
                    row[0]++;
                    row[1] += micros[i];
                    row[2] += inGraph[i];
                    row[3] += dev.moa.runtime.device.DeviceDecoder.weightBytes(tasks.get(i));
                }
                double sum = java.util.Arrays.stream(micros).sum(), graphSum = java.util.Arrays.stream(inGraph).sum();
                System.out.printf("decode step (us): %.1f per step measured; %.1f in the replayed graph; %.1f with each kernel launched alone%n",
                        stepMicros, graphSum, sum);
                // a product's weights over its time in the graph: its share of the bandwidth, beside the copy bandwidth printed above
                System.out.println("task                              launches   alone us each   in graph us each   in graph us/step   of graph"
                        + "   weights MB/step   GB/s in graph");
                byName.forEach((name, row) -> System.out.printf("%-33s %8.0f %15.2f %18.2f %18.1f %9.1f%% %17s %15s%n", name, row[0],
                        row[1] / row[0], row[2] / row[0], row[2], 100 * row[2] / graphSum, row[3] == 0 ? "-" : String.format("%.1f", row[3] / 1e6),
                        row[3] == 0 ? "-" : String.format("%.0f", row[3] / (row[2] * 1e3))));
            }
        }

        /**
         * One row per batch size: aggregate tokens/s, against batch 1 and against the memory roofline of a step that
         * streams every weight once for all B rows plus each session's visible keys and values once per KV group.
         */
        private int batched(Model model, MemoryBandwidth.Result bandwidth) {
            long bytesPerStep = model.llama().weights().bytesPerDecodedToken();
            System.out.printf("batched decode, %s, %s attention, %d-token prompts, %d steps, best of %d; read bandwidth %.1f GB/s, %d threads%n",
                    model.directory().getFileName(), attention.mode, promptTokens, decodeTokens, rounds, bandwidth.readBytesPerSecond() / 1e9,
                    Parallel.threads());
            System.out.println("batch  products   tokens/s (all)   vs batch 1   KV MB/step   roofline tokens/s   of roofline");
            double single = Double.NaN;
            for (int b : batches) {
                for (String kind : products.kinds) {
                    Products.apply(model, kind);
                    var r = DecodeBenchmark.batched(model, b, attention.mode, promptTokens, decodeTokens, rounds);
                    if (Double.isNaN(single) && b == 1) single = r.tokensPerSecond();
                    double roofline = b * bandwidth.readBytesPerSecond() / (bytesPerStep + r.kvBytesPerStep());
                    System.out.printf("%5d  %-8s   %14.2f   %10s   %10.1f   %17.1f   %10.0f%%%n", b, kind, r.tokensPerSecond(),
                            Double.isNaN(single) ? "-" : String.format("%.2fx", r.tokensPerSecond() / single), r.kvBytesPerStep() / 1e6,
                            roofline, 100 * r.tokensPerSecond() / roofline);
                }
            }
            return 0;
        }
    }

    @Command(name = "kernels", description = "The matmul alone per storage format vs the read bandwidth.")
    static final class Kernels implements Callable<Integer> {
        @Override
        public Integer call() {
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
    }

    @Command(name = "attention", description = "Attention alone on Llama-3.2-1B shapes: KV bytes, decode-step and prefill attention time.")
    static final class Attention implements Callable<Integer> {
        @Option(names = "--modes", paramLabel = "MODE", split = ",", defaultValue = "dense,moa,uniform",
                description = "which attention (default: ${DEFAULT-VALUE}; uniform is 0 + 0.5 N)")
        List<String> modes;

        @Option(names = "--lengths", paramLabel = "N", split = ",", defaultValue = "4096,8192,16384", description = "context lengths (default: ${DEFAULT-VALUE})")
        List<Integer> lengths;

        @Mixin
        PlanFile plan;

        @Override
        public Integer call() throws Exception {
            var config = dev.moa.loader.config.ModelConfig.parse(com.google.gson.JsonParser.parseString(
                    "{\"model_type\":\"llama\",\"hidden_size\":2048,\"intermediate_size\":8192,\"num_hidden_layers\":16,"
                            + "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"head_dim\":64,\"vocab_size\":128256,"
                            + "\"max_position_embeddings\":131072}").getAsJsonObject(), "llama-3.2-1b attention shapes");
            Path planFile = plan.file();
            var moaPlan = dev.moa.plans.MoaPlan.load(planFile).validateFor(16, 32, "Llama-3.2-1B");
            var half = dev.moa.plans.MoaPlan.uniform(16, 32, new dev.moa.plans.ElasticRule(0, 0.5));
            int allowance = 1024;
            System.out.printf("attention only, Llama-3.2-1B shapes, %d threads; N = prompt + %d; moa plan %s%n", Parallel.threads(), allowance, planFile);
            System.out.println("length  mode          KV cache   vs dense   decode-step attention   prefill attention (all layers)");
            for (int length : lengths) {
                boolean prefill = length <= 4096; // dense prefill attention grows as N²: minutes beyond this on 2 cores
                var dense = dev.moa.runtime.bench.AttentionBenchmark.run(config, null, length, allowance, prefill);
                for (String mode : modes) {
                    var plan = switch (mode.trim()) {
                        case "dense" -> null;
                        case "moa" -> moaPlan;
                        case "uniform" -> half;
                        default -> throw new UsageException("bench attention: --modes are dense, moa, uniform, got '" + mode + "'");
                    };
                    var r = plan == null ? dense : dev.moa.runtime.bench.AttentionBenchmark.run(config, plan, length, allowance, prefill);
                    System.out.printf("%6d  %-8s  %9s   %6.1f%%   %8.1f ms (%5.1f%%)    %s%n", length, mode.trim(), InfoCommand.bytes(r.kvBytes()),
                            100.0 * r.kvBytes() / dense.kvBytes(), r.decodeMillis(), 100 * r.decodeMillis() / dense.decodeMillis(),
                            prefill ? String.format("%6.2f s (%5.1f%%)", r.prefillSeconds(), 100 * r.prefillSeconds() / dense.prefillSeconds()) : "(measured up to 4096)");
                }
            }
            return 0;
        }
    }

    @Command(name = "long-context", description = "Whole-model decode tokens/s at long contexts, dense vs MoA plan vs uniform.")
    static final class LongContext implements Callable<Integer> {
        @Option(names = "--model", paramLabel = "DIR", description = "a model folder (default: the synthetic Llama-3.2-1B-shaped model)")
        Path model;

        @Option(names = "--lengths", paramLabel = "N", split = ",", defaultValue = "4096,8192,16384", description = "context lengths (default: ${DEFAULT-VALUE})")
        List<Integer> lengths;

        @Option(names = "--decode-tokens", paramLabel = "N", defaultValue = "8", description = "decode steps, the best counts (default: ${DEFAULT-VALUE})")
        int steps;

        @Mixin
        PlanFile plan;

        @Mixin
        Options.Device device;

        @Option(names = "--batch", paramLabel = "B", split = ",", defaultValue = "1",
                description = "sessions stepped together at each length, for each B (default: ${DEFAULT-VALUE}; more than 1 needs --device cuda or emulator)")
        List<Integer> batches;

        @Mixin
        Products products;

        @Mixin
        Options.StepOptions stepOptions;

        @Option(names = "--kv-budget", paramLabel = "BYTES",
                description = "instead of --batch: each mode at the most sessions (up to 1024) whose KV caches fit BYTES together, e.g. 32G: "
                        + "MoA's smaller caches fit more sessions in the same memory (needs --device cuda or emulator)")
        String kvBudget;

        @Override
        public Integer call() throws Exception {
            Options.require(steps >= 1, "bench long-context: --decode-tokens must be positive");
            long budget = kvBudget == null ? 0 : ServeCommand.bytes(kvBudget, "--kv-budget");
            for (int b : batches) Options.require(b >= 1 && b <= 1024, "bench long-context: --batch sizes must be in 1..1024, got " + b);
            int allowance = 1024;
            var choice = device.choose();
            Options.require(batches.stream().allMatch(b -> b == 1) || choice.kind() != dev.moa.tasks.cuda.DeviceChoice.Kind.CPU,
                    "bench long-context: --batch above 1 runs on a device (--device cuda or emulator)");
            products.check("bench long-context", choice);
            stepOptions.check("bench long-context", choice);
            Options.require(kvBudget == null || choice.kind() != dev.moa.tasks.cuda.DeviceChoice.Kind.CPU,
                    "bench long-context: --kv-budget steps many sessions together: it runs on a device (--device cuda or emulator)");
            // the options first: they are checked in an instant, where finding the plan or making the preset model is not
            Path planFile = plan.file();
            Path dir = model != null ? model : materialize(Presets.LLAMA_3_2_1B);
            try (Model model = device.apply(ModelLoading.load(dir, choice, device.kvCache.format, device.precision))) {
                stepOptions.apply(model);
                var config = model.config();
                var moaPlan = dev.moa.plans.MoaPlan.load(planFile).validateFor(config.numLayers(), config.numHeads(), dir.toString());
                var half = dev.moa.plans.MoaPlan.uniform(config.numLayers(), config.numHeads(), new dev.moa.plans.ElasticRule(0, 0.5));
                System.out.printf("whole-model decode at long context on %s, %d threads; N = prompt + %d; best of %d steps; moa plan %s%n",
                        model.device(), Parallel.threads(), allowance, steps, planFile);
                System.out.println("length  batch  products  mode          KV cache   vs dense   decode tokens/s (all)   vs dense");
                for (int length : lengths) {
                    // each mode's cache is filled once per length and serves every batch size
                    var caches = new java.util.LinkedHashMap<String, dev.moa.runtime.model.KvCache>();
                    caches.put("dense", LongContextBenchmark.filled(config, null, length, allowance, device.kvCache.format));
                    caches.put("moa", LongContextBenchmark.filled(config, moaPlan, length, allowance, device.kvCache.format));
                    caches.put("uniform", LongContextBenchmark.filled(config, half, length, allowance, device.kvCache.format));
                    // with a KV budget, one pass where each mode takes the sessions its caches fit (-1 marks it)
                    for (int batch : budget > 0 ? List.of(-1) : batches) {
                        for (String kind : products.kinds) {
                            Products.apply(model, kind);
                            LongContextBenchmark.Result dense = null;
                            for (var entry : caches.entrySet()) {
                                int sessions = batch > 0 ? batch : LongContextBenchmark.sessionsWithin(budget, entry.getValue(), 1024);
                                var r = LongContextBenchmark.run(model, entry.getValue(), length, allowance, steps, sessions);
                                if (dense == null) dense = r;
                                System.out.printf("%6d  %5d  %-8s  %-8s  %9s   %6.1f%%   %14.2f          %6.2fx%n", length, sessions, kind, entry.getKey(),
                                        InfoCommand.bytes(r.kvBytes()), 100.0 * r.kvBytes() / dense.kvBytes(), r.decodeTokensPerSecond(),
                                        r.decodeTokensPerSecond() / dense.decodeTokensPerSecond());
                            }
                        }
                    }
                }
            }
            return 0;
        }
    }

    @Command(name = "serve", description = "A bounded load on moa serve over loopback: tokens/s, time to first token and inter-token latency "
            + "at each number of concurrent clients, per attention mode, against the same requests run one after another.")
    static final class Serve implements Callable<Integer> {
        @Mixin
        Target target;

        @Option(names = "--clients", paramLabel = "C", split = ",", defaultValue = "1,4,16,64", description = "concurrent clients (default: ${DEFAULT-VALUE})")
        List<Integer> clients;

        @Option(names = "--requests", paramLabel = "R", defaultValue = "2", description = "streamed requests per client, one after another (default: ${DEFAULT-VALUE})")
        int requests;

        @Option(names = "--prompt-tokens", paramLabel = "N", defaultValue = "128", description = "prompt tokens per request (default: ${DEFAULT-VALUE})")
        int promptTokens;

        @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "64", description = "new tokens per request at most (default: ${DEFAULT-VALUE})")
        int maxTokens;

        @Option(names = "--attention", paramLabel = "MODES", defaultValue = "dense", split = ";",
                description = "attention modes to compare, separated by ';' (default: ${DEFAULT-VALUE})")
        List<String> modes;

        @Option(names = "--serial", negatable = true, defaultValue = "true", fallbackValue = "true",
                description = "also run the requests one after another as moa generate would (default: on)")
        boolean serial;

        @Mixin
        Options.Device device;

        @Override
        public Integer call() throws Exception {
            for (int c : clients) Options.require(c >= 1 && c <= 1024, "bench serve: --clients must be in 1..1024, got " + c);
            Options.require(requests >= 1 && requests <= 1000, "bench serve: --requests must be in 1..1000, got " + requests);
            Options.require(promptTokens >= 1 && maxTokens >= 1, "bench serve: --prompt-tokens and --max-tokens must be positive");
            List<AttentionMode> attentions = modes.stream().map(AttentionMode::parse).toList();
            try (Model model = ModelLoading.load(target.dir(), device)) {
                Options.require((long) promptTokens + maxTokens <= model.config().maxPositions(), "bench serve: prompt + max tokens pass the model's context");
                System.out.printf("moa serve under load: %s on %s, %d threads; %d-token prompts, up to %d new tokens, %d requests per client%n",
                        model.directory().getFileName(), model.device(), Parallel.threads(), promptTokens, maxTokens, requests);
                System.out.println("attention   clients  requests  tokens/s (all)  vs serial  peak batch  TTFT p50/p90/p99 ms      inter-token p50/p90/p99 ms");
                // the JIT compiles the hot paths first: a short serial run and a short load, not counted
                dev.moa.runtime.bench.ServeBenchmark.serial(model, attentions.getFirst(), 2, promptTokens, maxTokens);
                dev.moa.runtime.bench.ServeBenchmark.load(model, attentions.getFirst(), 4, 1, promptTokens, maxTokens, Runtime.getRuntime().maxMemory() / 4);
                for (AttentionMode attention : attentions) {
                    String name = attention.label();
                    double serialRate = Double.NaN;
                    if (serial) {
                        int n = Math.min(8, requests * clients.stream().mapToInt(Integer::intValue).max().orElse(1));
                        serialRate = dev.moa.runtime.bench.ServeBenchmark.serial(model, attention, n, promptTokens, maxTokens);
                        System.out.printf("%-10s  serial: %d requests one after another through moa generate's loop: %.1f tokens/s%n", name, n, serialRate);
                    }
                    for (int c : clients) {
                        var r = dev.moa.runtime.bench.ServeBenchmark.load(model, attention, c, requests, promptTokens, maxTokens, Runtime.getRuntime().maxMemory() / 4);
                        System.out.printf("%-10s  %7d  %8d  %14.1f  %9s  %10d  %6.0f / %6.0f / %6.0f   %6.1f / %6.1f / %6.1f%n", name, c, r.requests(),
                                r.tokensPerSecond(), serial ? String.format("%.2fx", r.tokensPerSecond() / serialRate) : "-", r.peakBatch(), r.ttftMs()[0], r.ttftMs()[1], r.ttftMs()[2],
                                r.itlMs()[0], r.itlMs()[1], r.itlMs()[2]);
                    }
                }
            }
            return 0;
        }
    }

    @Command(name = "prefill", description = "Whole-model prefill tokens/s at each prompt length, dense vs MoA plan vs uniform 50 %%.")
    static final class Prefill implements Callable<Integer> {
        @Option(names = "--model", paramLabel = "DIR", description = "a model folder (default: the synthetic Llama-3.2-1B-shaped model)")
        Path model;

        @Option(names = "--lengths", paramLabel = "N", split = ",", defaultValue = "2048,8192", description = "prompt lengths (default: ${DEFAULT-VALUE})")
        List<Integer> lengths;

        @Option(names = "--rounds", paramLabel = "R", defaultValue = "2", description = "prefills per length and mode, the best counts (default: ${DEFAULT-VALUE})")
        int rounds;

        @Mixin
        PlanFile plan;

        @Mixin
        Options.Device device;

        @Override
        public Integer call() throws Exception {
            Options.require(rounds >= 1 && rounds <= 100, "bench prefill: --rounds must be in 1..100");
            Path dir = model != null ? model : materialize(Presets.LLAMA_3_2_1B);
            int allowance = 1024;
            try (Model model = ModelLoading.load(dir, device)) {
                var config = model.config();
                for (int n : lengths) Options.require(n >= 1 && (long) n + allowance <= config.maxPositions(), "bench prefill: lengths must fit the context with " + allowance + " to spare");
                List<AttentionMode> modes = List.of(new AttentionMode.Dense(), AttentionMode.parse("moa:" + plan.file()), AttentionMode.parse("uniform:0,0.5"));
                System.out.printf("whole-model prefill on %s, %d threads; N = prompt + %d; best of %d; moa plan %s%n", model.device(), Parallel.threads(),
                        allowance, rounds, plan.file());
                System.out.println("length  mode       prefill s   tokens/s   vs dense");
                for (int n : lengths) {
                    int[] prompt = new java.util.SplittableRandom(n).ints(n, 3, Math.min(config.vocabSize(), 32000)).toArray();
                    double dense = Double.NaN;
                    for (AttentionMode mode : modes) {
                        double best = Double.POSITIVE_INFINITY;
                        for (int r = 0; r < rounds; r++) {
                            try (var session = model.newSession(n + allowance, dev.moa.runtime.model.LlamaModel.DEFAULT_CHUNK, mode, allowance)) {
                                long start = System.nanoTime();
                                session.prefill(prompt);
                                best = Math.min(best, (System.nanoTime() - start) / 1e9);
                            }
                        }
                        if (Double.isNaN(dense)) dense = best;
                        String name = mode.toString().startsWith("moa:") ? "moa" : mode.toString().startsWith("uniform") ? "uniform" : "dense";
                        System.out.printf("%6d  %-8s  %9.3f  %9.1f   %6.2fx%n", n, name, best, n / best, dense / best);
                    }
                }
            }
            return 0;
        }
    }

    @Command(name = "profile", description = "One profiling pass (forward + backward with influence) against one forward pass.")
    static final class Profile implements Callable<Integer> {
        @Mixin
        Target target;

        @Option(names = "--lengths", paramLabel = "N", split = ",", defaultValue = "2048", description = "sample lengths (default: ${DEFAULT-VALUE})")
        List<Integer> lengths;

        @Override
        public Integer call() throws Exception {
            Path dir = target.dir();
            try (Model model = ModelLoading.load(dir)) {
                for (int length : lengths) {
                    var r = dev.moa.runtime.bench.ProfileBenchmark.run(model, length, System.err);
                    System.out.printf(java.util.Locale.ROOT, "profile %s at %d tokens: %.1f s per sample (forward + backward + influence) vs %.1f s "
                                    + "for a dense forward (%.1fx); heap peak %.0f MiB, buffers %.0f MiB (%d threads)%n", dir.getFileName(), length,
                            r.profileSeconds(), r.forwardSeconds(), r.profileSeconds() / r.forwardSeconds(), r.peakHeapBytes() / 1048576.0,
                            r.bufferBytes() / 1048576.0, Parallel.threads());
                }
            }
            return 0;
        }
    }

    @Command(name = "optimizer", description = "The plan optimiser's sweep at the reference's size on synthetic loss tables.")
    static final class Optimizer implements Callable<Integer> {
        @Option(names = "--layers", paramLabel = "L", defaultValue = "32", description = "layers of the synthetic problem (default: ${DEFAULT-VALUE})")
        int layers;

        @Option(names = "--heads", paramLabel = "H", defaultValue = "32", description = "query heads per layer (default: ${DEFAULT-VALUE})")
        int heads;

        @Option(names = "--kv-heads", paramLabel = "G", defaultValue = "8", description = "KV heads per layer (default: ${DEFAULT-VALUE})")
        int kvHeads;

        @Mixin
        CompressCommands.CostOption cost;

        @Option(names = "--time-limit", paramLabel = "S", defaultValue = "10", description = "seconds per solve (default: ${DEFAULT-VALUE})")
        double timeLimit;

        @Override
        public Integer call() {
            Options.require(layers >= 1 && heads >= 1 && kvHeads >= 1 && heads % kvHeads == 0, "bench optimizer: --heads must be a multiple of --kv-heads, all positive");
            Options.require(timeLimit > 0, "bench optimizer: --time-limit must be positive");
            var r = dev.moa.runtime.bench.OptimizerBenchmark.run(layers, heads, kvHeads, cost.model, timeLimit, System.err);
            System.out.printf(java.util.Locale.ROOT, "optimizer: %d layers x %d heads (%d KV heads), 48 rules, 3 objectives, %s cost: %d solves in %.1f s, "
                            + "%d proven optimal, largest gap %.2f%%, %d Pareto plans (%d threads)%n", layers, heads, kvHeads, cost.model.name().toLowerCase(java.util.Locale.ROOT),
                    r.solves(), r.seconds(), r.optimal(), 100 * r.maxGap(), r.paretoPlans(), Runtime.getRuntime().availableProcessors());
            return 0;
        }
    }

    @Command(name = "sampling", description = "What choosing a token costs on the host (temperature, top-k, top-p) against greedy's argmax pass.")
    static final class Sampling implements Callable<Integer> {
        @Option(names = "--vocab", paramLabel = "N", defaultValue = "128256", description = "vocabulary size (default: ${DEFAULT-VALUE}, Llama 3's)")
        int vocab;

        @Option(names = "--draws", paramLabel = "N", defaultValue = "2000", description = "tokens drawn per round, best of 5 rounds (default: ${DEFAULT-VALUE})")
        int draws;

        @Override
        public Integer call() {
            Options.require(vocab >= 1 && vocab <= 16_000_000, "bench sampling: --vocab must be in 1..16000000, got " + vocab);
            Options.require(draws >= 1 && draws <= 1_000_000, "bench sampling: --draws must be in 1..1000000, got " + draws);
            var rows = dev.moa.runtime.bench.SamplingBenchmark.run(vocab, draws);
            double floor = rows.getFirst().micros();
            for (var r : rows) {
                System.out.printf(java.util.Locale.ROOT, "sampling %s: %.1f us per token (%.1fx argmax), vocabulary %d%n", r.name(), r.micros(),
                        r.micros() / floor, vocab);
            }
            return 0;
        }
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
