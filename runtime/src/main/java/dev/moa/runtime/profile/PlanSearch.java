package dev.moa.runtime.profile;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.moa.loader.json.StrictJson;
import dev.moa.plans.CandidateRules;
import dev.moa.plans.ElasticRule;
import dev.moa.plans.InfluenceMap;
import dev.moa.plans.MoaPlan;
import dev.moa.plans.optimize.CostModel;
import dev.moa.plans.optimize.PlanChoice;
import dev.moa.plans.optimize.PlanOptimizer;
import dev.moa.plans.optimize.PlanProblem;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;

/**
 * {@code moa optimize}: the influence maps of a profile become the loss tables of moa.md §5 (the influence each
 * candidate rule leaves out, per head and profiled length), the cost tables (KV slots at every profiled and
 * extended length), the 0/1 program and its ε-constraint sweep ({@link PlanOptimizer}). Writes every Pareto plan
 * in the reference's JSON format ({@code plans/plan-NN.json}), {@code plans.csv} (plan, layer, head, alpha, beta),
 * {@code pareto.json} (each plan's predicted losses and KV share per length, every solve's status and gap) and
 * {@code pareto.png}.
 */
public final class PlanSearch {
    public static final String PLANS = "plans";

    /**
     * @param density         ρ, the share of dense KV bytes a plan may use
     * @param lengths         profiled lengths to optimise (empty: all of the profile's)
     * @param extended        further lengths where the density must hold (e.g. the model's whole context)
     * @param cost            {@code GROUPS} (what the GQA cache allocates) or {@code HEADS} (the reference's count)
     * @param secondsPerSolve time limit of each solve
     */
    public record Settings(double density, List<Integer> lengths, List<Integer> extended, CostModel cost, double secondsPerSolve) {
        public Settings {
            lengths = List.copyOf(lengths);
            extended = List.copyOf(extended);
        }
    }

    /** The problem solved and the Pareto plans, in the order of their files. */
    public record Result(PlanProblem problem, List<PlanChoice> front, List<Path> files) {
    }

    private PlanSearch() {
    }

    /** The influence maps of a profile directory, at the given lengths (all written when empty), shortest first. */
    public static List<InfluenceMap> maps(Path profile, List<Integer> lengths) throws IOException {
        List<Integer> todo = new ArrayList<>(lengths);
        if (todo.isEmpty()) {
            for (var e : Profiler.summary(profile).getAsJsonArray("lengths")) todo.add(e.getAsJsonObject().get("length").getAsInt());
        }
        List<InfluenceMap> maps = new ArrayList<>();
        for (int n : new TreeSet<>(todo)) maps.add(Profiler.read(Profiler.mapFile(profile, n)));
        if (maps.isEmpty()) throw new IllegalArgumentException(profile + ": the profile has no lengths");
        return maps;
    }

    public static Result run(Path profile, Settings settings, Path out, PrintStream progress) throws IOException {
        JsonObject summary = Profiler.summary(profile);
        int heads = summary.get("heads").getAsInt(), kvHeads = summary.get("kv_heads").getAsInt();
        List<InfluenceMap> maps = maps(profile, settings.lengths());
        int shortest = maps.get(0).length(), longest = maps.get(maps.size() - 1).length();
        int extended = Math.max(longest, settings.extended().stream().mapToInt(Integer::intValue).max().orElse(longest));
        List<ElasticRule> rules = CandidateRules.grid(shortest, longest, extended);
        PlanProblem problem = PlanProblem.fromProfiles(maps, heads / kvHeads, rules,
                settings.extended().stream().mapToInt(Integer::intValue).toArray(), settings.density(), settings.cost());
        PlanOptimizer optimizer = new PlanOptimizer(problem, new PlanOptimizer.Settings(settings.secondsPerSolve(),
                Runtime.getRuntime().availableProcessors(), 4));
        if (progress != null) {
            progress.printf(Locale.ROOT, "optimize: %d layers x %d heads (KV groups of %d), %d candidate rules (%d distinct), lengths %s, density %.3f at %s, %s cost%n",
                    problem.layers(), problem.headsPerLayer(), problem.groupSize(), rules.size(), optimizer.distinctRuleCount(),
                    lengthsOf(maps), settings.density(), java.util.Arrays.toString(problem.costLengths()), settings.cost().name().toLowerCase(Locale.ROOT));
        }
        int solves = problem.objectives() + (problem.objectives() > 1 ? problem.objectives() * (int) Math.pow(4, problem.objectives() - 1) : 0);
        Progress bar = new Progress(progress, "optimize", solves, 0);
        PlanOptimizer.Sweep sweep = optimizer.sweep((done, total, s) -> bar.step(done, s.label() + ": " + s.status()
                + (s.feasible() && s.gap() > 0 ? String.format(Locale.ROOT, " (gap %.2f%%)", 100 * s.gap()) : "")));

        Path plansDir = out.resolve(PLANS);
        Files.createDirectories(plansDir);
        try (var old = Files.list(plansDir)) {
            for (Path p : old.filter(p -> p.getFileName().toString().matches("plan-\\d+\\.json")).toList()) Files.delete(p);
        }
        List<Path> files = new ArrayList<>();
        StringBuilder csv = new StringBuilder("plan,layer,head,alpha,beta\n");
        JsonArray plans = new JsonArray();
        for (int i = 0; i < sweep.front().size(); i++) {
            PlanChoice choice = sweep.front().get(i);
            String name = String.format(Locale.ROOT, "plan-%02d", i + 1);
            MoaPlan plan = problem.plan(choice.rules(), name);
            Path file = plansDir.resolve(name + ".json");
            plan.write(file);
            files.add(file);
            for (int l = 0; l < plan.layers(); l++) {
                for (int h = 0; h < plan.heads(l); h++) {
                    csv.append(String.format(Locale.ROOT, "%s,%d,%d,%s,%s%n", name, l, h, number(plan.rule(l, h).alpha()), number(plan.rule(l, h).beta())));
                }
            }
            plans.add(describe(name, problem, choice));
        }
        Files.writeString(out.resolve("plans.csv"), csv);
        JsonObject report = new JsonObject();
        report.addProperty("profile", profile.toAbsolutePath().normalize().toString());
        report.addProperty("density", settings.density());
        report.addProperty("cost", settings.cost().name().toLowerCase(Locale.ROOT));
        report.add("lengths", json(problem.lengths()));
        report.add("cost_lengths", json(problem.costLengths()));
        report.addProperty("candidate_rules", rules.size());
        report.addProperty("distinct_rules", optimizer.distinctRuleCount());
        report.add("plans", plans);
        JsonArray solveLog = new JsonArray();
        for (PlanOptimizer.Solve s : sweep.solves()) {
            JsonObject o = new JsonObject();
            o.addProperty("solve", s.label());
            o.addProperty("status", s.status());
            o.addProperty("seconds", s.seconds());
            if (s.feasible()) o.addProperty("gap", s.gap());
            solveLog.add(o);
        }
        report.add("solves", solveLog);
        Files.writeString(out.resolve("pareto.json"), StrictJson.write(report) + "\n");
        ParetoChart.write(problem, sweep, out.resolve("pareto.png"));
        if (progress != null) progress.printf("optimize: %d Pareto plans in %s (pareto.json, plans.csv, pareto.png beside)%n", files.size(), plansDir);
        return new Result(problem, sweep.front(), files);
    }

    /** A plan's predicted losses and its KV share (what the GQA cache allocates) at each length. */
    static JsonObject describe(String name, PlanProblem problem, PlanChoice choice) {
        JsonObject o = new JsonObject();
        o.addProperty("plan", name);
        JsonObject predicted = new JsonObject();
        for (int k = 0; k < problem.lengths().length; k++) predicted.addProperty(Integer.toString(problem.lengths()[k]), choice.objectives()[k]);
        o.add("predicted_loss", predicted);
        JsonObject kv = new JsonObject();
        for (int n : problem.costLengths()) {
            int[] spans = new int[choice.rules().length];
            for (int h = 0; h < spans.length; h++) spans[h] = problem.rules().get(choice.rules()[h]).span(n);
            long slots = CostModel.GROUPS.cost(spans, problem.groupSize());
            kv.addProperty(Integer.toString(n), slots / ((double) n * problem.heads() / problem.groupSize()));
        }
        o.add("kv_share", kv);
        return o;
    }

    private static JsonArray json(int[] values) {
        JsonArray a = new JsonArray();
        for (int v : values) a.add(v);
        return a;
    }

    private static String lengthsOf(List<InfluenceMap> maps) {
        return maps.stream().map(m -> m.length() + " (" + m.samples() + " samples)").toList().toString();
    }

    private static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }
}
