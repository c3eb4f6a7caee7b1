package dev.moa.plans.optimize;

/**
 * The best configuration of one layer for a weighted objective, found exactly: minimise
 * {@code Σ_k w_k·f_k(layer) + Σ_i c_i·cost_i(layer)} over every way to give the layer's heads at most two rules.
 * The layers are tied together only by the density bounds and the other objectives' bounds; with those priced by
 * {@code w} and {@code c} (the column generation's duals) the layers separate, and this is one layer's part.
 *
 * <p>For every pair of behaviours {a, b} (a = b included): under per-head pricing each head takes the cheaper of
 * the two; under GQA pricing a KV group either gives all its heads a, or all b, or mixes them and pays the wider
 * span at every length ({@code max(span_a, span_b)}), its heads then each taking their cheaper loss, and at least
 * one head each way (a mix with one rule is not a mix, which matters when a cost weight is negative).
 */
final class LayerPricing {
    /** A layer's configuration: one behaviour per head of the layer, and its weighted value. */
    record Best(int[] behaviour, double value) {
    }

    private LayerPricing() {
    }

    /**
     * The configurations of the {@code keep} cheapest rule pairs of a layer, cheapest first (the first is the
     * layer's exact optimum; the others give the integer master more to combine).
     */
    static java.util.List<Best> price(ScaledProblem s, int layer, double[] objectiveWeight, double[] costWeight, int keep) {
        int heads = s.headsPerLayer, first = layer * heads, n = s.behaviours;
        double[][] score = new double[heads][n];
        for (int h = 0; h < heads; h++) {
            for (int b = 0; b < n; b++) {
                double v = 0;
                for (int k = 0; k < objectiveWeight.length; k++) if (objectiveWeight[k] != 0) v += objectiveWeight[k] * s.loss[k][first + h][b];
                score[h][b] = v;
            }
        }
        double[] ruleCost = new double[n];
        for (int b = 0; b < n; b++) {
            for (int i = 0; i < costWeight.length; i++) ruleCost[b] += costWeight[i] * s.span[i][b];
        }
        boolean perHead = s.problem.cost() == CostModel.HEADS || s.groupSize == 1;
        int group = perHead ? 1 : s.groupSize, groups = heads / group;
        // Each group's summed score under one behaviour, for the all-a / all-b options.
        double[][] groupScore = new double[groups][n];
        for (int g = 0; g < groups; g++) {
            for (int b = 0; b < n; b++) {
                double sum = 0;
                for (int h = g * group; h < (g + 1) * group; h++) sum += score[h][b];
                groupScore[g][b] = sum;
            }
        }
        boolean pairs = s.problem.maxRulesPerLayer() >= 2;
        // The `keep` cheapest pairs, most expensive first (a small sorted buffer: keep is a handful).
        double[] value = new double[keep];
        int[] pairA = new int[keep], pairB = new int[keep];
        java.util.Arrays.fill(value, Double.POSITIVE_INFINITY);
        for (int a = 0; a < n; a++) {
            for (int b = a; b < (pairs ? n : a + 1); b++) {
                double v = 0, worstKept = value[0];
                double mixedCost = a == b || perHead ? 0 : mixedCost(s, costWeight, a, b);
                for (int g = 0; g < groups && v < worstKept; g++) v += groupValue(score, groupScore, ruleCost, g, group, a, b, mixedCost, perHead);
                if (v < worstKept) {
                    int i = 0;
                    while (i + 1 < keep && value[i + 1] > v) {
                        value[i] = value[i + 1];
                        pairA[i] = pairA[i + 1];
                        pairB[i] = pairB[i + 1];
                        i++;
                    }
                    value[i] = v;
                    pairA[i] = a;
                    pairB[i] = b;
                }
            }
        }
        java.util.List<Best> best = new java.util.ArrayList<>();
        for (int i = keep - 1; i >= 0; i--) {
            if (value[i] == Double.POSITIVE_INFINITY) continue;
            int[] behaviour = new int[heads];
            int a = pairA[i], b = pairB[i];
            double mixedCost = a == b || perHead ? 0 : mixedCost(s, costWeight, a, b);
            for (int g = 0; g < groups; g++) assign(score, groupScore, ruleCost, g, group, a, b, mixedCost, perHead, behaviour);
            best.add(new Best(behaviour, value[i]));
        }
        return best;
    }

    private static double mixedCost(ScaledProblem s, double[] costWeight, int a, int b) {
        double c = 0;
        for (int i = 0; i < costWeight.length; i++) c += costWeight[i] * Math.max(s.span[i][a], s.span[i][b]);
        return c;
    }

    /** The cheapest option of one group (or one head, under per-head pricing) given the layer's two behaviours. */
    private static double groupValue(double[][] score, double[][] groupScore, double[] ruleCost, int g, int group, int a, int b,
                                     double mixedCost, boolean perHead) {
        double allA = groupScore[g][a] + ruleCost[a], allB = groupScore[g][b] + ruleCost[b];
        double value = Math.min(allA, allB);
        if (perHead || a == b) return value;
        return Math.min(value, mixed(score, g, group, a, b) + mixedCost);
    }

    /** Σ of each head's cheaper score, forcing one head over when all picked the same behaviour. */
    private static double mixed(double[][] score, int g, int group, int a, int b) {
        double sum = 0, switchToB = Double.POSITIVE_INFINITY, switchToA = Double.POSITIVE_INFINITY;
        int choseA = 0;
        for (int h = g * group; h < (g + 1) * group; h++) {
            double sa = score[h][a], sb = score[h][b];
            if (sa <= sb) {
                choseA++;
                sum += sa;
                switchToB = Math.min(switchToB, sb - sa);
            } else {
                sum += sb;
                switchToA = Math.min(switchToA, sa - sb);
            }
        }
        if (choseA == group) sum += switchToB;
        if (choseA == 0) sum += switchToA;
        return sum;
    }

    private static void assign(double[][] score, double[][] groupScore, double[] ruleCost, int g, int group, int a, int b, double mixedCost,
                               boolean perHead, int[] behaviour) {
        double allA = groupScore[g][a] + ruleCost[a], allB = groupScore[g][b] + ruleCost[b];
        double mixed = perHead || a == b ? Double.POSITIVE_INFINITY : mixed(score, g, group, a, b) + mixedCost;
        if (mixed < Math.min(allA, allB)) {
            int choseA = 0, flip = -1;
            double flipCost = Double.POSITIVE_INFINITY;
            for (int h = g * group; h < (g + 1) * group; h++) {
                behaviour[h] = score[h][a] <= score[h][b] ? a : b;
                if (behaviour[h] == a) choseA++;
            }
            if (choseA == group || choseA == 0) {
                int from = choseA == group ? a : b, to = from == a ? b : a;
                for (int h = g * group; h < (g + 1) * group; h++) {
                    double d = score[h][to] - score[h][from];
                    if (d < flipCost) {
                        flipCost = d;
                        flip = h;
                    }
                }
                behaviour[flip] = to;
            }
            return;
        }
        int chosen = allA <= allB ? a : b;
        for (int h = g * group; h < (g + 1) * group; h++) behaviour[h] = chosen;
    }
}
