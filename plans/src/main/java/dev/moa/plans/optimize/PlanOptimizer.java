package dev.moa.plans.optimize;

import com.google.ortools.Loader;
import com.google.ortools.sat.CpSolverStatus;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Solves a {@link PlanProblem} with OR-Tools, and sweeps its objectives for the Pareto plans the way the
 * reference does (moa.md §5): minimise each objective alone; split every objective's range over those solutions
 * into {@code intervals} equal parts; for each primary objective and each combination of the other objectives'
 * intervals, minimise the primary with the others held inside their intervals (the ε-constraint method: 3 + 3·16
 * = 51 solves for 3 objectives and 4 intervals); keep the non-dominated results.
 *
 * <p>Each solve: {@link ColumnGeneration} proves a lower bound and CP-SAT combines its layer columns into a plan;
 * when that plan meets the bound it is optimal, otherwise the whole program goes to CP-SAT ({@link CompactModel})
 * starting from it, for the rest of the time limit. What comes back is either proven optimal or carries its gap to
 * the best proven bound. All objectives are minimised in integer units (see {@link ScaledProblem}); the reported
 * values are recomputed from the unscaled losses.
 */
public final class PlanOptimizer {
    /**
     * @param secondsPerSolve wall-clock limit of each solve (the best plan found by then is kept, its gap reported)
     * @param workers         CP-SAT search threads
     * @param intervals       parts each objective's range is split into for the sweep (the reference's 4)
     * @param gapTolerance    a plan whose relative gap to the proven bound is at most this is accepted without
     *                        searching further (0 searches until proven or out of time). The default, 0.5 %, is far
     *                        below the sampling noise of a profile; at the reference's size the whole-model search
     *                        did not close gaps of 0.05-0.2 % in 10 s more per solve
     */
    public record Settings(double secondsPerSolve, int workers, int intervals, double gapTolerance) {
        public Settings {
            if (!(secondsPerSolve > 0)) throw new IllegalArgumentException("the time per solve must be positive, got " + secondsPerSolve);
            if (workers < 1) throw new IllegalArgumentException("workers must be >= 1, got " + workers);
            if (intervals < 1) throw new IllegalArgumentException("intervals must be >= 1, got " + intervals);
            if (!(gapTolerance >= 0)) throw new IllegalArgumentException("the gap tolerance must be >= 0, got " + gapTolerance);
        }

        public Settings(double secondsPerSolve, int workers, int intervals) {
            this(secondsPerSolve, workers, intervals, 5e-3);
        }

        public static Settings defaults() {
            return new Settings(10, Runtime.getRuntime().availableProcessors(), 4);
        }
    }

    /**
     * One solve: what was asked ({@code label}), the plan found (null when none exists), its status ("optimal",
     * "feasible", "infeasible", "unknown"), time, and the relative gap to the proven bound (0 when optimal).
     */
    public record Solve(String label, PlanChoice choice, String status, double seconds, double gap) {
        public boolean feasible() {
            return choice != null;
        }
    }

    /** Every solve of a sweep and the Pareto plans among them. */
    public record Sweep(List<Solve> solves, List<PlanChoice> front) {
    }

    /** Told about each solve as it finishes. */
    @FunctionalInterface
    public interface Listener {
        void solved(int done, int total, Solve solve);
    }

    private final PlanProblem problem;
    private final Settings settings;
    private final ScaledProblem scaled;
    private final ColumnGeneration columns;

    public PlanOptimizer(PlanProblem problem, Settings settings) {
        try {
            Loader.loadNativeLibraries();
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            throw new IllegalStateException("the OR-Tools solver library does not load on this platform (" + e.getMessage()
                    + "); the optimiser ships it for Linux x86-64 and aarch64", e);
        }
        this.problem = problem;
        this.settings = settings;
        this.scaled = new ScaledProblem(problem);
        this.columns = problem.maxRulesPerLayer() <= 2 ? new ColumnGeneration(scaled) : null;
    }

    /** How many rules the solver really chooses from (rules with equal spans at every length are one). */
    public int distinctRuleCount() {
        return scaled.behaviours;
    }

    /** Integer value of objective k for a choice (rule index per head), in the solver's units. */
    public long scaledObjective(int k, int[] rules) {
        return scaled.objective(k, scaled.behaviours(rules));
    }

    /**
     * Minimises objective {@code primary}; with bounds, every other objective k stays inside
     * {@code [lower[k], upper[k]]} in solver units (null: unconstrained).
     */
    public Solve minimize(int primary, long[] lower, long[] upper, String label) {
        long start = System.nanoTime();
        long deadline = start + (long) (settings.secondsPerSolve() * 1e9);
        int[] best = null;
        double bound = Double.NEGATIVE_INFINITY;
        if (columns != null) {
            ColumnGeneration.Relaxation relaxation = columns.relax(primary, lower, upper, start + (long) (0.4 * (deadline - start)));
            if (!relaxation.feasible()) return new Solve(label, null, "infeasible", seconds(start), Double.NaN);
            bound = relaxation.lowerBound();
            best = columns.integerMaster(primary, lower, upper, null, 0.5 * remaining(deadline), settings.workers());
            if (best != null) {
                double value = scaled.objective(primary, best), proven = Math.ceil(bound - 1e-6);
                if (value <= proven) return solve(label, best, "optimal", start, 0);
                double gap = (value - proven) / value;
                if (gap <= settings.gapTolerance()) return solve(label, best, "feasible", start, gap);
            }
        }
        CompactModel.Result whole = CompactModel.solve(scaled, primary, lower, upper, best, remaining(deadline), settings.workers());
        if (whole.status() == CpSolverStatus.INFEASIBLE) return new Solve(label, null, "infeasible", seconds(start), Double.NaN);
        if (whole.behaviour() != null) {
            if (columns != null) columns.addPlan(whole.behaviour());
            if (best == null || scaled.objective(primary, whole.behaviour()) < scaled.objective(primary, best)) best = whole.behaviour();
            if (whole.status() == CpSolverStatus.OPTIMAL) return solve(label, best, "optimal", start, 0);
            bound = Math.max(bound, whole.bound());
        }
        if (best == null) return new Solve(label, null, "unknown", seconds(start), Double.NaN);
        double value = scaled.objective(primary, best);
        double gap = value <= 0 ? 0 : Math.max(0, (value - Math.ceil(bound - 1e-6)) / value);
        return solve(label, best, gap == 0 ? "optimal" : "feasible", start, gap);
    }

    private Solve solve(String label, int[] behaviour, String status, long start, double gap) {
        if (!scaled.feasible(behaviour, -1, null, null)) throw new IllegalStateException("the solver returned a plan that breaks a constraint");
        return new Solve(label, PlanChoice.of(problem, scaled.rules(behaviour)), status, seconds(start), gap);
    }

    private static double remaining(long deadline) {
        return Math.max(0.05, (deadline - System.nanoTime()) / 1e9);
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    /** The reference's ε-constraint sweep; throws when no plan meets the density bounds at all. */
    public Sweep sweep(Listener listener) {
        int m = problem.objectives(), intervals = settings.intervals();
        int total = m + (m > 1 ? m * (int) Math.pow(intervals, m - 1) : 0), done = 0;
        List<Solve> solves = new ArrayList<>();
        long[][] anchors = new long[m][];
        for (int k = 0; k < m; k++) {
            Solve s = minimize(k, null, null, "min f" + k);
            solves.add(s);
            if (listener != null) listener.solved(++done, total, s);
            if (!s.feasible()) throw new IllegalStateException(infeasibility(s.status()));
            anchors[k] = new long[m];
            for (int j = 0; j < m; j++) anchors[k][j] = scaledObjective(j, s.choice().rules());
        }
        // Each objective's range over the single-objective optima, split into equal intervals.
        long[][] edges = new long[m][intervals + 1];
        for (int j = 0; j < m; j++) {
            long lo = Long.MAX_VALUE, hi = Long.MIN_VALUE;
            for (long[] a : anchors) {
                lo = Math.min(lo, a[j]);
                hi = Math.max(hi, a[j]);
            }
            for (int i = 0; i <= intervals; i++) edges[j][i] = lo + Math.round((hi - lo) * (double) i / intervals);
        }
        for (int primary = 0; primary < m && m > 1; primary++) {
            int combinations = (int) Math.pow(intervals, m - 1);
            for (int c = 0; c < combinations; c++) {
                long[] lower = new long[m], upper = new long[m];
                StringBuilder label = new StringBuilder("min f" + primary);
                int code = c;
                for (int j = 0; j < m; j++) {
                    if (j == primary) continue;
                    int i = code % intervals;
                    code /= intervals;
                    lower[j] = edges[j][i];
                    upper[j] = edges[j][i + 1];
                    label.append(", f").append(j).append(" in part ").append(i + 1).append('/').append(intervals);
                }
                Solve s = minimize(primary, lower, upper, label.toString());
                solves.add(s);
                if (listener != null) listener.solved(++done, total, s);
            }
        }
        List<PlanChoice> feasible = solves.stream().filter(Solve::feasible).map(Solve::choice).toList();
        return new Sweep(solves, ParetoFront.of(feasible));
    }

    /** Why no plan exists: the density budget against the narrowest and widest plans the rules allow. */
    private String infeasibility(String status) {
        StringBuilder why = new StringBuilder("no plan meets density " + problem.density() + " (" + status + "):");
        int units = problem.cost().units(problem.heads(), problem.groupSize());
        for (int i = 0; i < scaled.costRows(); i++) {
            int narrow = Integer.MAX_VALUE, wide = 0;
            for (int span : scaled.span[i]) {
                narrow = Math.min(narrow, span);
                wide = Math.max(wide, span);
            }
            why.append(String.format(Locale.ROOT, " at N=%d the budget is %d..%d KV slots, the rules give %d..%d;",
                    problem.costLengths()[i], scaled.floor[i], scaled.budget[i], (long) narrow * units, (long) wide * units));
        }
        return why.append(" use another density or lengths whose narrowest rule (128 tokens at least) fits").toString();
    }
}
