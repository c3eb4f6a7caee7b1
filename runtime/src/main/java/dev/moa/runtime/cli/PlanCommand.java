package dev.moa.runtime.cli;

import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.ElasticRule;
import dev.moa.plans.MoaPlan;
import dev.moa.plans.PlanHeatmap;
import dev.moa.runtime.profile.Validation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;

/**
 * {@code moa plan show --plan FILE --model DIR --length N}: each layer's spans, density and KV slots at length
 * N, the largest KV share at any length from N/2 to N, and a heatmap (SVG, layers × heads) written next to the plan.
 */
final class PlanCommand {
    int run(String[] argv) throws Exception {
        if (argv.length < 2 || !argv[1].equals("show")) throw new UsageException("plan: usage: moa plan show --plan FILE --model DIR --length N [--out FILE.svg]");
        Args args = new Args("plan show", argv, 2, Set.of("plan", "model", "length", "out"), Set.of());
        Path planFile = Path.of(args.required("plan"));
        ModelConfig config = ModelConfig.load(Path.of(args.required("model")));
        int n = args.integer("length", 0);
        if (n < 1) throw new UsageException("plan show: --length N (prompt + generation allowance) is required and must be positive");
        MoaPlan plan = MoaPlan.load(planFile).validateFor(config.numLayers(), config.numHeads(), args.required("model"));

        int group = config.groupSize();
        System.out.printf("plan %s on %s (%d layers x %d query heads over %d KV heads), N = %d%n",
                planFile, args.required("model"), config.numLayers(), config.numHeads(), config.numKvHeads(), n);
        System.out.println("layer   min span  median  max span  density  KV slots (MoA / dense)");
        long moaSlots = 0, denseSlots = 0;
        double densitySum = 0;
        for (int l = 0; l < config.numLayers(); l++) {
            int[] spans = new int[config.numHeads()];
            double density = 0;
            for (int h = 0; h < spans.length; h++) {
                spans[h] = plan.rule(l, h).span(n);
                density += Math.min(1.0, spans[h] / (double) n);
            }
            density /= spans.length;
            densitySum += density;
            // Native GQA: a KV group stores what its widest query head needs, never more than N.
            long slots = 0;
            for (int g = 0; g < config.numKvHeads(); g++) {
                int widest = 0;
                for (int h = g * group; h < (g + 1) * group; h++) widest = Math.max(widest, Math.min(spans[h], n));
                slots += widest;
            }
            moaSlots += slots;
            denseSlots += (long) config.numKvHeads() * n;
            int[] sorted = spans.clone();
            Arrays.sort(sorted);
            System.out.printf("%5d  %9d  %6d  %8d  %6.1f%%  %d / %d%n", l, sorted[0], sorted[sorted.length / 2],
                    sorted[sorted.length - 1], 100 * density, slots, (long) config.numKvHeads() * n);
        }
        System.out.printf("all    density %.1f%%, KV memory %.1f%% of dense%n", 100 * densitySum / config.numLayers(), 100.0 * moaSlots / denseSlots);
        // Spans round up to whole blocks, so the share at other N can be above the share at the lengths a plan was
        // optimised for: show the worst over every N from N/2 to N (below that the 128-token minimum span dominates).
        double worst = 0;
        int worstAt = 0;
        int from = Math.max(n / 2, 2 * ElasticRule.MIN_SPAN);
        for (int m = from; m <= n; m++) {
            double share = Validation.kvShare(config, plan, m);
            if (share > worst) {
                worst = share;
                worstAt = m;
            }
        }
        if (worstAt > 0) System.out.printf("KV memory at any N from %d to %d: at most %.1f%% of dense (at N = %d; spans round up to %d-token blocks)%n",
                from, n, 100 * worst, worstAt, ElasticRule.BLOCK);
        Path out = OutputPaths.file("--out", args.has("out") ? Path.of(args.string("out", null))
                : planFile.toAbsolutePath().resolveSibling(planFile.getFileName().toString().replaceAll("\\.json$", "") + "-N" + n + ".svg"));
        Files.writeString(out, PlanHeatmap.svg(plan, n, planFile.getFileName().toString()));
        System.out.println("heatmap: " + out);
        return 0;
    }
}
