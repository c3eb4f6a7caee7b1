package dev.moa.plans.optimize;

import dev.moa.plans.ElasticRule;
import dev.moa.plans.InfluenceMap;
import dev.moa.plans.MoaPlan;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

/**
 * The 0/1 program of moa.md §5: pick one candidate rule per query head so that at every cost length N the plan's
 * cost lies in {@code [lowerFraction·ρ·N·units, ρ·N·units]}, each layer uses at most {@code maxRulesPerLayer}
 * distinct rules, and the objectives {@code f_k = Σ_h loss[k][h][rule of h]} (one per profiled length) are small.
 *
 * @param layers           decoder layers
 * @param headsPerLayer    query heads per layer
 * @param groupSize        query heads per KV head (1 for MHA)
 * @param rules            the candidates
 * @param lengths          the profiled lengths, one objective each
 * @param loss             {@code [objective][layer·headsPerLayer + head][rule]}: predicted loss of the head under the rule
 * @param costLengths      the lengths at which the density bounds hold (the profiled ones and any extended ones)
 * @param density          ρ, the fraction of dense KV the plan may use
 * @param lowerFraction    the plan must use at least this share of its budget (the reference's 0.9)
 * @param maxRulesPerLayer distinct rules a layer may use (the reference's 2)
 * @param cost             how a plan's KV is counted
 */
public record PlanProblem(int layers, int headsPerLayer, int groupSize, List<ElasticRule> rules, int[] lengths,
                          double[][][] loss, int[] costLengths, double density, double lowerFraction,
                          int maxRulesPerLayer, CostModel cost) {
    public static final double REFERENCE_LOWER_FRACTION = 0.9;
    public static final int REFERENCE_RULES_PER_LAYER = 2;

    public PlanProblem {
        rules = List.copyOf(rules);
        if (rules.isEmpty()) throw new IllegalArgumentException("no candidate rules");
        if (headsPerLayer % groupSize != 0) throw new IllegalArgumentException(headsPerLayer + " query heads do not split into groups of " + groupSize);
        if (!(density > 0 && density <= 1)) throw new IllegalArgumentException("density must be in (0, 1], got " + density);
        if (loss.length != lengths.length) throw new IllegalArgumentException(lengths.length + " lengths but " + loss.length + " loss tables");
        for (double[][] table : loss) {
            if (table.length != layers * headsPerLayer) throw new IllegalArgumentException("a loss table has " + table.length + " heads, expected " + layers * headsPerLayer);
            for (double[] row : table) if (row.length != rules.size()) throw new IllegalArgumentException("a loss row has " + row.length + " rules, expected " + rules.size());
        }
        if (costLengths.length == 0) throw new IllegalArgumentException("no length to bound the cost at");
        if (maxRulesPerLayer < 1) throw new IllegalArgumentException("a layer needs at least one rule");
    }

    /**
     * The problem for influence maps profiled at several lengths: each head's loss under each rule is the
     * influence outside the rule's blocks ({@link InfluenceMap#lossOutside}); the density holds at the profiled
     * lengths and at {@code extendedLengths} (where no profile exists, e.g. the model's full context).
     */
    public static PlanProblem fromProfiles(List<InfluenceMap> maps, int groupSize, List<ElasticRule> rules, int[] extendedLengths,
                                           double density, CostModel cost) {
        if (maps.isEmpty()) throw new IllegalArgumentException("no influence maps to optimise over");
        InfluenceMap first = maps.get(0);
        int[] lengths = new int[maps.size()];
        double[][][] loss = new double[maps.size()][first.layers() * first.heads()][rules.size()];
        for (int k = 0; k < maps.size(); k++) {
            InfluenceMap map = maps.get(k);
            if (map.layers() != first.layers() || map.heads() != first.heads()) {
                throw new IllegalArgumentException("influence maps of different shapes: " + first.layers() + "x" + first.heads()
                        + " at " + first.length() + " tokens, " + map.layers() + "x" + map.heads() + " at " + map.length());
            }
            lengths[k] = map.length();
            for (int l = 0; l < map.layers(); l++) {
                for (int h = 0; h < map.heads(); h++) {
                    for (int c = 0; c < rules.size(); c++) loss[k][l * map.heads() + h][c] = map.lossOutside(l, h, rules.get(c));
                }
            }
        }
        TreeSet<Integer> costLengths = new TreeSet<>();
        for (int n : lengths) costLengths.add(n);
        for (int n : extendedLengths) costLengths.add(n);
        return new PlanProblem(first.layers(), first.heads(), groupSize, rules, lengths, loss,
                costLengths.stream().mapToInt(Integer::intValue).toArray(), density, REFERENCE_LOWER_FRACTION,
                REFERENCE_RULES_PER_LAYER, cost);
    }

    public int heads() {
        return layers * headsPerLayer;
    }

    public int objectives() {
        return lengths.length;
    }

    /** The budget's upper end at length n, in KV slots. */
    public long budget(int n) {
        return (long) Math.floor(density * n * cost.units(heads(), groupSize) + 1e-9);
    }

    /** The budget's lower end at length n (the plan must use at least this much). */
    public long floor(int n) {
        return (long) Math.ceil(lowerFraction * density * n * cost.units(heads(), groupSize) - 1e-9);
    }

    /** What a choice (rule index per head) costs at length n. */
    public long cost(int[] choice, int n) {
        int[] spans = new int[choice.length];
        for (int h = 0; h < choice.length; h++) spans[h] = rules.get(choice[h]).span(n);
        return cost.cost(spans, groupSize);
    }

    /** Objective k of a choice. */
    public double objective(int k, int[] choice) {
        double sum = 0;
        for (int h = 0; h < choice.length; h++) sum += loss[k][h][choice[h]];
        return sum;
    }

    public double[] objectives(int[] choice) {
        double[] f = new double[objectives()];
        for (int k = 0; k < f.length; k++) f[k] = objective(k, choice);
        return f;
    }

    /** The choice as a plan file. */
    public MoaPlan plan(int[] choice, String source) {
        ElasticRule[][] rules = new ElasticRule[layers][headsPerLayer];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < headsPerLayer; h++) rules[l][h] = this.rules.get(choice[l * headsPerLayer + h]);
        }
        return MoaPlan.of(source, rules);
    }

    @Override
    public String toString() {
        return layers + " layers x " + headsPerLayer + " heads (groups of " + groupSize + "), " + rules.size() + " rules, lengths "
                + Arrays.toString(lengths) + ", cost at " + Arrays.toString(costLengths) + ", density " + density + " (" + cost + ")";
    }
}
