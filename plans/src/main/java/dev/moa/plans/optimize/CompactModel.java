package dev.moa.plans.optimize;

import com.google.ortools.sat.BoolVar;
import com.google.ortools.sat.CpModel;
import com.google.ortools.sat.CpSolver;
import com.google.ortools.sat.CpSolverStatus;
import com.google.ortools.sat.IntVar;
import com.google.ortools.sat.LinearExpr;
import com.google.ortools.sat.LinearExprBuilder;
import java.util.Arrays;

/**
 * The 0/1 program written out whole for CP-SAT: a boolean {@code x[h][b]} per head and behaviour, exactly one per
 * head; per layer a boolean {@code used[b] ≥ x[h][b]} with {@code Σ used ≤ maxRulesPerLayer}; per cost length the
 * plan's cost ({@code Σ_h span(h)}, or {@code Σ_g w_g} with {@code w_g = max_{h∈g} span(h)} under GQA pricing)
 * between the budget's ends; the other objectives inside their bounds. Small instances it proves optimal in
 * moments; on large ones its proof stalls (the rules-per-layer link has a weak relaxation), which is why the
 * optimiser starts from {@link ColumnGeneration}'s plan and bound.
 */
final class CompactModel {
    /** The best assignment found (behaviour per head) or null, CP-SAT's status and its bound on the primary. */
    record Result(int[] behaviour, CpSolverStatus status, double bound) {
    }

    private CompactModel() {
    }

    static Result solve(ScaledProblem s, int primary, long[] lower, long[] upper, int[] hint, double seconds, int workers) {
        CpModel model = new CpModel();
        int heads = s.heads, behaviours = s.behaviours;
        BoolVar[][] x = new BoolVar[heads][behaviours];
        for (int h = 0; h < heads; h++) {
            for (int b = 0; b < behaviours; b++) x[h][b] = model.newBoolVar("x_" + h + "_" + b);
            model.addExactlyOne(x[h]);
        }
        if (s.problem.maxRulesPerLayer() < behaviours) {
            for (int l = 0; l < s.layers; l++) {
                BoolVar[] used = new BoolVar[behaviours];
                for (int b = 0; b < behaviours; b++) {
                    used[b] = model.newBoolVar("used_" + l + "_" + b);
                    for (int h = l * s.headsPerLayer; h < (l + 1) * s.headsPerLayer; h++) model.addImplication(x[h][b], used[b]);
                }
                model.addLessOrEqual(LinearExpr.sum(used), s.problem.maxRulesPerLayer());
            }
        }
        for (int i = 0; i < s.costRows(); i++) {
            long[] span = Arrays.stream(s.span[i]).asLongStream().toArray();
            LinearExprBuilder total = LinearExpr.newBuilder();
            if (s.problem.cost() == CostModel.HEADS) {
                for (BoolVar[] head : x) total.add(LinearExpr.weightedSum(head, span));
            } else {
                long narrowest = Arrays.stream(span).min().orElseThrow(), widest = Arrays.stream(span).max().orElseThrow();
                for (int g = 0; g < heads / s.groupSize; g++) {
                    LinearExpr[] spans = new LinearExpr[s.groupSize];
                    for (int j = 0; j < s.groupSize; j++) spans[j] = LinearExpr.weightedSum(x[g * s.groupSize + j], span);
                    IntVar groupSpan = model.newIntVar(narrowest, widest, "kv_" + i + "_" + g);
                    model.addMaxEquality(groupSpan, spans);
                    total.add(groupSpan);
                }
            }
            model.addLinearConstraint(total.build(), s.floor[i], s.budget[i]);
        }
        LinearExpr[] objective = new LinearExpr[s.objectives()];
        for (int k = 0; k < objective.length; k++) {
            LinearExprBuilder f = LinearExpr.newBuilder();
            for (int h = 0; h < heads; h++) f.add(LinearExpr.weightedSum(x[h], s.loss[k][h]));
            objective[k] = f.build();
            if (k != primary && lower != null) model.addLinearConstraint(objective[k], lower[k], upper[k]);
        }
        model.minimize(objective[primary]);
        if (hint != null) {
            for (int h = 0; h < heads; h++) for (int b = 0; b < behaviours; b++) model.addHint(x[h][b], hint[h] == b);
        }

        CpSolver solver = new CpSolver();
        solver.getParameters().setMaxTimeInSeconds(Math.max(0.05, seconds)).setNumWorkers(workers).setRandomSeed(1);
        CpSolverStatus status = solver.solve(model);
        if (status != CpSolverStatus.OPTIMAL && status != CpSolverStatus.FEASIBLE) return new Result(null, status, Double.NaN);
        int[] behaviour = new int[heads];
        for (int h = 0; h < heads; h++) {
            for (int b = 0; b < behaviours; b++) if (solver.booleanValue(x[h][b])) behaviour[h] = b;
        }
        return new Result(behaviour, status, solver.bestObjectiveBound());
    }
}
