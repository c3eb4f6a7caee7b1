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
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/**
 * The plan-making commands of moa.md §4–5: {@code calibrate}, {@code profile}, {@code optimize}, {@code validate},
 * and {@code compress}, which runs them all. Progress and ETAs go to stderr, results to the output directory.
 */
final class CompressCommands {
    private CompressCommands() {
    }

    /** {@code --out DIR}, made (and checked writable) before the work starts. */
    static final class OutDir {
        @Option(names = "--out", required = true, paramLabel = "DIR", description = "output folder (made if missing)")
        Path dir;

        Path make() {
            return OutputPaths.directory("--out", dir);
        }
    }

    /** Where calibration prompts come from. */
    static final class Sources {
        @Option(names = "--corpus", paramLabel = "FILE", description = "a UTF-8 text to draw prompts from; repeatable (default: the Debian corpora)")
        List<Path> corpora = List.of();

        @Option(names = "--task", paramLabel = "NAME", description = "a calibration task (passkey, verse, records, summary); repeatable (default: all)")
        List<String> tasks = List.of();

        Corpus corpus() throws IOException {
            try {
                return Corpus.load(corpora);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
        }

        List<CalibrationTask> tasks(Corpus corpus) {
            try {
                return tasks.isEmpty() ? Calibration.defaultTasks(corpus) : tasks.stream().map(CalibrationTask::parse).toList();
            } catch (IllegalArgumentException e) {
                throw new UsageException("--task: " + e.getMessage());
            }
        }
    }

    /** {@code --density RHO} in (0, 1]. */
    static final class Density implements ITypeConverter<Double> {
        @Override
        public Double convert(String value) {
            double d;
            try {
                d = Double.parseDouble(value);
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + value + "' is not a number");
            }
            if (!(d > 0 && d <= 1)) throw new TypeConversionException("the share of dense KV memory must be in (0, 1], got " + value);
            return d;
        }
    }

    /** {@code --influence blocks|entries}. */
    static final class InfluenceOption {
        @Option(names = "--influence", paramLabel = "blocks|entries", defaultValue = "blocks", converter = Influence.class,
                description = "sum of influence per block, or per entry (default: ${DEFAULT-VALUE})")
        InfluenceSum sum;
    }

    /** {@code --cost groups|heads}. */
    static final class CostOption {
        @Option(names = "--cost", paramLabel = "groups|heads", defaultValue = "groups", converter = Cost.class,
                description = "KV cost per KV group (native GQA) or per query head (default: ${DEFAULT-VALUE})")
        CostModel model;
    }

    /** {@code --calibration DIR}. */
    static final class CalibrationDir {
        @Option(names = "--calibration", required = true, paramLabel = "DIR", description = "a folder written by moa calibrate")
        Path dir;
    }

    static final class Influence implements ITypeConverter<InfluenceSum> {
        @Override
        public InfluenceSum convert(String value) {
            try {
                return InfluenceSum.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    static final class Cost implements ITypeConverter<CostModel> {
        @Override
        public CostModel convert(String value) {
            try {
                return CostModel.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    static double positive(double v, String option) {
        Options.require(v > 0 && Double.isFinite(v), option + " must be positive, got " + v);
        return v;
    }

    @Command(name = "calibrate", description = "Long prompts (passkey, verse, records, summary) answered by the model itself: the calibration set.")
    static final class Calibrate implements Callable<Integer> {
        @Mixin
        Options.ModelDir model;

        @Option(names = "--lengths", required = true, split = ",", paramLabel = "N", description = "prompt lengths in tokens")
        List<Integer> lengths;

        @Option(names = "--samples", paramLabel = "K", defaultValue = "16", description = "prompts per length (default: ${DEFAULT-VALUE})")
        int samples;

        @Mixin
        OutDir out;

        @Mixin
        Sources sources;

        @Option(names = "--seed", paramLabel = "S", defaultValue = "1", description = "random seed (default: ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--answer-tokens", paramLabel = "N", defaultValue = "" + Calibration.ANSWER_TOKENS, description = "answer budget (default: ${DEFAULT-VALUE})")
        int answerTokens;

        @Override
        public Integer call() throws Exception {
            Corpus corpus = sources.corpus();
            Calibration.Settings settings;
            try {
                settings = new Calibration.Settings(sources.tasks(corpus), lengths, samples, seed, answerTokens);
            } catch (IllegalArgumentException e) {
                throw new UsageException("calibrate: " + e.getMessage());
            }
            Path dir = out.make();
            try (Model loaded = ModelLoading.load(model.dir)) {
                Calibration.run(loaded, corpus, settings, dir, System.err);
            }
            System.out.println("calibration: " + dir.toAbsolutePath());
            return 0;
        }
    }

    @Command(name = "profile", description = "Attention influence per layer, head and 64x64 block (one forward + backward per sample).")
    static final class Profile implements Callable<Integer> {
        @Mixin
        Options.ModelDir model;

        @Mixin
        CalibrationDir calibration;

        @Mixin
        OutDir out;

        @Option(names = "--lengths", split = ",", paramLabel = "N", description = "lengths to profile (default: all the calibration holds)")
        List<Integer> lengths = List.of();

        @Option(names = "--samples", paramLabel = "K", defaultValue = "" + Integer.MAX_VALUE, description = "at most K samples per length (default: all)")
        int samples;

        @Mixin
        InfluenceOption influence;

        @Override
        public Integer call() throws Exception {
            Options.require(samples >= 1, "profile: --samples must be at least 1");
            Path dir = out.make();
            try (Model loaded = ModelLoading.load(model.dir)) {
                for (Profiler.LengthProfile p : Profiler.run(loaded, calibration.dir, lengths, samples, influence.sum, dir, System.err)) {
                    System.out.printf(java.util.Locale.ROOT, "length %d: %d samples, %.2f s and %.0f MiB heap per sample, answer loss %.4f%n",
                            p.length(), p.samples(), p.secondsPerSample(), p.peakHeapBytes() / 1048576.0, p.answerLoss());
                }
            }
            System.out.println("profile: " + dir.toAbsolutePath());
            return 0;
        }
    }

    @Command(name = "optimize", description = "The Pareto plans of the influence maps under the density (OR-Tools CP-SAT), and a PNG of the front.")
    static final class Optimize implements Callable<Integer> {
        @Option(names = "--profile", required = true, paramLabel = "DIR", description = "a folder written by moa profile")
        Path profile;

        @Option(names = "--density", required = true, paramLabel = "RHO", converter = Density.class, description = "share of dense KV memory, in (0, 1]")
        double density;

        @Mixin
        OutDir out;

        @Option(names = "--lengths", split = ",", paramLabel = "N", description = "profiled lengths to use (default: all)")
        List<Integer> lengths = List.of();

        @Option(names = "--extend", split = ",", paramLabel = "N", description = "unprofiled lengths the density must also hold at")
        List<Integer> extend = List.of();

        @Mixin
        CostOption cost;

        @Option(names = "--time-limit", paramLabel = "S", defaultValue = "10", description = "seconds per solve (default: ${DEFAULT-VALUE})")
        double timeLimit;

        @Override
        public Integer call() throws Exception {
            PlanSearch.Settings settings;
            try {
                settings = new PlanSearch.Settings(density, lengths, extend, cost.model, positive(timeLimit, "--time-limit"));
            } catch (IllegalArgumentException e) {
                throw new UsageException("optimize: " + e.getMessage());
            }
            Path dir = out.make();
            PlanSearch.Result result = PlanSearch.run(profile, settings, dir, System.err);
            System.out.println(result.files().size() + " Pareto plans: " + dir.resolve(PlanSearch.PLANS).toAbsolutePath());
            return 0;
        }
    }

    @Command(name = "validate", description = "Answer-token loss of each plan at an unprofiled length; writes the best as plan.json.")
    static final class Validate implements Callable<Integer> {
        @Mixin
        Options.ModelDir model;

        @Option(names = "--plans", required = true, paramLabel = "DIR", description = "a folder of plans (moa optimize's plans/)")
        Path plans;

        @Option(names = "--length", required = true, paramLabel = "L", description = "an unprofiled length the calibration set holds")
        int length;

        @Mixin
        CalibrationDir calibration;

        @Option(names = "--samples", paramLabel = "K", defaultValue = "" + Integer.MAX_VALUE, description = "at most K samples (default: all)")
        int samples;

        @Option(names = "--out", paramLabel = "DIR", description = "where plan.json goes (default: the --plans folder)")
        Path out;

        @Override
        public Integer call() throws Exception {
            Options.require(length >= 1, "validate: --length must be positive, got " + length);
            Options.require(samples >= 1, "validate: --samples must be at least 1");
            Path dir = out != null ? OutputPaths.directory("--out", out) : plans;
            try (Model loaded = ModelLoading.load(model.dir)) {
                List<Calibration.Sample> all = Calibration.read(calibration.dir, length);
                Validation.Result r = Validation.run(loaded, Validation.planFiles(plans), all.subList(0, Math.min(all.size(), samples)), length, dir, System.err);
                System.out.print(Validation.table(r));
            }
            System.out.println("plan: " + dir.resolve("plan.json").toAbsolutePath());
            return 0;
        }
    }

    @Command(name = "compress", description = "Find a MoA plan for a model: calibrate, profile, optimize and validate with defaults for its "
            + "context; writes a report, the plan (plan.json) and its heatmap.")
    static final class Compress implements Callable<Integer> {
        @Mixin
        Options.ModelDir model;

        @Option(names = "--density", required = true, paramLabel = "RHO", converter = Density.class, description = "share of dense KV memory, in (0, 1]")
        double density;

        @Mixin
        OutDir out;

        @Option(names = "--lengths", split = ",", paramLabel = "N", description = "profiled lengths (default: from the model's context)")
        List<Integer> lengths = List.of();

        @Option(names = "--validation-length", paramLabel = "L", defaultValue = "0", description = "the unprofiled length plans are validated at (default: from the context)")
        int validationLength;

        @Option(names = "--extend", split = ",", paramLabel = "N", description = "unprofiled lengths the density must also hold at")
        List<Integer> extend = List.of();

        @Option(names = "--samples", paramLabel = "K", defaultValue = "16", description = "calibration prompts per profiled length (default: ${DEFAULT-VALUE})")
        int samples;

        @Option(names = "--validation-samples", paramLabel = "K", defaultValue = "8", description = "prompts at the validation length (default: ${DEFAULT-VALUE})")
        int validationSamples;

        @Mixin
        Sources sources;

        @Mixin
        CostOption cost;

        @Option(names = "--seed", paramLabel = "S", defaultValue = "1", description = "random seed (default: ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--time-limit", paramLabel = "S", defaultValue = "5", description = "seconds per solve (default: ${DEFAULT-VALUE})")
        double timeLimit;

        @Mixin
        InfluenceOption influence;

        @Option(names = "--rounds", paramLabel = "R", defaultValue = "2", description = "profile-optimise rounds, each profiling under the last plan (default: ${DEFAULT-VALUE})")
        int rounds;

        @Option(names = "--validate-plans", paramLabel = "K", defaultValue = "6", description = "Pareto plans to validate (0: all; default: ${DEFAULT-VALUE})")
        int validatePlans;

        @Override
        public Integer call() throws Exception {
            Corpus corpus = sources.corpus();
            Compression.Settings settings;
            try {
                settings = new Compression.Settings(density, lengths, validationLength, extend, samples, validationSamples, sources.tasks(corpus),
                        seed, cost.model, positive(timeLimit, "--time-limit"), influence.sum, rounds, validatePlans);
            } catch (IllegalArgumentException e) {
                throw new UsageException("compress: " + e.getMessage());
            }
            Path dir = out.make();
            try (Model loaded = ModelLoading.load(model.dir)) {
                Path plan = Compression.run(loaded, corpus, settings, dir, System.err);
                System.out.println("plan: " + plan.toAbsolutePath());
                System.out.println("report: " + dir.resolve("report.md").toAbsolutePath() + ", heatmap: " + dir.resolve("plan-heatmap.svg").toAbsolutePath());
            }
            return 0;
        }
    }
}
