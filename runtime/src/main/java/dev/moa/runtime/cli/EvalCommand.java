package dev.moa.runtime.cli;

import com.google.gson.GsonBuilder;
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
import java.util.Set;

/**
 * {@code moa eval retrieval | ppl}: LongEval retrieval accuracy (table, heatmap PNG, JSON) and perplexity or
 * answer-token loss, under any attention mode, on any model.
 */
final class EvalCommand {
    static final String USAGE = "eval: usage: moa eval retrieval --model DIR [--attention MODE] [--lengths 1024,2048,4096]"
            + " [--samples-per-bin K] [--seed S] [--heatmap FILE.png] [--json FILE|-]\n"
            + "       moa eval ppl --model DIR [--attention MODE] (--file TEXT --length L [--windows N] | --pairs FILE.jsonl) [--json FILE|-]";

    int run(String[] argv) throws Exception {
        if (argv.length < 2) throw new UsageException(USAGE);
        return switch (argv[1]) {
            case "retrieval" -> retrieval(new Args("eval retrieval", argv, 2,
                    Set.of("model", "attention", "lengths", "samples-per-bin", "seed", "heatmap", "json"), Set.of()));
            case "ppl" -> perplexity(new Args("eval ppl", argv, 2,
                    Set.of("model", "attention", "file", "length", "windows", "pairs", "json"), Set.of()));
            default -> throw new UsageException("eval: unknown evaluation '" + argv[1] + "'\n" + USAGE);
        };
    }

    private int retrieval(Args args) throws IOException {
        AttentionMode attention = GenerateCommand.attention(args);
        RetrievalEval.Settings settings;
        try {
            settings = new RetrievalEval.Settings(lengths(args.string("lengths", "1024,2048,4096")),
                    args.integer("samples-per-bin", 2), attention, args.longValue("seed", 1));
        } catch (IllegalArgumentException e) {
            throw new UsageException("eval retrieval: " + e.getMessage());
        }
        Path heatmap = OutputPaths.file("--heatmap", args.has("heatmap") ? Path.of(args.required("heatmap")) : defaultHeatmap(args, attention));
        checkJson(args);
        try (Model model = ModelLoading.load(Path.of(args.required("model")))) {
            RetrievalEval.Result result = RetrievalEval.run(model, settings, System.err);
            System.out.print(result.table());
            AccuracyHeatmap.write(result, heatmap);
            System.out.println("heatmap: " + heatmap.toAbsolutePath());
            writeJson(args, result.toJson());
        }
        return 0;
    }

    private int perplexity(Args args) throws IOException {
        AttentionMode attention = GenerateCommand.attention(args);
        boolean text = args.has("file"), pairs = args.has("pairs");
        if (text == pairs) throw new UsageException("eval ppl: give exactly one of --file TEXT (with --length L) or --pairs FILE.jsonl");
        checkJson(args);
        try (Model model = ModelLoading.load(Path.of(args.required("model")))) {
            Perplexity.Loss loss;
            if (text) {
                int length = args.integer("length", 0);
                if (length < 2) throw new UsageException("eval ppl: --length L (tokens per window, >= 2) is required with --file");
                String content = InputFiles.readText(Path.of(args.required("file")), InputFiles.TEXT);
                loss = Perplexity.ofText(model, attention, content, length, args.integer("windows", Integer.MAX_VALUE), System.err);
                System.out.printf("perplexity %.4f (mean loss %.4f nats) over %d tokens in %d windows of %d, %s attention%n",
                        loss.perplexity(), loss.meanLoss(), loss.tokens(), loss.sequences(), length, attention);
            } else {
                loss = Perplexity.ofAnswers(model, attention, readPairs(Path.of(args.required("pairs"))), System.err);
                System.out.printf("answer-token loss %.4f nats (perplexity %.4f) over %d answer tokens of %d pairs, %s attention%n",
                        loss.meanLoss(), loss.perplexity(), loss.tokens(), loss.sequences(), attention);
            }
            writeJson(args, loss.toJson());
        } catch (IllegalArgumentException e) {
            throw new UsageException("eval ppl: " + e.getMessage());
        }
        return 0;
    }

    /** Beside the --json file when there is one (same name, .png), else under the CLI's home, not the working directory. */
    private static Path defaultHeatmap(Args args, AttentionMode attention) {
        String json = args.string("json", "-");
        if (!json.equals("-")) return Path.of(json.replaceFirst("\\.json$", "") + ".png");
        return Presets.home().resolve("eval").resolve("retrieval-" + fileSafe(attention) + ".png");
    }

    static List<Integer> lengths(String list) {
        List<Integer> lengths = new ArrayList<>();
        for (String part : list.split(",")) {
            try {
                lengths.add(Integer.parseInt(part.strip()));
            } catch (NumberFormatException e) {
                throw new UsageException("eval: --lengths must be integers separated by commas, got '" + part + "'");
            }
        }
        return lengths;
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
    private static void checkJson(Args args) {
        String target = args.string("json", null);
        if (target != null && !target.equals("-")) OutputPaths.file("--json", Path.of(target));
    }

    private static void writeJson(Args args, JsonObject json) throws IOException {
        String target = args.string("json", null);
        if (target == null) return;
        String text = new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create().toJson(json);
        if (target.equals("-")) {
            System.out.println(text);
        } else {
            Files.writeString(Path.of(target), text + "\n");
            System.out.println("json: " + Path.of(target).toAbsolutePath());
        }
    }

    private static String fileSafe(AttentionMode attention) {
        String name = attention.toString();
        int slash = Math.max(name.lastIndexOf('/'), name.lastIndexOf(java.io.File.separatorChar));
        if (slash >= 0) name = name.substring(0, name.indexOf(':') + 1) + name.substring(slash + 1);
        return name.replaceAll("[^A-Za-z0-9.]+", "_");
    }
}
