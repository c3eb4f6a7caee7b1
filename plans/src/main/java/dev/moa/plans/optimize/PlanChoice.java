package dev.moa.plans.optimize;

import java.util.Arrays;

/**
 * One rule per query head, with what it scores: the objectives (predicted loss at each profiled length) and the
 * cost at each cost length of its problem.
 *
 * @param rules      index into the problem's candidate rules, per head ({@code layer·headsPerLayer + head})
 * @param objectives predicted loss per profiled length
 * @param costs      KV slots per cost length
 */
public record PlanChoice(int[] rules, double[] objectives, long[] costs) {
    public static PlanChoice of(PlanProblem problem, int[] rules) {
        long[] costs = new long[problem.costLengths().length];
        for (int i = 0; i < costs.length; i++) costs[i] = problem.cost(rules, problem.costLengths()[i]);
        return new PlanChoice(rules.clone(), problem.objectives(rules), costs);
    }

    /** True when this choice is at least as good in every objective and better in one. */
    public boolean dominates(PlanChoice other) {
        boolean better = false;
        for (int k = 0; k < objectives.length; k++) {
            if (objectives[k] > other.objectives[k]) return false;
            if (objectives[k] < other.objectives[k]) better = true;
        }
        return better;
    }

    public boolean sameRules(PlanChoice other) {
        return Arrays.equals(rules, other.rules);
    }
}
