package dev.moa.runtime;

import dev.moa.loader.config.ModelConfig;
import dev.moa.plans.ElasticRule;
import dev.moa.plans.MoaPlan;
import dev.moa.plans.PlanException;
import java.io.IOException;
import java.nio.file.Path;

/**
 * How a session attends: {@code dense} (every position), or sparse with one elastic rule per query head:
 * {@code moa:PLAN.json} (a MoA plan), {@code uniform:ALPHA,BETA} (the same rule everywhere; StreamingLLM is
 * {@code uniform:0,0.5}), {@code window:W} (a fixed window of W tokens plus the 64-token sink).
 */
public sealed interface AttentionMode {
    /** The reference's generation allowance: N = prompt + this many tokens when a request names none. */
    int DEFAULT_ALLOWANCE = 1024;

    record Dense() implements AttentionMode {
        public String toString() {
            return "dense";
        }
    }

    /** Sparse attention: {@code plan} gives each query head's rule; {@code spec} is what the user wrote. */
    record Sparse(String spec, java.util.function.Function<ModelConfig, MoaPlan> plan) implements AttentionMode {
        public String toString() {
            return spec;
        }

        /** The plan for a model, checked against its layer and query-head counts. */
        public MoaPlan planFor(ModelConfig config, String modelName) {
            return plan.apply(config).validateFor(config.numLayers(), config.numHeads(), modelName);
        }
    }

    /** The mode as a table shows it: a plan by its file name, not its whole path. */
    default String label() {
        String spec = toString();
        return spec.startsWith("moa:") ? "moa:" + Path.of(spec.substring(4)).getFileName() : spec;
    }

    static AttentionMode parse(String spec) {
        String s = spec.trim();
        if (s.equals("dense")) return new Dense();
        int colon = s.indexOf(':');
        String kind = colon < 0 ? s : s.substring(0, colon), arg = colon < 0 ? "" : s.substring(colon + 1);
        try {
            return switch (kind) {
                case "moa" -> {
                    if (arg.isBlank()) throw new IllegalArgumentException("moa: needs a plan file, e.g. moa:plan.json");
                    Path file = Path.of(arg);
                    // read now, so that a missing or malformed plan is reported before a model loads
                    MoaPlan plan;
                    try {
                        plan = MoaPlan.load(file);
                    } catch (java.nio.file.NoSuchFileException e) {
                        throw new IllegalArgumentException(file + ": plan file not found");
                    } catch (IOException e) {
                        throw new IllegalArgumentException(e.getMessage());
                    }
                    yield new Sparse(s, config -> plan);
                }
                case "uniform" -> {
                    String[] parts = arg.split(",");
                    if (parts.length != 2) throw new IllegalArgumentException("uniform: needs ALPHA,BETA, e.g. uniform:0,0.5");
                    ElasticRule rule = new ElasticRule(Double.parseDouble(parts[0].trim()), Double.parseDouble(parts[1].trim()));
                    yield new Sparse(s, config -> MoaPlan.uniform(config.numLayers(), config.numHeads(), rule));
                }
                case "window" -> {
                    int window = Integer.parseInt(arg.trim());
                    if (window < 1) throw new IllegalArgumentException("window: needs a positive width");
                    ElasticRule rule = new ElasticRule(window + ElasticRule.SINK, 0);
                    yield new Sparse(s, config -> MoaPlan.uniform(config.numLayers(), config.numHeads(), rule));
                }
                default -> throw new IllegalArgumentException("unknown attention mode");
            };
        } catch (IllegalArgumentException | PlanException e) {
            throw new IllegalArgumentException("--attention " + spec + ": " + e.getMessage()
                    + " (modes: dense, moa:PLAN.json, uniform:ALPHA,BETA, window:W)", e);
        }
    }
}
