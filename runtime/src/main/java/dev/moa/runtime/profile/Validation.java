package dev.moa.runtime.profile;

import dev.moa.plans.HeadSpans;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.MoaPlan;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.eval.Perplexity;
import dev.moa.runtime.model.MoaKvCache;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * {@code moa validate}: the answer-token loss of every Pareto plan on calibration samples of a length that was not
 * profiled (the reference validates 2k/4k/8k plans at 12k), each sequence scored in one block-sparse prefill with
 * N = its length; the plan with the lowest loss is the final plan ({@code plan.json}). Plans whose spans agree on
 * every sample are one plan to this measurement and are scored once. A plan is dropped as soon as the loss of the
 * samples scored so far exceeds the best plan's whole loss: the loss of a sample is never negative, so it could not
 * win, and the choice is the one scoring every plan on every sample would make (its loss is then a lower bound).
 */
public final class Validation {
    /**
     * One plan's measured answer loss (nats per answer token) and its KV share at the validation length; when it was
     * dropped early ({@code complete} false) the loss is that of the samples scored, a lower bound of its loss.
     */
    public record Scored(String name, Path file, double loss, double kvShare, boolean complete) {
    }

    /**
     * Losses already measured on one set of samples, by the plan's spans ("dense" for dense attention), so that later
     * rounds score only what is new. Only complete losses are kept.
     */
    public static final class Known {
        private final Map<String, Double> losses = new HashMap<>();
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
        return run(model, planFiles, samples, length, out, progress, new Known());
    }

    public static Result run(Model model, List<Path> planFiles, List<Calibration.Sample> samples, int length, Path out, PrintStream progress,
                             Known known) throws IOException {
        if (samples.isEmpty()) throw new IllegalArgumentException("no calibration samples of length " + length + " to validate on");
        ModelConfig c = model.config();
        TreeSet<Integer> sampleLengths = new TreeSet<>();
        samples.forEach(s -> sampleLengths.add(s.tokens().length));
        long answerTokens = samples.stream().mapToLong(Calibration.Sample::answerTokens).sum();
        // The samples with the most answer tokens weigh most, so scoring them first drops a losing plan soonest.
        List<Calibration.Sample> order = samples.stream().sorted(Comparator.comparingInt(Calibration.Sample::answerTokens).reversed()).toList();

        List<MoaPlan> plans = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        for (Path f : planFiles) {
            MoaPlan plan = MoaPlan.load(f).validateFor(c.numLayers(), c.numHeads(), model.directory().toString());
            StringBuilder key = new StringBuilder();
            for (int n : sampleLengths) key.append(Arrays.deepToString(HeadSpans.of(plan, n).local()));
            plans.add(plan);
            keys.add(key.toString());
        }
        int unknown = (int) keys.stream().distinct().filter(k -> !known.losses.containsKey(k)).count();
        int steps = (unknown + (known.losses.containsKey(DENSE) ? 0 : 1)) * samples.size();
        Progress bar = new Progress(progress, "validate " + length, steps, 0);
        int[] step = {0};
        Double dense = known.losses.get(DENSE);
        if (dense == null) {
            dense = loss(model, new AttentionMode.Dense(), order, answerTokens, Double.POSITIVE_INFINITY, bar, step, "dense").loss();
            known.losses.put(DENSE, dense);
        }
        // Plans already measured first: the best of them bounds the rest from the start.
        Map<String, Measured> measured = new HashMap<>();
        double bound = Double.POSITIVE_INFINITY;
        for (String k : keys) {
            Double l = known.losses.get(k);
            if (l != null) {
                measured.put(k, new Measured(l, true));
                bound = Math.min(bound, l);
            }
        }
        for (int i = 0; i < plans.size(); i++) {
            if (measured.containsKey(keys.get(i))) continue;
            MoaPlan plan = plans.get(i);
            Measured m = loss(model, new AttentionMode.Sparse("moa:" + planFiles.get(i), config -> plan), order, answerTokens, bound, bar, step,
                    name(planFiles.get(i)));
            measured.put(keys.get(i), m);
            if (m.complete()) {
                known.losses.put(keys.get(i), m.loss());
                bound = Math.min(bound, m.loss());
            }
        }
        List<Scored> scored = new ArrayList<>();
        for (int i = 0; i < plans.size(); i++) {
            Measured m = measured.get(keys.get(i));
            scored.add(new Scored(name(planFiles.get(i)), planFiles.get(i), m.loss(), kvShare(c, plans.get(i), length), m.complete()));
        }
        Scored best = scored.stream().filter(Scored::complete)
                .min((a, b) -> a.loss() != b.loss() ? Double.compare(a.loss(), b.loss()) : Double.compare(a.kvShare(), b.kvShare()))
                .orElseThrow();
        Result result = new Result(length, samples.size(), answerTokens, dense, scored, best);
        if (out != null) write(result, out);
        return result;
    }

    private static final String DENSE = "dense";

    private static String name(Path planFile) {
        return planFile.getFileName().toString().replaceAll("\\.json$", "");
    }

    /** A loss over the samples, or over those scored before it passed the bound. */
    record Measured(double loss, boolean complete) {
    }

    /**
     * Mean answer-token loss over the samples under one attention mode, or (incomplete) the loss of the samples scored
     * so far once it exceeds {@code bound}.
     */
    static Measured loss(Model model, AttentionMode attention, List<Calibration.Sample> samples, long answerTokens, double bound,
                         Progress bar, int[] step, String name) {
        double nll = 0;
        for (int i = 0; i < samples.size(); i++) {
            nll += Perplexity.sequenceLoss(model, attention, samples.get(i).tokens(), samples.get(i).answerStart());
            if (nll / answerTokens > bound && i + 1 < samples.size()) {
                step[0] += samples.size() - i;
                bar.step(step[0], String.format(Locale.ROOT, "%s: dropped after %d of %d samples, %.4f > %.4f", name, i + 1, samples.size(),
                        nll / answerTokens, bound));
                return new Measured(nll / answerTokens, false);
            }
            bar.step(++step[0], String.format(Locale.ROOT, "%s: loss so far %.4f", name, nll / answerTokens));
        }
        return new Measured(nll / answerTokens, true);
    }

    /** Mean answer-token loss over the samples under one attention mode. */
    static double loss(Model model, AttentionMode attention, List<Calibration.Sample> samples, long answerTokens, Progress bar, int[] step,
                       String name) {
        return loss(model, attention, samples, answerTokens, Double.POSITIVE_INFINITY, bar, step, name).loss();
    }

    /** KV bytes the plan's cache allocates at total length n, as a share of the dense cache's. */
    public static double kvShare(ModelConfig c, MoaPlan plan, int n) {
        return MoaKvCache.byteSize(c, HeadSpans.of(plan, n)) / (double) denseBytes(c, n);
    }

    public static long denseBytes(ModelConfig c, int n) {
        return dev.moa.runtime.model.DenseKvCache.byteSize(c, n);
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
            // false: dropped once its loss passed the best plan's; the loss is over the samples scored, a lower bound
            p.addProperty("complete", s.complete());
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
            s.append(String.format(Locale.ROOT, "%-10s %s%8.4f %s%+8.4f %8.1f%%%s%n", p.name(), p.complete() ? " " : ">", p.loss(),
                    p.complete() ? " " : ">", p.loss() - r.denseLoss(), 100 * p.kvShare(), p == r.best() ? "  <- best" : ""));
        }
        if (r.plans().stream().anyMatch(p -> !p.complete())) {
            s.append("> : dropped once the loss of the samples scored passed the best plan's loss (a lower bound)\n");
        }
        return s.toString();
    }
}
