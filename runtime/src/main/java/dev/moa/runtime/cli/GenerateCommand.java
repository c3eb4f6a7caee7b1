package dev.moa.runtime.cli;

import dev.moa.loader.config.GenerationConfig;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.PromptFit;
import dev.moa.runtime.generate.Prompts;
import dev.moa.runtime.generate.SamplingParams;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code moa generate}: stream a continuation of a prompt (or a chat turn) to stdout, statistics to stderr. */
@Command(name = "generate", description = "Stream a continuation of a prompt (or a chat turn) to stdout; statistics to stderr.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    Options.ModelDir model;

    @ArgGroup(multiplicity = "1")
    PromptSource prompt;

    @Option(names = "--chat", description = "wrap the prompt in the model's chat template as one user turn")
    boolean chat;

    @Option(names = "--system", paramLabel = "TEXT", description = "system message of the chat turn (with --chat)")
    String system;

    @Mixin
    Sampling sampling;

    @Option(names = "--stop", paramLabel = "TEXT", description = "stop when the text contains TEXT (not printed); repeatable")
    List<String> stop = List.of();

    @Option(names = "--truncate", description = "keep the prompt's last tokens (and its BOS) so that prompt + --max-tokens fits the context")
    boolean truncate;

    @Mixin
    Options.Attention attention;

    @Mixin
    Options.Device device;

    /** {@code --prompt TEXT} or {@code --prompt-file FILE|-}. */
    static final class PromptSource {
        @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "the prompt")
        String text;

        @Option(names = "--prompt-file", required = true, paramLabel = "FILE|-",
                description = "read the prompt from FILE (or stdin with -), for prompts too long for the command line; one trailing newline is dropped")
        String file;

        String read() throws java.io.IOException {
            if (text != null) return text;
            String content = Options.readTextArgument(file, "--prompt-file");
            return content.endsWith("\n") ? content.substring(0, content.length() - 1) : content;
        }
    }

    /** Sampling options; unset ones come from the model's generation_config.json, else greedy. */
    static final class Sampling {
        @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "256", description = "most new tokens (default: ${DEFAULT-VALUE}; clamped to the context)")
        int maxTokens;

        @Option(names = "--temperature", paramLabel = "T", description = "0 = greedy (default: generation_config.json, else 0)")
        Double temperature;

        @Option(names = "--top-k", paramLabel = "K", description = "sample among the K likeliest (0 = all)")
        Integer topK;

        @Option(names = "--top-p", paramLabel = "P", description = "nucleus sampling: the smallest set holding P of the mass")
        Double topP;

        @Option(names = "--seed", paramLabel = "S", defaultValue = "42", description = "random seed (default: ${DEFAULT-VALUE})")
        long seed;

        /** Before the model loads: the values given must be usable whatever the model's defaults. */
        void check() {
            Options.require(maxTokens >= 1, "--max-tokens must be at least 1, got " + maxTokens);
            Options.require(temperature == null || (temperature >= 0 && Double.isFinite(temperature)), "--temperature must be >= 0, got " + temperature);
            Options.require(topK == null || topK >= 0, "--top-k must be >= 0, got " + topK);
            Options.require(topP == null || (topP > 0 && topP <= 1), "--top-p must be in (0, 1], got " + topP);
        }

        /** Command-line values win; otherwise the model's generation_config.json; otherwise greedy. */
        SamplingParams resolve(GenerationConfig g) {
            double defaultTemperature = g.doSample() ? g.temperature().orElse(1.0) : 0.0;
            return new SamplingParams(temperature != null ? temperature : defaultTemperature,
                    topK != null ? topK : g.doSample() ? g.topK().orElse(0) : 0,
                    topP != null ? topP : g.doSample() ? g.topP().orElse(1.0) : 1.0, seed);
        }
    }

    @Override
    public Integer call() throws Exception {
        sampling.check();
        String text = prompt.read();
        try (Model loaded = ModelLoading.load(model.dir, device)) {
            int[] ids = encodePrompt(loaded, text, chat, system);
            GenerationParams params = new GenerationParams(sampling.maxTokens, sampling.resolve(loaded.generationConfig()), stop, truncate, attention.mode);
            PromptFit fit = Generator.fit(loaded, ids, params);
            if (fit.note() != null) System.err.println("moa: " + fit.note());
            GenerationResult result = Generator.generate(loaded, fit, params, StdoutText::print, new PrefillProgress(System.err, fit.prompt().length));
            StdoutText.println("");
            printStats(result);
        }
        return 0;
    }

    /** Plain prompts get the tokenizer's special tokens (e.g. BOS); chat prompts carry them in the template. */
    static int[] encodePrompt(Model model, String prompt, boolean chat, String system) {
        if (!chat) return Prompts.plain(model, prompt);
        if (model.chatTemplate().isEmpty()) {
            throw new UsageException(model.directory() + ": --chat needs a chat_template in tokenizer_config.json, and this model has none");
        }
        return Prompts.chat(model, system, prompt);
    }

    static void printStats(GenerationResult r) {
        System.err.printf("prompt tokens: %d, generated: %d (%s)%n", r.promptTokens(), r.tokens().length,
                r.stopReason().name().toLowerCase().replace('_', ' '));
        System.err.printf("time to first token: %.1f ms, prefill: %.1f tokens/s, decode: %s tokens/s, KV cache: %s%n",
                r.timeToFirstToken() * 1e3, r.prefillTokensPerSecond(),
                r.decodeSteps() > 0 ? String.format("%.1f", r.decodeTokensPerSecond()) : "-", InfoCommand.bytes(r.kvCacheBytes()));
    }
}
