package dev.moa.runtime.cli;

import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.CacheLayout;
import dev.moa.plans.ElasticRule;
import dev.moa.plans.HeadSpans;
import dev.moa.plans.MoaPlan;
import dev.moa.plans.PlanHeatmap;
import dev.moa.runtime.profile.Validation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code moa plan show --plan FILE --model DIR --length N}: each layer's spans, density and KV slots at length
 * N, the largest KV share at any length from N/2 to N, and a heatmap (SVG, layers × heads) written next to the plan.
 */
@Command(name = "plan", description = "MoA plans.", subcommands = PlanCommand.Show.class)
final class PlanCommand {
    @Command(name = "show", description = "A MoA plan's spans, density and KV memory per layer at length N, and a heatmap (SVG).")
    static final class Show implements Callable<Integer> {
        @Option(names = "--plan", required = true, paramLabel = "FILE", description = "the plan ({\"alphas\": [[...]], \"betas\": [[...]]})")
        Path planFile;

        @Mixin
        Options.ModelDir model;

        @Option(names = "--length", required = true, paramLabel = "N", description = "N = prompt + generation allowance")
        int n;

        @Option(names = "--out", paramLabel = "FILE.svg", description = "the heatmap (default: beside the plan, PLAN-N<N>.svg)")
        Path out;

        @Override
        public Integer call() throws Exception {
            Options.require(n >= 1, "plan show: --length must be positive, got " + n);
            Path svg = OutputPaths.file("--out", out != null ? out
                    : planFile.toAbsolutePath().resolveSibling(planFile.getFileName().toString().replaceAll("\\.json$", "") + "-N" + n + ".svg"));
            ModelConfig config = ModelConfig.load(model.dir);
            Options.require(n <= config.maxPositions(), "plan show: --length " + n + " is past the model's context of " + config.maxPositions()
                    + " positions (max_position_embeddings), where no session can reach");
            MoaPlan plan = MoaPlan.load(planFile).validateFor(config.numLayers(), config.numHeads(), model.dir.toString());
            show(plan, config, svg);
            return 0;
        }

        private void show(MoaPlan plan, ModelConfig config, Path out) throws java.io.IOException {
            CacheLayout layout = new CacheLayout(HeadSpans.of(plan, n), config.groupSize(), config.maxPositions());
            System.out.printf("plan %s on %s (%d layers x %d query heads over %d KV heads), N = %d%n",
                    planFile, model.dir, config.numLayers(), config.numHeads(), config.numKvHeads(), n);
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
                // Native GQA: a KV group stores what its widest query head needs, as the cache lays it out
                long slots = layout.layerSlots(l);
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
            Files.writeString(out, PlanHeatmap.svg(plan, n, planFile.getFileName().toString()));
            System.out.println("heatmap: " + out);
        }
    }
}
