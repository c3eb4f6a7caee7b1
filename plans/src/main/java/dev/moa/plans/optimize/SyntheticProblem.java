package dev.moa.plans.optimize;

import dev.moa.plans.ElasticRule;
import java.util.List;
import java.util.Random;

/**
 * Plan problems shaped like real profiles, for benchmarks and tests where no model is at hand: each head has a
 * weight (a quarter of them "retrieval heads" up to 20× heavier) and a reach (the share of the context it reads);
 * under a rule it loses {@code weight · max(0, reach − span/N)}, with 10 % noise and a small tie-breaking jitter.
 */
public final class SyntheticProblem {
    private SyntheticProblem() {
    }

    public static PlanProblem of(Random random, int layers, int heads, int groupSize, List<ElasticRule> rules, int[] lengths,
                                 int[] costLengths, double density, CostModel cost) {
        double[][][] loss = new double[lengths.length][layers * heads][rules.size()];
        for (int h = 0; h < layers * heads; h++) {
            double weight = random.nextDouble() < 0.25 ? 20 * random.nextDouble() : random.nextDouble();
            double reach = 0.1 + 0.9 * random.nextDouble();
            for (int k = 0; k < lengths.length; k++) {
                for (int c = 0; c < rules.size(); c++) {
                    double seen = Math.min(1, rules.get(c).span(lengths[k]) / (double) lengths[k]);
                    loss[k][h][c] = weight * Math.max(0, reach - seen) * (1 + 0.1 * random.nextDouble()) + 1e-3 * random.nextDouble();
                }
            }
        }
        return new PlanProblem(layers, heads, groupSize, rules, lengths, loss, costLengths, density, PlanProblem.REFERENCE_LOWER_FRACTION,
                PlanProblem.REFERENCE_RULES_PER_LAYER, cost);
    }
}
