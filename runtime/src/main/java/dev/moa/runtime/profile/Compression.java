package dev.moa.runtime.profile;

import dev.moa.plans.HeadSpans;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.InfluenceMap;
import dev.moa.plans.MoaPlan;
import dev.moa.plans.PlanHeatmap;
import dev.moa.plans.optimize.CostModel;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.model.InfluenceSum;
import dev.moa.runtime.model.MoaKvCache;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * {@code moa compress}: the whole pipeline with defaults scaled to the model's context — calibrate (the profiled
 * lengths and a longer validation length), profile, optimize, validate — then the final plan measured at every
 * length against its prediction, its KV bytes against dense, a report and the plan's heatmap. Every stage keeps its
 * own directory under the output and resumes where an interrupted run stopped.
 *
 * <p>Lengths: for a context of at least 16k tokens the reference's (profile 2k/4k/8k, validate 12k, density also
 * bounded at 16k); for a shorter context C, profile at C/4, C/2, 3C/4 and validate at C (the density also holds
 * there), so validation stays longer than anything profiled.
 */
public final class Compression {
    /**
     * @param lengths           profiled lengths (empty: the defaults for the model's context)
     * @param validationLength  unprofiled length the plans are validated at (0: the default)
     * @param samples           calibration samples per profiled length
     * @param validationSamples calibration samples at the validation length
     * @param validatePlans     Pareto plans of each round validated: those predicted to lose least at the longest
     *                          profiled length (0: all of them, as the reference does)
     */
    public record Settings(double density, List<Integer> lengths, int validationLength, List<Integer> extended, int samples,
                           int validationSamples, List<CalibrationTask> tasks, long seed, CostModel cost, double secondsPerSolve,
                           InfluenceSum influence, int rounds, int validatePlans) {
        public Settings {
            lengths = List.copyOf(lengths);
            extended = List.copyOf(extended);
            tasks = List.copyOf(tasks);
            if (rounds < 1) throw new IllegalArgumentException("rounds must be >= 1, got " + rounds);
            if (validatePlans < 0) throw new IllegalArgumentException("the plans to validate must be >= 0 (0: all), got " + validatePlans);
        }
    }

    /**
     * The Pareto plans worth validating: the {@code k} predicted to lose least at the longest profiled length, where
     * the prediction is nearest the validation length (all when k is 0). A front's plans often differ in a head or
     * two and measure within a few percent of each other, so scoring every one costs far more than it can change.
     */
    static List<Path> shortlist(PlanSearch.Result search, int k) {
        if (k == 0 || k >= search.files().size()) return search.files();
        int[] lengths = search.problem().lengths();
        int at = java.util.stream.IntStream.range(0, lengths.length).reduce((a, b) -> lengths[b] > lengths[a] ? b : a).orElseThrow();
        return java.util.stream.IntStream.range(0, search.files().size()).boxed()
                .sorted(java.util.Comparator.comparingDouble((Integer i) -> search.front().get(i).objectives()[at])
                        .thenComparingDouble(i -> Arrays.stream(search.front().get(i).objectives()).sum()))
                .limit(k).sorted().map(search.files()::get).toList();
    }

    /** The lengths compress uses for a context of {@code context} tokens: profiled, validation, extended. */
    public record Lengths(List<Integer> profiled, int validation, List<Integer> extended) {
        public static Lengths forContext(int context) {
            if (context >= 16384) return new Lengths(List.of(2048, 4096, 8192), 12288, List.of(16384));
            int quarter = context / 4 / 128 * 128;
            if (quarter < 128) throw new IllegalArgumentException("a context of " + context + " tokens is too short to profile (at least 512)");
            return new Lengths(List.of(quarter, 2 * quarter, 3 * quarter), context, List.of(context));
        }
    }

    private Compression() {
    }

    public static Path run(Model model, Corpus corpus, Settings s, Path out, PrintStream progress) throws IOException {
        ModelConfig c = model.config();
        Lengths defaults = Lengths.forContext(c.maxPositions());
        List<Integer> profiled = s.lengths().isEmpty() ? defaults.profiled() : s.lengths();
        int validation = s.validationLength() > 0 ? s.validationLength() : defaults.validation();
        List<Integer> extended = s.extended().isEmpty() && s.lengths().isEmpty() ? defaults.extended() : s.extended();
        int shortest = profiled.stream().mapToInt(Integer::intValue).min().orElseThrow();
        int longest = profiled.stream().mapToInt(Integer::intValue).max().orElseThrow();
        if (validation <= longest) throw new IllegalArgumentException("the validation length " + validation + " must be above the profiled lengths (up to " + longest + ")");
        int answerTokens = Math.min(Calibration.ANSWER_TOKENS, shortest / 4);
        List<CalibrationTask> tasks = s.tasks().isEmpty() ? Calibration.defaultTasks(corpus) : s.tasks();
        if (progress != null) {
            progress.printf(Locale.ROOT, "compress %s to density %.2f: profile at %s, validate at %d, density also at %s; tasks %s%n",
                    model.directory().getFileName(), s.density(), profiled, validation, extended, tasks.stream().map(CalibrationTask::label).toList());
        }
        long t0 = System.nanoTime();
        Path calibration = out.resolve("calibration"), profile = out.resolve("profile"), optimize = out.resolve("optimize");
        Calibration.run(model, corpus, new Calibration.Settings(tasks, profiled, s.samples(), s.seed(), answerTokens), calibration, progress);
        Calibration.run(model, corpus, new Calibration.Settings(tasks, List.of(validation), s.validationSamples(), s.seed(), answerTokens), calibration, progress);
        long t1 = System.nanoTime();
        Profiler.run(model, calibration, profiled, s.samples(), s.influence(), profile, progress);
        long t2 = System.nanoTime();
        PlanSearch.Result search = PlanSearch.run(profile, new PlanSearch.Settings(s.density(), profiled, extended, s.cost(), s.secondsPerSolve()), optimize, progress);
        long t3 = System.nanoTime();
        List<Calibration.Sample> validationSamples = Calibration.read(calibration, validation);
        validationSamples = validationSamples.subList(0, Math.min(validationSamples.size(), s.validationSamples()));
        // Every round scores the same samples, so what one round measured (dense, repeated plans) the next reuses.
        Validation.Known known = new Validation.Known();
        Validation.Result validated = Validation.run(model, shortlist(search, s.validatePlans()), validationSamples, validation, out.resolve("round-1"), progress, known);
        if (progress != null) progress.print(Validation.table(validated));
        Path best = validated.best().file();
        int chosenRound = 1, lastRound = 1;
        // Further rounds profile again under the best plan so far, where heads that stood in for each other show what
        // each is worth once the others are cut, and keep a new plan only when validation prefers it.
        for (int round = 2; round <= s.rounds(); round++) {
            MoaPlan at = MoaPlan.load(best);
            if (progress != null) progress.printf("round %d: profiling under %s%n", round, best.getFileName());
            Path profileAt = out.resolve("profile-" + round), optimizeAt = out.resolve("optimize-" + round);
            Profiler.run(model, calibration, profiled, s.samples(), s.influence(), at, profileAt, progress);
            PlanSearch.Result next = PlanSearch.run(profileAt, new PlanSearch.Settings(s.density(), profiled, extended, s.cost(), s.secondsPerSolve()),
                    optimizeAt, progress);
            // The plan so far first: a new plan with the same loss does not replace it.
            List<Path> candidates = new ArrayList<>(List.of(best));
            candidates.addAll(shortlist(next, s.validatePlans()));
            validated = Validation.run(model, candidates, validationSamples, validation, out.resolve("round-" + round), progress, known);
            if (progress != null) progress.print(Validation.table(validated));
            lastRound = round;
            if (validated.best().file().equals(best)) break;
            best = validated.best().file();
            chosenRound = round;
        }
        Files.copy(best, out.resolve("plan.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.copy(out.resolve("round-" + lastRound).resolve("validation.json"), out.resolve("validation.json"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        long t4 = System.nanoTime();

        // The final plan at every length: predicted (from the dense profile) against measured loss, KV bytes against dense.
        MoaPlan plan = MoaPlan.load(out.resolve("plan.json"));
        List<InfluenceMap> maps = PlanSearch.maps(profile, profiled);
        List<Row> rows = new ArrayList<>();
        for (InfluenceMap map : maps) {
            List<Calibration.Sample> samples = Calibration.read(calibration, map.length());
            samples = samples.subList(0, Math.min(samples.size(), Math.min(s.samples(), 8)));
            double predicted = 0;
            for (int l = 0; l < plan.layers(); l++) for (int h = 0; h < plan.heads(l); h++) predicted += map.lossOutside(l, h, plan.rule(l, h));
            rows.add(measure(model, plan, map.length(), samples, predicted, progress));
        }
        rows.add(new Row(validation, Double.NaN, validated.best().loss() - validated.denseLoss(), validated.denseLoss(),
                MoaKvCache.byteSize(c, HeadSpans.of(plan, validation)), Validation.denseBytes(c, validation)));
        for (int n : extended) {
            if (n == validation || profiled.contains(n)) continue;
            rows.add(new Row(n, Double.NaN, Double.NaN, Double.NaN, MoaKvCache.byteSize(c, HeadSpans.of(plan, n)), Validation.denseBytes(c, n)));
        }
        String title = model.directory().getFileName() + ", density " + s.density();
        Files.writeString(out.resolve("plan-heatmap.svg"), PlanHeatmap.svg(plan, validation, title));
        double[] seconds = {(t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9, (t4 - t3) / 1e9, (System.nanoTime() - t4) / 1e9};
        String report = report(model, s, profiled, validation, extended, tasks, validated, chosenRound, rows, seconds);
        Files.writeString(out.resolve("report.md"), report);
        writeJson(out, model, s, profiled, validation, extended, validated, rows, seconds);
        if (progress != null) progress.print(report);
        return out.resolve("plan.json");
    }

    /** One length of the summary: predicted and measured increase of the answer loss, KV bytes of plan and dense. */
    record Row(int length, double predicted, double measured, double denseLoss, long kvBytes, long denseBytes) {
    }

    private static Row measure(Model model, MoaPlan plan, int length, List<Calibration.Sample> samples, double predicted, PrintStream progress) {
        long tokens = samples.stream().mapToLong(Calibration.Sample::answerTokens).sum();
        Progress bar = new Progress(progress, "measure " + length, 2 * samples.size(), 0);
        int[] step = {0};
        double dense = Validation.loss(model, new AttentionMode.Dense(), samples, tokens, bar, step, "dense");
        double sparse = Validation.loss(model, new AttentionMode.Sparse("moa:plan.json", config -> plan), samples, tokens, bar, step, "plan");
        return new Row(length, predicted, sparse - dense, dense, MoaKvCache.byteSize(model.config(), HeadSpans.of(plan, length)),
                Validation.denseBytes(model.config(), length));
    }

    private static String report(Model model, Settings s, List<Integer> profiled, int validation, List<Integer> extended,
                                 List<CalibrationTask> tasks, Validation.Result validated, int round, List<Row> rows, double[] seconds) {
        StringBuilder r = new StringBuilder();
        r.append(String.format(Locale.ROOT, "# MoA plan for %s at density %.2f%n%n", model.directory().getFileName(), s.density()));
        r.append(String.format(Locale.ROOT, "Calibration: tasks %s, %d samples per profiled length %s, %d at the validation length %d, seed %d, "
                        + "answers written by the model (greedy, dense). Influence: %s per block. Cost: %s. Density bounded at %s.%n%n",
                tasks.stream().map(CalibrationTask::label).toList(), s.samples(), profiled, s.validationSamples(), validation, s.seed(),
                s.influence() == InfluenceSum.BLOCKS ? "|sum of dL|" : "sum of |dL|", s.cost() == CostModel.GROUPS ? "KV groups (the widest span per group: real KV bytes)" : "query heads (the reference's)",
                new java.util.TreeSet<>(concat(profiled, extended))));
        r.append(String.format(Locale.ROOT, "Chosen: %s of round %d of %d (lowest answer-token loss at %d tokens among the %d plans validated in the last round: %s; round 1 profiles the "
                + "dense model, a later round profiles under the best plan so far).%n%n", validated.best().name(), round, s.rounds(), validation,
                validated.plans().size(), s.validatePlans() == 0 ? "every Pareto plan" : "per round the " + s.validatePlans()
                        + " Pareto plans predicted to lose least at " + profiled.stream().mapToInt(Integer::intValue).max().orElseThrow()
                        + " tokens, and the best plan so far"));
        r.append("| length | predicted loss increase | measured loss increase | dense loss | KV bytes (plan) | KV bytes (dense) | share |\n");
        r.append("|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Row row : rows) {
            r.append(String.format(Locale.ROOT, "| %d | %s | %s | %s | %s | %s | %.1f%% |%n", row.length(), number(row.predicted()), number(row.measured()),
                    number(row.denseLoss()), mib(row.kvBytes()), mib(row.denseBytes()), 100.0 * row.kvBytes() / row.denseBytes()));
        }
        r.append("\nPredicted: the dense profile's influence of the blocks the plan leaves out (first-order, so it misjudges large "
                + "cuts, and it cannot see a later round's re-profiling); measured: answer-token loss "
                + "with the plan minus dense, on the calibration samples of that length (up to 8; at the validation length all of them).\n\n");
        r.append(Validation.table(validated).replace("\n", "  \n"));
        r.append(String.format(Locale.ROOT, "%nTime: calibrate %s, profile %s, optimize %s, validate and further rounds %s, measure %s (%d threads).%n",
                Progress.duration(seconds[0]), Progress.duration(seconds[1]), Progress.duration(seconds[2]), Progress.duration(seconds[3]),
                Progress.duration(seconds[4]), dev.moa.tasks.cpu.Parallel.threads()));
        return r.toString();
    }

    private static List<Integer> concat(List<Integer> a, List<Integer> b) {
        List<Integer> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    private static void writeJson(Path out, Model model, Settings s, List<Integer> profiled, int validation, List<Integer> extended,
                                  Validation.Result validated, List<Row> rows, double[] seconds) throws IOException {
        JsonObject o = new JsonObject();
        o.addProperty("model", model.directory().getFileName().toString());
        o.addProperty("density", s.density());
        o.addProperty("cost", s.cost().name().toLowerCase(Locale.ROOT));
        JsonArray lengths = new JsonArray();
        profiled.forEach(lengths::add);
        o.add("profiled_lengths", lengths);
        o.addProperty("validation_length", validation);
        o.addProperty("chosen", validated.best().name());
        JsonArray table = new JsonArray();
        for (Row row : rows) {
            JsonObject e = new JsonObject();
            e.addProperty("length", row.length());
            if (!Double.isNaN(row.predicted())) e.addProperty("predicted_loss_increase", row.predicted());
            if (!Double.isNaN(row.measured())) e.addProperty("measured_loss_increase", row.measured());
            if (!Double.isNaN(row.denseLoss())) e.addProperty("dense_loss", row.denseLoss());
            e.addProperty("kv_bytes", row.kvBytes());
            e.addProperty("dense_kv_bytes", row.denseBytes());
            table.add(e);
        }
        o.add("lengths", table);
        JsonObject time = new JsonObject();
        String[] stages = {"calibrate", "profile", "optimize", "validate", "measure"};
        for (int i = 0; i < stages.length; i++) time.addProperty(stages[i] + "_seconds", seconds[i]);
        o.add("time", time);
        Files.writeString(out.resolve("report.json"), new GsonBuilder().setPrettyPrinting().create().toJson(o) + "\n");
    }

    private static String number(double v) {
        return Double.isNaN(v) ? "—" : String.format(Locale.ROOT, "%.4f", v);
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.2f MiB", bytes / (1024.0 * 1024.0));
    }
}
