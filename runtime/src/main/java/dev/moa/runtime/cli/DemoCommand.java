package dev.moa.runtime.cli;

import dev.moa.runtime.Model;
import dev.moa.runtime.synthetic.Presets;
import java.nio.file.Path;
import java.util.Set;

/**
 * The main job on the embedded default: a tiny Llama-3-style model with random weights, created
 * deterministically on first use, run through the real loader, tokenizer and generation path.
 */
final class DemoCommand {
    static final String PROMPT = "Once upon a time, there was a little girl who";

    int run(String[] argv) throws Exception {
        Args args = new Args("demo", argv, Math.min(1, argv.length), GenerateCommand.OPTIONS, GenerateCommand.FLAGS);
        Path root = Presets.defaultRoot();
        System.err.println("embedded default: a tiny Llama-3-style model with seeded random weights (its text is gibberish"
                + " by design), created deterministically under " + root + "; use `moa generate --model DIR` for a real model");
        Path dir = Presets.TINY.materialize(root);
        try (Model model = ModelLoading.load(dir)) {
            String prompt = args.string("prompt", PROMPT);
            System.out.println("prompt: " + prompt);
            return GenerateCommand.generate(model, prompt, withDefaultMaxTokens(args, argv));
        }
    }

    private static Args withDefaultMaxTokens(Args args, String[] argv) {
        if (args.has("max-tokens")) return args;
        String[] extended = java.util.Arrays.copyOf(argv, argv.length + 2);
        extended[argv.length] = "--max-tokens";
        extended[argv.length + 1] = "48";
        return new Args("demo", extended, Math.min(1, argv.length), GenerateCommand.OPTIONS, GenerateCommand.FLAGS);
    }
}
