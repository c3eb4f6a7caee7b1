package dev.moa.runtime.profile;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.MoaPlan;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.eval.Perplexity;
import dev.moa.runtime.model.HeadSpans;
import dev.moa.runtime.model.MoaKvCache;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * {@code moa validate}: the answer-token loss of every Pareto plan on calibration samples of a length that was not
 * profiled (the reference validates 2k/4k/8k plans at 12k), each sequence scored in one block-sparse prefill with
 * N = its length; the plan with the lowest loss is the final plan ({@code plan.json}). Plans whose spans agree on
 * every sample are one plan to this measurement and are scored once.
 */
public final class Validation {
    /** One plan's measured answer loss (nats per answer token) and its KV share at the validation length. */
    public record Scored(String name, Path file, double loss, double kvShare) {
    }

    /** Dense loss, every plan's, and the chosen one. */
    public record Result(int length, int samples, long answerTokens, double denseLoss, List<Scored> plans, Scored best) {
    }

    private Validation() {
    }

    /** The plans of an optimize directory ({@code plans/plan-NN.json}), or the plan files of a directory. */
    public static List<Path> planFiles(Path dir) throws IOException {
        Path plans = Files.isDirectory(dir.resolve(PlanSearch.PLANS)) ? dir.resolve(PlanSearch.PLANS) : dir;
        if (!Files.isDirectory(plans)) throw new IllegalArgumentException(dir + ": not a directory of plans");
        try (var list = Files.list(plans)) {
            List<Path> files = list.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList();
            if (files.isEmpty()) throw new IllegalArgumentException(plans + ": no plan files (*.json); run moa optimize");
            return files;
        }
    }

    public static Result run(Model model, List<Path> planFiles, List<Calibration.Sample> samples, int length, Path out, PrintStream progress)
            throws IOException {
        if (samples.isEmpty()) throw new IllegalArgumentException("no calibration samples of length " + length + " to validate on");
        ModelConfig c = model.config();
        TreeSet<Integer> sampleLengths = new TreeSet<>();
        samples.forEach(s -> sampleLengths.add(s.tokens().length));
        long answerTokens = samples.stream().mapToLong(Calibration.Sample::answerTokens).sum();

        // distinct span configurations over the samples' lengths
        Map<String, Integer> firstWithSpans = new HashMap<>();
        List<MoaPlan> plans = new ArrayList<>();
        for (Path f : planFiles) plans.add(MoaPlan.load(f).validateFor(c.numLayers(), c.numHeads(), model.directory().toString()));
        int[] representative = new int[plans.size()];
        for (int i = 0; i < plans.size(); i++) {
            StringBuilder key = new StringBuilder();
            for (int n : sampleLengths) key.append(Arrays.deepToString(HeadSpans.of(plans.get(i), n).local()));
            representative[i] = firstWithSpans.computeIfAbsent(key.toString(), k -> plans.size());
        }
        int distinct = (int) Arrays.stream(representative).filter(r -> r == plans.size()).count();
        for (int i = 0; i < plans.size(); i++) if (representative[i] == plans.size()) representative[i] = i;

        Progress bar = new Progress(progress, "validate " + length, (distinct + 1) * samples.size(), 0);
        int[] step = {0};
        double dense = loss(model, new AttentionMode.Dense(), samples, answerTokens, bar, step, "dense");
        double[] losses = new double[plans.size()];
        List<Scored> scored = new ArrayList<>();
        for (int i = 0; i < plans.size(); i++) {
            MoaPlan plan = plans.get(i);
            String name = planFiles.get(i).getFileName().toString().replaceAll("\\.json$", "");
            losses[i] = representative[i] == i
                    ? loss(model, new AttentionMode.Sparse("moa:" + planFiles.get(i), config -> plan), samples, answerTokens, bar, step, name)
                    : losses[representative[i]];
            scored.add(new Scored(name, planFiles.get(i), losses[i], kvShare(c, plan, length)));
        }
        Scored best = scored.stream().min((a, b) -> a.loss() != b.loss() ? Double.compare(a.loss(), b.loss()) : Double.compare(a.kvShare(), b.kvShare()))
                .orElseThrow();
        Result result = new Result(length, samples.size(), answerTokens, dense, scored, best);
        if (out != null) write(result, out);
        return result;
    }

    /** Mean answer-token loss over the samples under one attention mode. */
    static double loss(Model model, AttentionMode attention, List<Calibration.Sample> samples, long answerTokens, Progress bar, int[] step,
                       String name) {
        double nll = 0;
        for (Calibration.Sample s : samples) {
            nll += Perplexity.sequenceLoss(model, attention, s.tokens(), s.answerStart());
            bar.step(++step[0], String.format(Locale.ROOT, "%s: loss so far %.4f", name, nll / answerTokens));
        }
        return nll / answerTokens;
    }

    /** KV bytes the plan's cache allocates at total length n, as a share of the dense cache's. */
    public static double kvShare(ModelConfig c, MoaPlan plan, int n) {
        return MoaKvCache.byteSize(c, HeadSpans.of(plan, n)) / (double) denseBytes(c, n);
    }

    public static long denseBytes(ModelConfig c, int n) {
        return 2L * c.numLayers() * c.numKvHeads() * n * c.headDim() * Float.BYTES;
    }

    static void write(Result r, Path out) throws IOException {
        Files.createDirectories(out);
        Files.copy(r.best().file(), out.resolve("plan.json"), StandardCopyOption.REPLACE_EXISTING);
        JsonObject o = new JsonObject();
        o.addProperty("length", r.length());
        o.addProperty("samples", r.samples());
        o.addProperty("answer_tokens", r.answerTokens());
        o.addProperty("dense_loss", r.denseLoss());
        o.addProperty("best", r.best().name());
        JsonArray plans = new JsonArray();
        for (Scored s : r.plans()) {
            JsonObject p = new JsonObject();
            p.addProperty("plan", s.name());
            p.addProperty("loss", s.loss());
            p.addProperty("loss_increase", s.loss() - r.denseLoss());
            p.addProperty("kv_share", s.kvShare());
            plans.add(p);
        }
        o.add("plans", plans);
        Files.writeString(out.resolve("validation.json"), new GsonBuilder().setPrettyPrinting().create().toJson(o) + "\n");
    }

    /** The validation as a table. */
    public static String table(Result r) {
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "answer-token loss at %d tokens, %d samples (%d answer tokens): dense %.4f%n",
                r.length(), r.samples(), r.answerTokens(), r.denseLoss()));
        s.append(String.format(Locale.ROOT, "%-10s %9s %9s %9s%n", "plan", "loss", "vs dense", "KV share"));
        for (Scored p : r.plans()) {
            s.append(String.format(Locale.ROOT, "%-10s %9.4f %+9.4f %8.1f%%%s%n", p.name(), p.loss(), p.loss() - r.denseLoss(), 100 * p.kvShare(),
                    p == r.best() ? "  <- best" : ""));
        }
        return s.toString();
    }
}
