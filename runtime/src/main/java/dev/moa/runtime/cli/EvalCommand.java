package dev.moa.runtime.cli;

import com.google.gson.JsonObject;
import dev.moa.loader.io.InputFiles;
import dev.moa.loader.json.StrictJson;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.eval.AccuracyHeatmap;
import dev.moa.runtime.eval.Perplexity;
import dev.moa.runtime.eval.RetrievalEval;
import dev.moa.runtime.synthetic.Presets;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code moa eval retrieval | ppl}: LongEval retrieval accuracy (table, heatmap PNG, JSON) and perplexity or
 * answer-token loss, under any attention mode, on any model.
 */
@Command(name = "eval", description = "Evaluations under any attention mode.", subcommands = {EvalCommand.Retrieval.class, EvalCommand.Ppl.class})
final class EvalCommand {
    @Command(name = "retrieval", description = "LongEval key-value retrieval accuracy by length x key position (table + PNG heatmap).")
    static final class Retrieval implements Callable<Integer> {
        @Mixin
        Options.ModelDir model;

        @Mixin
        Options.Attention attention;

        @Mixin
        Options.Device device;

        @Option(names = "--lengths", paramLabel = "N", split = ",", defaultValue = "1024,2048,4096", description = "prompt lengths in tokens (default: ${DEFAULT-VALUE})")
        List<Integer> lengths;

        @Option(names = "--samples-per-bin", paramLabel = "K", defaultValue = "2", description = "records per (length, key decile) cell (default: ${DEFAULT-VALUE})")
        int samplesPerBin;

        @Option(names = "--seed", paramLabel = "S", defaultValue = "1", description = "random seed of the records (default: ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--heatmap", paramLabel = "FILE.png", description = "the accuracy grid (default: beside --json, else under ~/.cache/moa-java/eval)")
        Path heatmap;

        @Mixin
        Options.Json json;

        @Override
        public Integer call() throws Exception {
            RetrievalEval.Settings settings;
            try {
                settings = new RetrievalEval.Settings(lengths, samplesPerBin, attention.mode, seed);
            } catch (IllegalArgumentException e) {
                throw new UsageException("eval retrieval: " + e.getMessage());
            }
            json.check(); // first: the default heatmap goes beside it
            Path png = OutputPaths.file("--heatmap", heatmap != null ? heatmap : defaultHeatmap(json.target, attention.mode));
            try (Model loaded = ModelLoading.load(model.dir, device)) {
                RetrievalEval.Result result = RetrievalEval.run(loaded, settings, System.err);
                System.out.print(result.table());
                AccuracyHeatmap.write(result, png);
                System.out.println("heatmap: " + png.toAbsolutePath());
                json.write(result.toJson());
            }
            return 0;
        }
    }

    @Command(name = "ppl", description = "Perplexity of a text in windows, or loss on the answer tokens of prompt/answer pairs.")
    static final class Ppl implements Callable<Integer> {
        @Mixin
        Options.ModelDir model;

        @Mixin
        Options.Attention attention;

        @Mixin
        Options.Device device;

        @ArgGroup(multiplicity = "1")
        Input input;

        @Mixin
        Options.Json json;

        /** A text in windows, or prompt/answer pairs. */
        static final class Input {
            @ArgGroup(exclusive = false)
            Text text;

            @Option(names = "--pairs", required = true, paramLabel = "FILE.jsonl", description = "one {\"prompt\": ..., \"answer\": ...} per line")
            Path pairs;
        }

        static final class Text {
            @Option(names = "--file", required = true, paramLabel = "TEXT", description = "a UTF-8 text")
            Path file;

            @Option(names = "--length", required = true, paramLabel = "L", description = "tokens per window (>= 2)")
            int length;

            @Option(names = "--windows", paramLabel = "N", defaultValue = "" + Integer.MAX_VALUE, description = "at most N windows (default: all)")
            int windows;
        }

        @Override
        public Integer call() throws Exception {
            json.check();
            // inputs are read and checked before the model loads
            String content = null;
            List<Perplexity.Pair> pairs = null;
            if (input.text != null) {
                Options.require(input.text.length >= 2, "eval ppl: --length L (tokens per window) must be at least 2, got " + input.text.length);
                Options.require(input.text.windows >= 1, "eval ppl: --windows must be at least 1");
                content = Options.readTextArgument(input.text.file.toString(), "--file");
            } else {
                pairs = readPairs(input.pairs);
            }
            try (Model loaded = ModelLoading.load(model.dir, device)) {
                Perplexity.Loss loss;
                AttentionMode mode = attention.mode;
                if (content != null) {
                    int length = input.text.length;
                    loss = Perplexity.ofText(loaded, mode, content, length, input.text.windows, System.err);
                    System.out.printf("perplexity %.4f (mean loss %.4f nats) over %d tokens in %d windows of %d, %s attention%n",
                            loss.perplexity(), loss.meanLoss(), loss.tokens(), loss.sequences(), length, mode);
                } else {
                    loss = Perplexity.ofAnswers(loaded, mode, pairs, System.err);
                    System.out.printf("answer-token loss %.4f nats (perplexity %.4f) over %d answer tokens of %d pairs, %s attention%n",
                            loss.meanLoss(), loss.perplexity(), loss.tokens(), loss.sequences(), mode);
                }
                json.write(loss.toJson());
            } catch (IllegalArgumentException e) {
                throw new UsageException("eval ppl: " + e.getMessage());
            }
            return 0;
        }
    }

    /** Beside the --json file when there is one (same name, .png), else under the CLI's home, not the working directory. */
    private static Path defaultHeatmap(String json, AttentionMode attention) {
        if (json != null && !json.equals("-")) return Path.of(json.replaceFirst("\\.json$", "") + ".png");
        return Presets.home().resolve("eval").resolve("retrieval-" + fileSafe(attention) + ".png");
    }

    /** One JSON object per line: {"prompt": "...", "answer": "..."}. */
    static List<Perplexity.Pair> readPairs(Path file) throws IOException {
        List<Perplexity.Pair> pairs = new ArrayList<>();
        String[] lines = InputFiles.readText(file, InputFiles.TEXT).split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].isBlank()) continue;
            String where = file + " line " + (i + 1);
            try {
                JsonObject o = StrictJson.parseObjectLine(lines[i]);
                for (String field : List.of("prompt", "answer")) {
                    if (!o.has(field) || !o.get(field).isJsonPrimitive() || !o.get(field).getAsJsonPrimitive().isString()) {
                        throw new UsageException(where + ": field \"" + field + "\" must be a string");
                    }
                }
                pairs.add(new Perplexity.Pair(o.get("prompt").getAsString(), o.get("answer").getAsString()));
            } catch (StrictJson.Error e) {
                throw new UsageException(where + ": " + e.getMessage() + "; each line must be a JSON object {\"prompt\": ..., \"answer\": ...}");
            }
        }
        if (pairs.isEmpty()) throw new UsageException(file + ": no prompt/answer pairs");
        return pairs;
    }

    /** Checks the {@code --json} file (unless it is "-", standard output) before the work starts. */
    private static String fileSafe(AttentionMode attention) {
        String name = attention.toString();
        int slash = Math.max(name.lastIndexOf('/'), name.lastIndexOf(java.io.File.separatorChar));
        if (slash >= 0) name = name.substring(0, name.indexOf(':') + 1) + name.substring(slash + 1);
        return name.replaceAll("[^A-Za-z0-9.]+", "_");
    }
}
