package dev.moa.runtime.bench;

import dev.moa.plans.CandidateRules;
import dev.moa.plans.ElasticRule;
import dev.moa.plans.optimize.CostModel;
import dev.moa.plans.optimize.PlanOptimizer;
import dev.moa.plans.optimize.PlanProblem;
import dev.moa.plans.optimize.SyntheticProblem;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * {@code moa bench --optimizer}: the plan optimiser's ε-constraint sweep at the reference's size (Llama-3-8B:
 * 32 layers × 32 query heads over 8 KV heads, the 48 reference rules, objectives at 2k/4k/8k, density also bounded
 * at 16k; 51 solves) on synthetic loss tables, reporting the time and how many solves were proven optimal.
 */
public final class OptimizerBenchmark {
    public record Result(double seconds, int solves, int optimal, double maxGap, int paretoPlans) {
    }

    private OptimizerBenchmark() {
    }

    public static Result run(int layers, int heads, int kvHeads, CostModel cost, double secondsPerSolve, PrintStream progress) {
        List<ElasticRule> rules = CandidateRules.reference();
        PlanProblem problem = SyntheticProblem.of(new Random(5), layers, heads, heads / kvHeads, rules, new int[] {2048, 4096, 8192},
                new int[] {2048, 4096, 8192, 16384}, 0.5, cost);
        PlanOptimizer optimizer = new PlanOptimizer(problem, new PlanOptimizer.Settings(secondsPerSolve, Runtime.getRuntime().availableProcessors(), 4));
        long start = System.nanoTime();
        PlanOptimizer.Sweep sweep = optimizer.sweep((done, total, s) -> {
            if (progress != null) progress.printf(Locale.ROOT, "solve %d/%d %s: %s%s (%.1f s)%n", done, total, s.label(), s.status(),
                    s.feasible() && s.gap() > 0 ? String.format(Locale.ROOT, ", gap %.2f%%", 100 * s.gap()) : "", s.seconds());
        });
        double seconds = (System.nanoTime() - start) / 1e9;
        int optimal = (int) sweep.solves().stream().filter(s -> s.status().equals("optimal")).count();
        double maxGap = sweep.solves().stream().filter(PlanOptimizer.Solve::feasible).mapToDouble(PlanOptimizer.Solve::gap).max().orElse(Double.NaN);
        return new Result(seconds, sweep.solves().size(), optimal, maxGap, sweep.front().size());
    }
}
