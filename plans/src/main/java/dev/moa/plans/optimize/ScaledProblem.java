package dev.moa.plans.optimize;

import dev.moa.plans.ElasticRule;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * A {@link PlanProblem} in the solvers' terms. Rules whose spans agree at every length the problem looks at are
 * one choice ("behaviour") to it, so only the first of each such set is kept. CP-SAT needs integer coefficients,
 * so every objective is scaled to integers: its largest possible value (each head under its worst rule) maps to
 * {@link #RESOLUTION}.
 */
final class ScaledProblem {
    static final double RESOLUTION = 1e7;

    final PlanProblem problem;
    /** Rule index (into the problem's rules) of each behaviour. */
    final int[] rule;
    /** Behaviour of every rule of the problem. */
    final int[] behaviourOf;
    /** [objective][head][behaviour]. */
    final long[][][] loss;
    /** [cost length][behaviour]: the span at that length. */
    final int[][] span;
    final long[] floor, budget;
    final int heads, headsPerLayer, layers, groupSize, behaviours;

    ScaledProblem(PlanProblem problem) {
        this.problem = problem;
        this.heads = problem.heads();
        this.headsPerLayer = problem.headsPerLayer();
        this.layers = problem.layers();
        this.groupSize = problem.groupSize();
        int[] lengths = IntStream.concat(Arrays.stream(problem.lengths()), Arrays.stream(problem.costLengths())).distinct().toArray();
        Map<List<Integer>, Integer> seen = new LinkedHashMap<>();
        behaviourOf = new int[problem.rules().size()];
        for (int r = 0; r < behaviourOf.length; r++) {
            ElasticRule candidate = problem.rules().get(r);
            List<Integer> spans = Arrays.stream(lengths).map(candidate::span).boxed().toList();
            Integer known = seen.putIfAbsent(spans, seen.size());
            behaviourOf[r] = known == null ? seen.size() - 1 : known;
        }
        behaviours = seen.size();
        rule = new int[behaviours];
        for (int r = behaviourOf.length - 1; r >= 0; r--) rule[behaviourOf[r]] = r;

        loss = new long[problem.objectives()][heads][behaviours];
        for (int k = 0; k < problem.objectives(); k++) {
            double worst = 0;
            for (double[] head : problem.loss()[k]) worst += Arrays.stream(head).max().orElse(0);
            double unit = worst > 0 ? worst / RESOLUTION : 1;
            for (int h = 0; h < heads; h++) {
                for (int b = 0; b < behaviours; b++) {
                    double value = problem.loss()[k][h][rule[b]];
                    if (!(value >= 0) || Double.isInfinite(value)) {
                        throw new IllegalArgumentException("loss of head " + h + " under rule " + problem.rules().get(rule[b]) + " at "
                                + problem.lengths()[k] + " tokens is " + value + "; losses must be finite and >= 0");
                    }
                    loss[k][h][b] = Math.round(value / unit);
                }
            }
        }
        int[] costLengths = problem.costLengths();
        span = new int[costLengths.length][behaviours];
        floor = new long[costLengths.length];
        budget = new long[costLengths.length];
        for (int i = 0; i < costLengths.length; i++) {
            for (int b = 0; b < behaviours; b++) span[i][b] = problem.rules().get(rule[b]).span(costLengths[i]);
            floor[i] = problem.floor(costLengths[i]);
            budget[i] = problem.budget(costLengths[i]);
        }
    }

    int objectives() {
        return loss.length;
    }

    int costRows() {
        return span.length;
    }

    /** Integer objective k of an assignment of behaviours to heads. */
    long objective(int k, int[] behaviour) {
        long sum = 0;
        for (int h = 0; h < behaviour.length; h++) sum += loss[k][h][behaviour[h]];
        return sum;
    }

    /** Cost at cost length i of an assignment (heads or KV groups, as the problem counts). */
    long cost(int i, int[] behaviour) {
        return cost(i, behaviour, 0, behaviour.length);
    }

    /** Cost at cost length i of the heads [from, to) of an assignment (whole KV groups). */
    long cost(int i, int[] behaviour, int from, int to) {
        long total = 0;
        if (problem.cost() == CostModel.HEADS) {
            for (int h = from; h < to; h++) total += span[i][behaviour[h]];
            return total;
        }
        for (int g = from; g < to; g += groupSize) {
            int widest = 0;
            for (int h = g; h < g + groupSize; h++) widest = Math.max(widest, span[i][behaviour[h]]);
            total += widest;
        }
        return total;
    }

    /** Rule indices of the problem for an assignment of behaviours. */
    int[] rules(int[] behaviour) {
        int[] rules = new int[behaviour.length];
        for (int h = 0; h < rules.length; h++) rules[h] = rule[behaviour[h]];
        return rules;
    }

    int[] behaviours(int[] rules) {
        int[] b = new int[rules.length];
        for (int h = 0; h < b.length; h++) b[h] = behaviourOf[rules[h]];
        return b;
    }

    /** Whether an assignment meets the density bounds, the rules-per-layer limit and the objective bounds. */
    boolean feasible(int[] behaviour, int primary, long[] lower, long[] upper) {
        for (int i = 0; i < costRows(); i++) {
            long c = cost(i, behaviour);
            if (c < floor[i] || c > budget[i]) return false;
        }
        for (int l = 0; l < layers; l++) {
            long used = Arrays.stream(behaviour, l * headsPerLayer, (l + 1) * headsPerLayer).distinct().count();
            if (used > problem.maxRulesPerLayer()) return false;
        }
        if (lower != null) {
            for (int k = 0; k < objectives(); k++) {
                if (k == primary) continue;
                long f = objective(k, behaviour);
                if (f < lower[k] || f > upper[k]) return false;
            }
        }
        return true;
    }
}
