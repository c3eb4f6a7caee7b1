package dev.moa.runtime.cli;

import dev.moa.plans.optimize.CostModel;
import dev.moa.runtime.Model;
import dev.moa.runtime.model.InfluenceSum;
import dev.moa.runtime.profile.Calibration;
import dev.moa.runtime.profile.CalibrationTask;
import dev.moa.runtime.profile.Compression;
import dev.moa.runtime.profile.Corpus;
import dev.moa.runtime.profile.PlanSearch;
import dev.moa.runtime.profile.Profiler;
import dev.moa.runtime.profile.Validation;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The plan-making commands of moa.md §4–5: {@code calibrate}, {@code profile}, {@code optimize}, {@code validate},
 * and {@code compress}, which runs them all. Progress and ETAs go to stderr, results to the output directory.
 */
final class CompressCommands {
    static final String USAGE = """
            calibrate --model DIR --lengths 1024,2048 --samples K --out DIR [--corpus FILE]... [--task NAME]... [--seed S] [--answer-tokens N]
            profile --model DIR --calibration DIR --out DIR [--lengths ...] [--samples K] [--influence blocks|entries]
            optimize --profile DIR --density RHO --out DIR [--lengths ...] [--extend N,...] [--cost groups|heads] [--time-limit S]
            validate --model DIR --plans DIR --length L --calibration DIR [--samples K] [--out DIR]
            compress --model DIR --density RHO --out DIR [--lengths ...] [--validation-length L] [--extend N,...] [--samples K]
                     [--validation-samples K] [--corpus FILE]... [--task NAME]... [--cost groups|heads] [--influence blocks|entries]
                     [--rounds R] [--validate-plans K] [--seed S] [--time-limit S]""";

    int calibrate(String[] argv) throws IOException {
        Args args = new Args("calibrate", argv, 1, Set.of("model", "lengths", "samples", "out", "corpus", "task", "seed", "answer-tokens"), Set.of());
        Corpus corpus = corpus(args);
        Calibration.Settings settings;
        try {
            settings = new Calibration.Settings(tasks(args, corpus), EvalCommand.lengths(args.required("lengths")), args.integer("samples", 16),
                    args.longValue("seed", 1), args.integer("answer-tokens", Calibration.ANSWER_TOKENS));
        } catch (IllegalArgumentException e) {
            throw new UsageException("calibrate: " + e.getMessage());
        }
        Path out = OutputPaths.directory("--out", Path.of(args.required("out")));
        try (Model model = ModelLoading.load(Path.of(args.required("model")))) {
            Calibration.run(model, corpus, settings, out, System.err);
        }
        System.out.println("calibration: " + out.toAbsolutePath());
        return 0;
    }

    int profile(String[] argv) throws IOException {
        Args args = new Args("profile", argv, 1, Set.of("model", "calibration", "out", "lengths", "samples", "influence"), Set.of());
        InfluenceSum sum = influence(args);
        List<Integer> lengths = args.has("lengths") ? EvalCommand.lengths(args.required("lengths")) : List.of();
        Path out = OutputPaths.directory("--out", Path.of(args.required("out")));
        try (Model model = ModelLoading.load(Path.of(args.required("model")))) {
            for (Profiler.LengthProfile p : Profiler.run(model, Path.of(args.required("calibration")), lengths,
                    args.integer("samples", Integer.MAX_VALUE), sum, out, System.err)) {
                System.out.printf(java.util.Locale.ROOT, "length %d: %d samples, %.2f s and %.0f MiB heap per sample, answer loss %.4f%n",
                        p.length(), p.samples(), p.secondsPerSample(), p.peakHeapBytes() / 1048576.0, p.answerLoss());
            }
        }
        System.out.println("profile: " + out.toAbsolutePath());
        return 0;
    }

    int optimize(String[] argv) throws IOException {
        Args args = new Args("optimize", argv, 1, Set.of("profile", "density", "out", "lengths", "extend", "cost", "time-limit"), Set.of());
        PlanSearch.Settings settings;
        try {
            settings = new PlanSearch.Settings(density(args), args.has("lengths") ? EvalCommand.lengths(args.required("lengths")) : List.of(),
                    args.has("extend") ? EvalCommand.lengths(args.required("extend")) : List.of(), CostModel.parse(args.string("cost", "groups")),
                    positive(args, "time-limit", 10));
        } catch (IllegalArgumentException e) {
            throw new UsageException("optimize: " + e.getMessage());
        }
        Path out = OutputPaths.directory("--out", Path.of(args.required("out")));
        PlanSearch.Result result = PlanSearch.run(Path.of(args.required("profile")), settings, out, System.err);
        System.out.println(result.files().size() + " Pareto plans: " + out.resolve(PlanSearch.PLANS).toAbsolutePath());
        return 0;
    }

    int validate(String[] argv) throws IOException {
        Args args = new Args("validate", argv, 1, Set.of("model", "plans", "length", "calibration", "samples", "out"), Set.of());
        int length = args.integer("length", 0);
        if (length < 1) throw new UsageException("validate: --length L (an unprofiled length the calibration set holds) is required");
        Path plans = Path.of(args.required("plans")), out = args.has("out") ? OutputPaths.directory("--out", Path.of(args.required("out"))) : plans;
        try (Model model = ModelLoading.load(Path.of(args.required("model")))) {
            List<Calibration.Sample> samples = Calibration.read(Path.of(args.required("calibration")), length);
            samples = samples.subList(0, Math.min(samples.size(), args.integer("samples", Integer.MAX_VALUE)));
            Validation.Result r = Validation.run(model, Validation.planFiles(plans), samples, length, out, System.err);
            System.out.print(Validation.table(r));
        }
        System.out.println("plan: " + out.resolve("plan.json").toAbsolutePath());
        return 0;
    }

    int compress(String[] argv) throws IOException {
        Args args = new Args("compress", argv, 1, Set.of("model", "density", "out", "lengths", "validation-length", "extend", "samples",
                "validation-samples", "corpus", "task", "cost", "seed", "time-limit", "influence", "rounds", "validate-plans"), Set.of());
        Corpus corpus = corpus(args);
        Compression.Settings settings;
        try {
            settings = new Compression.Settings(density(args), args.has("lengths") ? EvalCommand.lengths(args.required("lengths")) : List.of(),
                    args.integer("validation-length", 0), args.has("extend") ? EvalCommand.lengths(args.required("extend")) : List.of(),
                    args.integer("samples", 16), args.integer("validation-samples", 8), tasks(args, corpus), args.longValue("seed", 1),
                    CostModel.parse(args.string("cost", "groups")), positive(args, "time-limit", 5), influence(args), args.integer("rounds", 2),
                    args.integer("validate-plans", 6));
        } catch (IllegalArgumentException e) {
            throw new UsageException("compress: " + e.getMessage());
        }
        Path out = OutputPaths.directory("--out", Path.of(args.required("out")));
        try (Model model = ModelLoading.load(Path.of(args.required("model")))) {
            Path plan = Compression.run(model, corpus, settings, out, System.err);
            System.out.println("plan: " + plan.toAbsolutePath());
            System.out.println("report: " + out.resolve("report.md").toAbsolutePath() + ", heatmap: " + out.resolve("plan-heatmap.svg").toAbsolutePath());
        }
        return 0;
    }

    private static Corpus corpus(Args args) throws IOException {
        try {
            return Corpus.load(args.all("corpus").stream().map(Path::of).toList());
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    private static List<CalibrationTask> tasks(Args args, Corpus corpus) {
        if (args.all("task").isEmpty()) return Calibration.defaultTasks(corpus);
        return args.all("task").stream().map(CalibrationTask::parse).toList();
    }

    private static InfluenceSum influence(Args args) {
        try {
            return InfluenceSum.parse(args.string("influence", "blocks"));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    private static double density(Args args) {
        double density = args.number("density", Double.NaN);
        if (!(density > 0 && density <= 1)) throw new UsageException("--density RHO (the share of dense KV memory, in (0, 1]) is required");
        return density;
    }

    private static double positive(Args args, String name, double fallback) {
        double v = args.number(name, fallback);
        if (!(v > 0)) throw new UsageException("--" + name + " must be positive, got " + v);
        return v;
    }
}
