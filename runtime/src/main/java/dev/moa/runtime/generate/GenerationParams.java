package dev.moa.runtime.generate;

import dev.moa.runtime.AttentionMode;
import java.util.List;

/**
 * What one generation request asks for.
 *
 * @param maxTokens      most new tokens to generate
 * @param sampling       how each token is chosen
 * @param stopStrings    generation ends when the text contains one of these (it is not printed)
 * @param truncatePrompt drop the oldest prompt tokens to fit the context, instead of failing
 * @param attention      dense or sparse (MoA) attention; sparse spans use N = prompt + maxTokens
 */
public record GenerationParams(int maxTokens, SamplingParams sampling, List<String> stopStrings, boolean truncatePrompt,
                               AttentionMode attention) {
    public GenerationParams {
        if (maxTokens < 1) throw new IllegalArgumentException("max tokens must be >= 1, got " + maxTokens);
        stopStrings = List.copyOf(stopStrings);
    }

    /** Dense attention. */
    public GenerationParams(int maxTokens, SamplingParams sampling, List<String> stopStrings, boolean truncatePrompt) {
        this(maxTokens, sampling, stopStrings, truncatePrompt, new AttentionMode.Dense());
    }

    /** The same request with another budget (what the context left of the one asked for). */
    public GenerationParams withMaxTokens(int granted) {
        return new GenerationParams(granted, sampling, stopStrings, truncatePrompt, attention);
    }

    public static GenerationParams greedy(int maxTokens) {
        return new GenerationParams(maxTokens, SamplingParams.greedy(), List.of(), false);
    }
}
