package dev.moa.runtime.cli;

import dev.moa.tasks.cpu.Parallel;
import dev.moa.tasks.cpu.ThreadCount;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code moa COMMAND [options]}. Errors are one line on stderr and a non-zero exit; {@code --debug} adds the
 * stack trace.
 */
public final class Main {
    static final String USAGE = """
            usage: moa COMMAND [options]

            commands:
              demo                      generate on the embedded default model (created deterministically on first use)
              generate --model DIR --prompt TEXT [--chat] [--system TEXT] [--max-tokens N] [--temperature T]
                       [--top-k K] [--top-p P] [--seed S] [--stop TEXT]... [--truncate] [--attention MODE]
                                        stream a continuation to stdout; statistics to stderr
              forward --model DIR --tokens "ID ID ..." [--json] [--attention MODE] [--max-tokens N]
                                        logits of the last position for exactly these token ids (no BOS added)
              info --model DIR          architecture, parameter count, dtypes, memory needed
              plan show --plan FILE --model DIR --length N [--out FILE.svg]
                                        a MoA plan's spans, density and KV memory per layer, and a heatmap
              eval retrieval --model DIR [--attention MODE] [--lengths 1024,2048,4096] [--samples-per-bin K]
                       [--seed S] [--heatmap FILE.png] [--json FILE|-]
                                        LongEval key-value retrieval accuracy by length x key position (table + PNG)
              eval ppl --model DIR [--attention MODE] (--file TEXT --length L [--windows N] | --pairs FILE.jsonl)
                       [--json FILE|-]  perplexity of a text, or loss on the answer tokens of prompt/answer pairs
              compress --model DIR --density RHO --out DIR [--lengths ...] [--samples K] [--corpus FILE]... [--task NAME]...
                                        find a MoA plan for a model: calibrate, profile, optimize and validate with
                                        defaults for its context; a report, the plan (plan.json) and its heatmap
              calibrate --model DIR --lengths 1024,2048 --samples K --out DIR [--corpus FILE]... [--task NAME]... [--seed S]
                                        long prompts (passkey, verse, records, summary) answered by the model itself
              profile --model DIR --calibration DIR --out DIR [--lengths ...] [--samples K]
                                        attention influence per layer, head and 64x64 block (one forward + backward each)
              optimize --profile DIR --density RHO --out DIR [--lengths ...] [--extend N,...] [--cost groups|heads]
                                        the Pareto plans of the influence maps under the density (OR-Tools), PNG of the front
              validate --model DIR --plans DIR --length L --calibration DIR
                                        answer-token loss of each plan at an unprofiled length; writes the best as plan.json
              kernels --list | --print NAME [--target sm_80|sm_90] | --check [--device auto|cpu|cuda]
                                        the Java GPU kernels; a kernel's generated PTX and ptxas's resource report;
                                        a checked task-graph run on the GPU (auto: the CPU emulator, saying why)
              bench [--preset llama-3.2-1b|tiny] [--prompt-tokens N] [--decode-tokens N] [--rounds R] [--torch]
                                        prefill/decode tokens/s vs the memory-bandwidth roofline (and PyTorch)
              bench --kernels           the matmul alone per storage format vs read bandwidth
              bench --attention dense,moa,uniform [--lengths 4096,8192,16384] [--plan FILE]
                                        attention alone: KV bytes, decode and prefill attention time
              bench --long-context [--lengths ...] [--plan FILE]
                                        whole-model decode tokens/s at long contexts, dense vs MoA vs uniform

            attention modes: dense (default), moa:PLAN.json, uniform:ALPHA,BETA (StreamingLLM: uniform:0,0.5), window:W
            common options: --threads N (default: all cores), --debug (stack traces)
            """;

    private Main() {
    }

    public static void main(String[] argv) throws Exception {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            System.exit(relaunchWithVectorModule(argv));
        }
        System.setOut(new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8));
        boolean debug = Arrays.asList(argv).contains("--debug");
        String[] args = Arrays.stream(argv).filter(a -> !a.equals("--debug")).toArray(String[]::new);
        try {
            System.exit(run(args));
        } catch (UsageException e) {
            System.err.println("moa: " + e.getMessage());
            System.exit(2);
        } catch (OutOfMemoryError e) {
            System.err.println("moa: out of memory (" + e.getMessage() + "); raise the heap with MOA_HEAP=16g or shorten the context");
            if (debug) e.printStackTrace();
            System.exit(1);
        } catch (Exception e) {
            System.err.println("moa: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            if (debug) e.printStackTrace();
            System.exit(1);
        }
    }

    /**
     * A jar manifest cannot add modules, so plain {@code java -jar moa.jar} starts without the Vector API; rerun
     * the same JVM binary with the flags the launcher would have passed, and mirror its exit code.
     */
    private static int relaunchWithVectorModule(String[] argv) throws Exception {
        String javaBinary = ProcessHandle.current().info().command().orElse("java");
        String jar = Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        List<String> command = new ArrayList<>(List.of(javaBinary, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-XX:MaxRAMPercentage=70", "-cp", jar, Main.class.getName()));
        command.addAll(Arrays.asList(argv));
        return new ProcessBuilder(command).inheritIO().start().waitFor();
    }

    static int run(String[] args) throws Exception {
        checkEnvironment(System.getenv());
        String[] rest = extractThreads(args);
        if (rest.length == 0) return new DemoCommand().run(rest);
        String command = rest[0];
        return switch (command) {
            case "demo" -> new DemoCommand().run(rest);
            case "generate" -> new GenerateCommand().run(rest);
            case "forward" -> new ForwardCommand().run(rest);
            case "info" -> new InfoCommand().run(rest);
            case "bench" -> new BenchCommand().run(rest);
            case "plan" -> new PlanCommand().run(rest);
            case "eval" -> new EvalCommand().run(rest);
            case "kernels" -> new KernelsCommand().run(rest);
            case "calibrate" -> new CompressCommands().calibrate(rest);
            case "profile" -> new CompressCommands().profile(rest);
            case "optimize" -> new CompressCommands().optimize(rest);
            case "validate" -> new CompressCommands().validate(rest);
            case "compress" -> new CompressCommands().compress(rest);
            case "help", "--help", "-h" -> {
                System.out.print(USAGE);
                yield 0;
            }
            default -> throw new UsageException("unknown command '" + command + "'\n" + USAGE);
        };
    }

    /**
     * Environment values are checked before anything reads them: a bad MOA_THREADS would otherwise surface as an
     * error while the thread pool is first built, or not at all in a command that never starts it.
     */
    static void checkEnvironment(java.util.Map<String, String> env) {
        String threads = env.get("MOA_THREADS");
        try {
            if (threads != null && !threads.isBlank()) ThreadCount.parse(threads, "MOA_THREADS");
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage() + " (unset, it means all cores)");
        }
    }

    /** {@code --threads N} applies to every command: it sizes the kernel thread pool. */
    private static String[] extractThreads(String[] args) {
        var kept = new ArrayList<String>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--threads") || args[i].startsWith("--threads=")) {
                String value = args[i].contains("=") ? args[i].substring(args[i].indexOf('=') + 1)
                        : (i + 1 < args.length ? args[++i] : null);
                try {
                    Parallel.setThreads(ThreadCount.parse(value, "--threads"));
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
            } else {
                kept.add(args[i]);
            }
        }
        return kept.toArray(String[]::new);
    }
}
