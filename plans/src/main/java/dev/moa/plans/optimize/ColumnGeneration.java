package dev.moa.plans.optimize;

import com.google.ortools.linearsolver.MPConstraint;
import com.google.ortools.linearsolver.MPObjective;
import com.google.ortools.linearsolver.MPSolver;
import com.google.ortools.linearsolver.MPVariable;
import com.google.ortools.sat.BoolVar;
import com.google.ortools.sat.CpModel;
import com.google.ortools.sat.CpSolver;
import com.google.ortools.sat.CpSolverStatus;
import com.google.ortools.sat.LinearExpr;
import com.google.ortools.sat.LinearExprBuilder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The plan problem as a choice of one configuration per layer (Dantzig–Wolfe): the layers are tied only by the
 * density bounds (and, in a sweep, the other objectives' bounds), so a plan is one "column" per layer — the layer's
 * rule for every head, with its objectives and costs. The linear relaxation over all columns is solved by column
 * generation: GLOP solves the master over the columns known so far, and {@link LayerPricing} finds, exactly, each
 * layer's column of least reduced cost under the master's duals, until none is negative. Its value is a lower bound
 * on every plan (Lagrangian: {@code LP + Σ_layers min(0, least reduced cost)} holds at every round), far tighter
 * than CP-SAT's own on this problem; CP-SAT then picks the best integer combination of the columns found.
 *
 * <p>The columns are kept between solves: a sweep's solves differ only in objective and bounds, so each starts
 * from everything the earlier ones priced.
 */
final class ColumnGeneration {
    /** One layer's configuration: a behaviour per head of the layer, its integer objectives and costs. */
    record Column(int layer, int[] behaviour, long[] objective, long[] cost) {
    }

    /**
     * @param lowerBound a proven lower bound on the primary objective over all plans (−∞ when none was reached)
     * @param feasible   false only when the relaxation was proven empty (no plan exists)
     */
    record Relaxation(double lowerBound, boolean feasible, int rounds) {
    }

    private final ScaledProblem s;
    private final List<List<Column>> pool = new ArrayList<>();
    private final List<Set<List<Integer>>> known = new ArrayList<>();

    ColumnGeneration(ScaledProblem s) {
        this.s = s;
        for (int l = 0; l < s.layers; l++) {
            pool.add(new ArrayList<>());
            known.add(new HashSet<>());
            for (int b = 0; b < s.behaviours; b++) {
                int[] uniform = new int[s.headsPerLayer];
                Arrays.fill(uniform, b);
                add(l, uniform);
            }
        }
    }

    int columns() {
        return pool.stream().mapToInt(List::size).sum();
    }

    /** Adds a layer configuration unless known; returns the column or null. */
    Column add(int layer, int[] behaviour) {
        if (!known.get(layer).add(Arrays.stream(behaviour).boxed().toList())) return null;
        int first = layer * s.headsPerLayer;
        long[] objective = new long[s.objectives()];
        for (int k = 0; k < objective.length; k++) {
            for (int h = 0; h < behaviour.length; h++) objective[k] += s.loss[k][first + h][behaviour[h]];
        }
        int[] whole = new int[s.heads];
        System.arraycopy(behaviour, 0, whole, first, behaviour.length);
        long[] cost = new long[s.costRows()];
        for (int i = 0; i < cost.length; i++) cost[i] = s.cost(i, whole, first, first + behaviour.length);
        Column c = new Column(layer, behaviour.clone(), objective, cost);
        pool.get(layer).add(c);
        return c;
    }

    /** Adds every layer of a full plan as columns (plans found elsewhere enrich the pool). */
    void addPlan(int[] behaviour) {
        for (int l = 0; l < s.layers; l++) add(l, Arrays.copyOfRange(behaviour, l * s.headsPerLayer, (l + 1) * s.headsPerLayer));
    }

    /** Columns priced per layer and round: the best and the next cheapest pairs' configurations. */
    static final int COLUMNS_PER_ROUND = 4;

    /**
     * The master LP over the pool, grown by pricing until optimal or past the deadline (System.nanoTime). When GLOP
     * fails numerically the relaxation gives no bound (the caller then relies on CP-SAT alone).
     */
    Relaxation relax(int primary, long[] lower, long[] upper, long deadline) {
        try {
            return relaxOnce(primary, lower, upper, deadline);
        } catch (ArithmeticException e) {
            return new Relaxation(Double.NEGATIVE_INFINITY, true, 0);
        }
    }

    /*
     * Rows are scaled to O(1) for GLOP: a cost row by its budget, an objective row (and the objective) by the
     * integer resolution. The duals then price a column's cost i as cost_i / budget_i and its objective k as
     * f_k / RESOLUTION, which is how they are turned into the pricing weights below.
     */
    private Relaxation relaxOnce(int primary, long[] lower, long[] upper, long deadline) {
        MPSolver lp = MPSolver.createSolver("GLOP");
        if (lp == null) throw new IllegalStateException("OR-Tools' GLOP linear solver is not available in this build");
        double unit = ScaledProblem.RESOLUTION;
        MPConstraint[] convex = new MPConstraint[s.layers];
        for (int l = 0; l < s.layers; l++) convex[l] = lp.makeConstraint(1, 1, "layer_" + l);
        MPConstraint[] costRow = new MPConstraint[s.costRows()];
        double[] costScale = new double[costRow.length];
        for (int i = 0; i < costRow.length; i++) {
            costScale[i] = Math.max(1, s.budget[i]);
            costRow[i] = lp.makeConstraint(s.floor[i] / costScale[i], s.budget[i] / costScale[i], "cost_" + i);
        }
        MPConstraint[] objectiveRow = new MPConstraint[s.objectives()];
        if (lower != null) {
            for (int k = 0; k < objectiveRow.length; k++) {
                if (k != primary) objectiveRow[k] = lp.makeConstraint(lower[k] / unit, upper[k] / unit, "objective_" + k);
            }
        }
        // Phase I: slacks on every bounded row find a feasible mix of columns; phase II then drops them.
        List<MPVariable> slacks = new ArrayList<>();
        MPObjective objective = lp.objective();
        objective.setMinimization();
        for (MPConstraint row : concat(costRow, objectiveRow)) {
            for (double sign : new double[] {1, -1}) {
                MPVariable slack = lp.makeNumVar(0, Double.POSITIVE_INFINITY, "");
                row.setCoefficient(slack, sign);
                objective.setCoefficient(slack, 1);
                slacks.add(slack);
            }
        }
        Master master = new Master(lp, convex, costRow, costScale, objectiveRow, objective, primary);
        for (List<Column> layer : pool) for (Column c : layer) master.add(c, false);

        boolean phaseTwo = false;
        double bound = Double.NEGATIVE_INFINITY;
        int rounds = 0;
        while (true) {
            rounds++;
            MPSolver.ResultStatus status = lp.solve();
            if (status != MPSolver.ResultStatus.OPTIMAL) throw new ArithmeticException("GLOP: " + status);
            double value = objective.value();
            if (!phaseTwo && value <= 1e-9) {
                phaseTwo = true;
                for (MPVariable slack : slacks) {
                    slack.setUb(0);
                    objective.setCoefficient(slack, 0);
                }
                master.startPhaseTwo();
                continue;
            }
            // All duals are read before the first new column changes the model.
            double[] objectiveWeight = new double[s.objectives()];
            objectiveWeight[primary] = phaseTwo ? 1 : 0;
            for (int k = 0; k < objectiveRow.length; k++) if (objectiveRow[k] != null) objectiveWeight[k] = -objectiveRow[k].dualValue();
            double[] costWeight = new double[costRow.length];
            for (int i = 0; i < costRow.length; i++) costWeight[i] = -costRow[i].dualValue() * unit / costScale[i];
            double[] layerDual = new double[s.layers];
            for (int l = 0; l < s.layers; l++) layerDual[l] = convex[l].dualValue() * unit;
            double lagrangian = value * unit;
            boolean added = false;
            for (int l = 0; l < s.layers; l++) {
                List<LayerPricing.Best> priced = LayerPricing.price(s, l, objectiveWeight, costWeight, COLUMNS_PER_ROUND);
                lagrangian += Math.min(0, priced.get(0).value() - layerDual[l]);
                for (LayerPricing.Best best : priced) {
                    if (best.value() - layerDual[l] >= -1e-7 * (1 + Math.abs(layerDual[l]))) break;
                    Column c = add(l, best.behaviour());
                    if (c != null) {
                        master.add(c, phaseTwo);
                        added = true;
                    }
                }
            }
            if (phaseTwo) bound = Math.max(bound, lagrangian);
            if (!added) {
                // No column improves: phase I stuck above zero proves no plan exists; phase II is optimal.
                return phaseTwo ? new Relaxation(Math.max(bound, value * unit), true, rounds) : new Relaxation(Double.NEGATIVE_INFINITY, false, rounds);
            }
            if (System.nanoTime() > deadline) return new Relaxation(bound, true, rounds);
        }
    }

    /** The LP's column variables, scaled as its rows are. */
    private static final class Master {
        final MPSolver lp;
        final MPConstraint[] convex, costRow, objectiveRow;
        final double[] costScale;
        final MPObjective objective;
        final int primary;
        final List<MPVariable> variables = new ArrayList<>();
        final List<Column> columns = new ArrayList<>();

        Master(MPSolver lp, MPConstraint[] convex, MPConstraint[] costRow, double[] costScale, MPConstraint[] objectiveRow,
               MPObjective objective, int primary) {
            this.lp = lp;
            this.convex = convex;
            this.costRow = costRow;
            this.costScale = costScale;
            this.objectiveRow = objectiveRow;
            this.objective = objective;
            this.primary = primary;
        }

        void add(Column c, boolean phaseTwo) {
            MPVariable z = lp.makeNumVar(0, Double.POSITIVE_INFINITY, "");
            convex[c.layer()].setCoefficient(z, 1);
            for (int i = 0; i < costRow.length; i++) costRow[i].setCoefficient(z, c.cost()[i] / costScale[i]);
            for (int k = 0; k < objectiveRow.length; k++) {
                if (objectiveRow[k] != null) objectiveRow[k].setCoefficient(z, c.objective()[k] / ScaledProblem.RESOLUTION);
            }
            objective.setCoefficient(z, phaseTwo ? c.objective()[primary] / ScaledProblem.RESOLUTION : 0);
            variables.add(z);
            columns.add(c);
        }

        void startPhaseTwo() {
            for (int j = 0; j < variables.size(); j++) objective.setCoefficient(variables.get(j), columns.get(j).objective()[primary] / ScaledProblem.RESOLUTION);
        }
    }

    private static MPConstraint[] concat(MPConstraint[] a, MPConstraint[] b) {
        return java.util.stream.Stream.concat(Arrays.stream(a), Arrays.stream(b)).filter(java.util.Objects::nonNull).toArray(MPConstraint[]::new);
    }

    /** The best plan made of known columns (CP-SAT, one column per layer), or null when none is feasible. */
    int[] integerMaster(int primary, long[] lower, long[] upper, int[] hint, double seconds, int workers) {
        CpModel model = new CpModel();
        List<BoolVar> all = new ArrayList<>();
        List<Column> columns = new ArrayList<>();
        for (int l = 0; l < s.layers; l++) {
            List<BoolVar> layer = new ArrayList<>();
            for (Column c : pool.get(l)) {
                BoolVar z = model.newBoolVar("");
                layer.add(z);
                all.add(z);
                columns.add(c);
                if (hint != null) {
                    boolean same = Arrays.equals(c.behaviour(), Arrays.copyOfRange(hint, l * s.headsPerLayer, (l + 1) * s.headsPerLayer));
                    model.addHint(z, same);
                }
            }
            model.addExactlyOne(layer.toArray(BoolVar[]::new));
        }
        BoolVar[] z = all.toArray(BoolVar[]::new);
        for (int i = 0; i < s.costRows(); i++) {
            int row = i;
            model.addLinearConstraint(LinearExpr.weightedSum(z, columns.stream().mapToLong(c -> c.cost()[row]).toArray()), s.floor[i], s.budget[i]);
        }
        LinearExprBuilder f = LinearExpr.newBuilder();
        for (int k = 0; k < s.objectives(); k++) {
            int objective = k;
            long[] coefficients = columns.stream().mapToLong(c -> c.objective()[objective]).toArray();
            if (k == primary) f.add(LinearExpr.weightedSum(z, coefficients));
            else if (lower != null) model.addLinearConstraint(LinearExpr.weightedSum(z, coefficients), lower[k], upper[k]);
        }
        model.minimize(f.build());
        CpSolver solver = new CpSolver();
        solver.getParameters().setMaxTimeInSeconds(Math.max(0.05, seconds)).setNumWorkers(workers).setRandomSeed(1);
        CpSolverStatus status = solver.solve(model);
        if (status != CpSolverStatus.OPTIMAL && status != CpSolverStatus.FEASIBLE) return null;
        int[] behaviour = new int[s.heads];
        for (int j = 0; j < z.length; j++) {
            if (solver.booleanValue(z[j])) {
                Column c = columns.get(j);
                System.arraycopy(c.behaviour(), 0, behaviour, c.layer() * s.headsPerLayer, s.headsPerLayer);
            }
        }
        return behaviour;
    }
}
