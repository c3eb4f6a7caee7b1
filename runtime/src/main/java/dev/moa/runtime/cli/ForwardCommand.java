package dev.moa.runtime.cli;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.model.LlamaModel;
import dev.moa.runtime.Session;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code moa forward}: the full-vocabulary logits of the last position for exactly the given token ids. */
@Command(name = "forward", description = "Logits of the last position for exactly these token ids (no BOS added).")
final class ForwardCommand implements Callable<Integer> {
    @Mixin
    Options.ModelDir model;

    @Option(names = "--tokens", required = true, paramLabel = "\"ID ID ...\"", description = "token ids, separated by spaces or commas")
    String tokenList;

    @Option(names = "--json", description = "print {\"logits\": [...]} with every float exactly, instead of the top 10")
    boolean json;

    @Mixin
    Options.Attention attention;

    @Mixin
    Options.Device device;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "" + AttentionMode.DEFAULT_ALLOWANCE,
            description = "generation allowance in a sparse mode's N = prompt + N, as generate would use (default: ${DEFAULT-VALUE})")
    int allowance;

    @Override
    public Integer call() throws Exception {
        int[] tokens = parseTokens(tokenList);
        Options.require(allowance >= 1, "forward: --max-tokens must be at least 1, got " + allowance);
        try (Model model = device.apply(Model.load(this.model.dir, device.choose(), device.kvCache.format))) {
            if (tokens.length > model.config().maxPositions()) {
                throw new UsageException("forward: " + tokens.length + " tokens exceed the model's context of "
                        + model.config().maxPositions() + " (max_position_embeddings)");
            }
            for (int t : tokens) {
                if (t >= model.config().vocabSize()) {
                    throw new UsageException("forward: token id " + t + " is outside the vocabulary [0, " + model.config().vocabSize() + ")");
                }
            }
            // --max-tokens is the generation allowance in N = prompt + allowance, so a sparse forward applies
            // exactly the mask a generate call with that budget would use at prefill.
            // as generate grants it: no more than the context leaves after the prompt (and at least one)
            int granted = Math.max(1, Math.min(allowance, model.config().maxPositions() - tokens.length));
            float[] logits;
            try (Session session = model.newSession(tokens.length, LlamaModel.DEFAULT_CHUNK, attention.mode, granted)) {
                logits = session.prefill(tokens);
            }
            if (json) {
                printJson(logits);
            } else {
                Integer[] order = new Integer[logits.length];
                for (int i = 0; i < order.length; i++) order[i] = i;
                Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
                for (int i = 0; i < Math.min(10, order.length); i++) System.out.printf("%8d  %.6f%n", order[i], logits[order[i]]);
            }
        }
        return 0;
    }

    static int[] parseTokens(String text) {
        String[] parts = text.trim().split("[\\s,]+");
        if (text.isBlank()) throw new UsageException("forward: --tokens is empty");
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new UsageException("forward: --tokens must be integers separated by spaces, got '" + parts[i] + "'");
            }
            if (ids[i] < 0) throw new UsageException("forward: token id " + ids[i] + " is negative");
        }
        return ids;
    }

    /** {"logits": [...]} with every float printed exactly (shortest round-tripping form). */
    static void printJson(float[] logits) {
        StringBuilder out = new StringBuilder(logits.length * 12).append("{\"logits\": [");
        for (int i = 0; i < logits.length; i++) {
            if (i > 0) out.append(", ");
            float v = logits[i];
            out.append(Float.isFinite(v) ? Float.toString(v) : "null"); // JSON has no NaN; the forward stops before one
        }
        System.out.println(out.append("]}"));
    }
}
