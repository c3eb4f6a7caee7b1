package dev.moa.runtime.cli;

import dev.moa.loader.config.GenerationConfig;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.PromptFit;
import dev.moa.runtime.generate.Prompts;
import dev.moa.runtime.generate.SamplingParams;
import java.nio.file.Path;
import java.util.Set;

/** {@code moa generate}: stream a continuation of a prompt (or a chat turn) to stdout, statistics to stderr. */
final class GenerateCommand {
    static final Set<String> OPTIONS = Set.of("model", "prompt", "system", "max-tokens", "temperature", "top-k", "top-p", "seed", "stop", "attention");
    static final Set<String> FLAGS = Set.of("chat", "truncate");

    int run(String[] argv) throws Exception {
        Args args = new Args("generate", argv, 1, OPTIONS, FLAGS);
        Path dir = Path.of(args.required("model"));
        try (Model model = ModelLoading.load(dir)) {
            return generate(model, args.required("prompt"), args);
        }
    }

    static int generate(Model model, String prompt, Args args) {
        int[] ids = encodePrompt(model, prompt, args.flag("chat"), args.string("system", null));
        GenerationParams params = new GenerationParams(
                args.integer("max-tokens", 256), sampling(model.generationConfig(), args),
                args.all("stop"), args.flag("truncate"), attention(args));
        PromptFit fit = Generator.fit(model, ids, params);
        if (fit.note() != null) System.err.println("moa: " + fit.note());
        GenerationResult result = Generator.generate(model, fit, params, text -> {
            System.out.print(text);
            System.out.flush();
        });
        System.out.println();
        printStats(result);
        return 0;
    }

    static AttentionMode attention(Args args) {
        try {
            return AttentionMode.parse(args.string("attention", "dense"));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /** Plain prompts get the tokenizer's special tokens (e.g. BOS); chat prompts carry them in the template. */
    static int[] encodePrompt(Model model, String prompt, boolean chat, String system) {
        if (!chat) return Prompts.plain(model, prompt);
        if (model.chatTemplate().isEmpty()) {
            throw new UsageException(model.directory() + ": --chat needs a chat_template in tokenizer_config.json, and this model has none");
        }
        return Prompts.chat(model, system, prompt);
    }

    /** Command-line values win; otherwise the model's generation_config.json; otherwise greedy. */
    static SamplingParams sampling(GenerationConfig g, Args args) {
        double defaultTemperature = g.doSample() ? g.temperature().orElse(1.0) : 0.0;
        return new SamplingParams(
                args.number("temperature", defaultTemperature),
                args.integer("top-k", g.doSample() ? g.topK().orElse(0) : 0),
                args.number("top-p", g.doSample() ? g.topP().orElse(1.0) : 1.0),
                args.longValue("seed", 42));
    }

    static void printStats(GenerationResult r) {
        System.err.printf("prompt tokens: %d, generated: %d (%s)%n", r.promptTokens(), r.tokens().length,
                r.stopReason().name().toLowerCase().replace('_', ' '));
        System.err.printf("time to first token: %.1f ms, prefill: %.1f tokens/s, decode: %.1f tokens/s, KV cache: %s%n",
                r.timeToFirstToken() * 1e3, r.prefillTokensPerSecond(), r.decodeTokensPerSecond(), InfoCommand.bytes(r.kvCacheBytes()));
    }
}
