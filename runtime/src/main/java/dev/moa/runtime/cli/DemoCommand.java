package dev.moa.runtime.cli;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.eval.LongEval;
import dev.moa.runtime.eval.RetrievalEval;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.Prompts;
import dev.moa.runtime.generate.SamplingParams;
import dev.moa.runtime.synthetic.Presets;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The main job on the bundled demo model (models/moa-demo, trained by scripts/train-demo-model): a short English
 * continuation, then one long LongEval retrieval question answered with dense attention, with the model's own MoA
 * plan at 50 % density and with the uniform rule at the same budget, each with its answer, KV-cache memory and speed.
 */
@Command(name = "demo", description = "The main job on the bundled demo model: an English continuation, then one long retrieval "
        + "question under dense attention, the model's 50%% MoA plan and the uniform rule at the same KV budget.")
final class DemoCommand implements Callable<Integer> {
    static final String PROMPT = "It is a truth universally acknowledged, that";
    /** The asked key sits 20-30% into the record: far outside a 50% sliding window at its end. */
    static final int KEY_DECILE = 2;

    @Option(names = "--model", paramLabel = "DIR", description = "another model (default: models/moa-demo)")
    Path model;

    @Option(names = "--prompt", paramLabel = "TEXT", defaultValue = PROMPT, description = "the English prompt (default: ${DEFAULT-VALUE})")
    String prompt;

    @Option(names = "--attention", paramLabel = "MODE", converter = Options.AttentionConverter.class,
            description = "compare dense with this mode only (default: the model's moa-plan-50.json and uniform:0,0.5)")
    AttentionMode attention;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "7", description = "which retrieval record (default: ${DEFAULT-VALUE})")
    long seed;

    @picocli.CommandLine.Mixin
    Options.Device device;

    @Override
    public Integer call() throws Exception {
        Path dir = model != null ? model : defaultModel();
        try (Model model = ModelLoading.load(dir, device)) {
            System.out.println("== English: greedy continuation of a plain prompt");
            GenerationResult english = Generator.generate(model, Prompts.plain(model, prompt), GenerationParams.greedy(48), text -> { });
            System.out.println(prompt + english.text());
            System.out.println();

            // A record as long as the model's context allows, leaving room for the answer.
            var budget = RetrievalEval.LineBudget.measure(model, model.config().maxPositions() - RetrievalEval.ANSWER_TOKENS);
            var fitted = budget.fit(new Random(seed), KEY_DECILE);
            LongEval.Item item = fitted.item();
            int[] prompt = fitted.prompt();
            System.out.printf("== Retrieval: a %d-line LongEval record (%d tokens); asked for line %s (line %d), expected %d%n",
                    item.keys().size(), prompt.length, item.key(), item.asked() + 1, item.value());
            List<AttentionMode> modes = modes(dir);
            System.out.printf("%-28s %-9s %12s %12s %12s  %s%n", "attention", "answer", "KV cache", "prefill t/s", "decode t/s", "text");
            for (AttentionMode mode : modes) {
                GenerationParams params = new GenerationParams(RetrievalEval.ANSWER_TOKENS, SamplingParams.greedy(), List.of(), false, mode);
                GenerationResult r = Generator.generate(model, prompt, params, text -> { });
                boolean right = item.classify(LongEval.lastInteger(r.text())) == LongEval.Answer.RIGHT;
                System.out.printf("%-28s %-9s %12s %12.1f %12.1f  %s%n", mode.label(), right ? "right" : "wrong",
                        InfoCommand.bytes(r.kvCacheBytes()), r.prefillTokensPerSecond(), r.decodeTokensPerSecond(), r.text().strip());
            }
            System.out.println();
            System.out.println("accuracy over many records and key positions: moa eval retrieval --model " + dir
                    + " [--attention MODE]");
        }
        return 0;
    }

    /**
     * The bundled demo model; where the jar runs without the repository's models/moa-demo beside it, the synthetic
     * tiny model, whose answers are gibberish but whose KV memory and speed under both attention modes are real.
     */
    private static Path defaultModel() throws java.io.IOException {
        var bundled = RepositoryPaths.bundledModel();
        if (bundled.isPresent()) return bundled.get();
        Path root = Presets.defaultRoot();
        System.err.println("models/moa-demo is not in this checkout (scripts/train-demo-model trains it); using a tiny"
                + " synthetic model with seeded random weights instead (its answers are gibberish), created under " + root);
        return Presets.TINY.materialize(root);
    }

    /**
     * Dense, then the model's own MoA plan at 50 % (moa-plan-50.json beside its weights, made by moa compress) and
     * the uniform rule at the same KV budget (StreamingLLM's uniform:0,0.5); {@code --attention} replaces the sparse two.
     */
    private List<AttentionMode> modes(Path dir) {
        if (attention != null) return List.of(new AttentionMode.Dense(), attention);
        List<AttentionMode> modes = new java.util.ArrayList<>(List.of(new AttentionMode.Dense()));
        Path plan = dir.resolve(PLAN);
        if (java.nio.file.Files.isRegularFile(plan)) modes.add(AttentionMode.parse("moa:" + plan));
        modes.add(AttentionMode.parse("uniform:0,0.5"));
        return modes;
    }

    /** The plan moa compress made for the bundled model at density 0.5. */
    static final String PLAN = "moa-plan-50.json";
}
