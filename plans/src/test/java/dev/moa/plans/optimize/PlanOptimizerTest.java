package dev.moa.plans.optimize;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.plans.CandidateRules;
import dev.moa.plans.ElasticRule;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The optimiser against brute force on instances small enough to enumerate, and against an independent check of
 * every constraint on large ones.
 */
class PlanOptimizerTest {
    static final PlanOptimizer.Settings FAST = new PlanOptimizer.Settings(20, 2, 4);

    static PlanProblem randomProblem(Random random, int layers, int heads, int group, List<ElasticRule> rules, int[] lengths,
                                     int[] costLengths, double density, CostModel cost) {
        return SyntheticProblem.of(random, layers, heads, group, rules, lengths, costLengths, density, cost);
    }

    /** Every constraint of moa.md §5 checked from scratch (spans from the rule, costs summed here). */
    static List<String> violations(PlanProblem p, int[] choice) {
        List<String> bad = new ArrayList<>();
        for (int l = 0; l < p.layers(); l++) {
            long used = 0; // the rules are few: a bit per rule
            for (int h = 0; h < p.headsPerLayer(); h++) used |= 1L << choice[l * p.headsPerLayer() + h];
            if (Long.bitCount(used) > p.maxRulesPerLayer()) bad.add("layer " + l + " uses " + Long.bitCount(used) + " rules");
        }
        for (int n : p.costLengths()) {
            long cost = 0;
            int units;
            if (p.cost() == CostModel.HEADS) {
                for (int r : choice) cost += p.rules().get(r).span(n);
                units = p.heads();
            } else {
                for (int g = 0; g < p.heads() / p.groupSize(); g++) {
                    int widest = 0;
                    for (int i = 0; i < p.groupSize(); i++) widest = Math.max(widest, p.rules().get(choice[g * p.groupSize() + i]).span(n));
                    cost += widest;
                }
                units = p.heads() / p.groupSize();
            }
            double dense = (double) n * units;
            if (cost > p.density() * dense + 1e-6) bad.add("N=" + n + ": cost " + cost + " > " + p.density() * dense);
            if (cost < p.lowerFraction() * p.density() * dense - 1e-6) bad.add("N=" + n + ": cost " + cost + " < the floor");
        }
        return bad;
    }

    /** All rule assignments, in lexicographic order. */
    static List<int[]> everyChoice(int heads, int rules) {
        List<int[]> all = new ArrayList<>();
        int[] c = new int[heads];
        while (true) {
            all.add(c.clone());
            int i = heads - 1;
            while (i >= 0 && ++c[i] == rules) c[i--] = 0;
            if (i < 0) return all;
        }
    }

    @Test
    void findsTheTrueOptimumOfSmallInstancesUnderBothCosts() {
        List<ElasticRule> rules = List.of(new ElasticRule(0, 0.125), new ElasticRule(256, 0.25),
                new ElasticRule(0, 0.5), new ElasticRule(-256, 1), new ElasticRule(0, 1));
        int[] lengths = {1024, 2048};
        for (CostModel cost : CostModel.values()) {
            for (double density : new double[] {0.35, 0.6}) {
                for (int seed = 0; seed < 2; seed++) {
                    PlanProblem p = randomProblem(new Random(seed), 2, 4, 2, rules, lengths, new int[] {1024, 2048, 4096}, density, cost);
                    PlanOptimizer optimizer = new PlanOptimizer(p, FAST);
                    long best = Long.MAX_VALUE;
                    int[] bestChoice = null;
                    for (int[] c : everyChoice(p.heads(), rules.size())) {
                        if (!violations(p, c).isEmpty()) continue;
                        long f = optimizer.scaledObjective(1, c);
                        if (f < best) {
                            best = f;
                            bestChoice = c;
                        }
                    }
                    PlanOptimizer.Solve solve = optimizer.minimize(1, null, null, "test");
                    String what = cost + " density " + density + " seed " + seed;
                    if (bestChoice == null) {
                        assertFalse(solve.feasible(), what + ": brute force finds no feasible plan, the solver must not either");
                        continue;
                    }
                    assertTrue(solve.feasible(), what);
                    assertEquals("optimal", solve.status(), what);
                    assertEquals(List.of(), violations(p, solve.choice().rules()), what);
                    assertEquals(best, optimizer.scaledObjective(1, solve.choice().rules()), what);
                    // The unscaled objective agrees to the scaling's resolution (half a unit per head).
                    double unit = p.objective(1, bestChoice) / Math.max(1, best);
                    assertEquals(p.objective(1, bestChoice), solve.choice().objectives()[1], p.heads() * unit + 1e-12, what);
                }
            }
        }
    }

    @Test
    void theSweepFindsOnlyParetoOptimalPlansAndTheExtremes() {
        List<ElasticRule> rules = List.of(new ElasticRule(0, 0.125), new ElasticRule(0, 0.25), new ElasticRule(512, 0),
                new ElasticRule(0, 0.5), new ElasticRule(-512, 1), new ElasticRule(0, 1));
        int[] lengths = {1024, 2048, 3072};
        PlanProblem p = randomProblem(new Random(11), 2, 4, 2, rules, lengths, lengths, 0.5, CostModel.GROUPS);
        PlanOptimizer optimizer = new PlanOptimizer(p, FAST);
        List<int[]> feasible = everyChoice(p.heads(), rules.size()).stream().filter(c -> violations(p, c).isEmpty()).toList();
        PlanOptimizer.Sweep sweep = optimizer.sweep(null);
        assertEquals(3 + 3 * 16, sweep.solves().size(), "the reference's 51 solves for 3 objectives");
        assertFalse(sweep.front().isEmpty());
        for (PlanChoice plan : sweep.front()) {
            assertEquals(List.of(), violations(p, plan.rules()));
            long[] f = scaled(optimizer, p, plan.rules());
            for (int[] c : feasible) {
                long[] g = scaled(optimizer, p, c);
                boolean dominates = true, better = false;
                for (int k = 0; k < f.length; k++) {
                    dominates &= g[k] <= f[k];
                    better |= g[k] < f[k];
                }
                assertFalse(dominates && better, "a front plan is dominated by a feasible one");
            }
            for (PlanChoice other : sweep.front()) assertFalse(other.dominates(plan), "the front holds a dominated plan");
        }
        for (int k = 0; k < lengths.length; k++) {
            long best = Long.MAX_VALUE;
            for (int[] c : feasible) best = Math.min(best, optimizer.scaledObjective(k, c));
            long frontBest = Long.MAX_VALUE;
            for (PlanChoice plan : sweep.front()) frontBest = Math.min(frontBest, optimizer.scaledObjective(k, plan.rules()));
            assertEquals(best, frontBest, "the front holds the minimum of objective " + k);
        }
    }

    static long[] scaled(PlanOptimizer o, PlanProblem p, int[] c) {
        long[] f = new long[p.objectives()];
        for (int k = 0; k < f.length; k++) f[k] = o.scaledObjective(k, c);
        return f;
    }

    @Test
    void largeInstancesSatisfyEveryConstraintAndTheGroupCostBoundsRealKvSlots() {
        List<ElasticRule> rules = CandidateRules.grid(1024, 4096, 8192);
        int[] lengths = {1024, 2048, 4096};
        PlanProblem p = randomProblem(new Random(5), 16, 32, 4, rules, lengths, new int[] {1024, 2048, 4096, 8192}, 0.5, CostModel.GROUPS);
        PlanOptimizer optimizer = new PlanOptimizer(p, new PlanOptimizer.Settings(5, 2, 4));
        PlanOptimizer.Solve s = optimizer.minimize(2, null, null, "large");
        assertTrue(s.feasible(), s.status());
        assertEquals(List.of(), violations(p, s.choice().rules()));
        // Under the per-head cost, the same density lets the GQA cache allocate more than the budget.
        PlanProblem heads = new PlanProblem(p.layers(), p.headsPerLayer(), p.groupSize(), rules, lengths, p.loss(), p.costLengths(),
                0.5, 0.9, 2, CostModel.HEADS);
        PlanOptimizer.Solve h = new PlanOptimizer(heads, new PlanOptimizer.Settings(5, 2, 4)).minimize(2, null, null, "heads");
        assertNotNull(h.choice());
        assertEquals(List.of(), violations(heads, h.choice().rules()));
        long groupCost = CostModel.GROUPS.cost(spans(rules, h.choice().rules(), 4096), 4);
        assertTrue(groupCost >= s.choice().costs()[2], "per-head pricing allocates at least as much as group pricing: "
                + groupCost + " vs " + s.choice().costs()[2]);
    }

    static int[] spans(List<ElasticRule> rules, int[] choice, int n) {
        int[] s = new int[choice.length];
        for (int i = 0; i < s.length; i++) s[i] = rules.get(choice[i]).span(n);
        return s;
    }

    @Test
    void anImpossibleDensityIsOneSentenceNamingTheBudget() {
        List<ElasticRule> rules = List.of(new ElasticRule(0, 0.5), new ElasticRule(0, 1));
        PlanProblem p = randomProblem(new Random(1), 1, 2, 1, rules, new int[] {1024}, new int[] {1024}, 0.1, CostModel.HEADS);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> new PlanOptimizer(p, FAST).sweep(null));
        assertTrue(e.getMessage().startsWith("no plan meets density 0.1"), e.getMessage());
        assertTrue(e.getMessage().contains("at N=1024 the budget is"), e.getMessage());
    }

    @Test
    void paretoFrontDropsDominatedAndDuplicatePlans() {
        PlanChoice a = new PlanChoice(new int[] {0}, new double[] {1, 3}, new long[0]);
        PlanChoice b = new PlanChoice(new int[] {1}, new double[] {2, 2}, new long[0]);
        PlanChoice dominated = new PlanChoice(new int[] {2}, new double[] {2, 3}, new long[0]);
        PlanChoice again = new PlanChoice(new int[] {0}, new double[] {1, 3}, new long[0]);
        assertEquals(List.of(a, b), ParetoFront.of(List.of(dominated, b, a, again)));
    }
}
