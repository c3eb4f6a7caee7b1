package dev.moa.runtime.generate;

import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import java.util.OptionalInt;
import java.util.function.Consumer;

/**
 * The generation loop: prefill the prompt, then repeatedly choose a token from the logits, stream its text,
 * and feed it back, until an eos token, a stop string, the token budget or the end of the context.
 */
public final class Generator {
    private Generator() {
    }

    /** How {@code prompt} and the request's budget fit the model's context (see {@link PromptFit}). */
    public static PromptFit fit(Model model, int[] prompt, GenerationParams params) {
        return PromptFit.of(prompt, params.maxTokens(), model.config().maxPositions(), params.truncatePrompt(),
                model.bosTokenId().map(OptionalInt::of).orElse(OptionalInt.empty()));
    }

    /**
     * Generates from {@code prompt} (token ids, BOS included if wanted) into a fresh session sized for the
     * request; {@code onText} receives the text as it becomes final.
     */
    public static GenerationResult generate(Model model, int[] prompt, GenerationParams params, Consumer<String> onText) {
        return generate(model, fit(model, prompt, params), params, onText);
    }

    /** As {@link #generate(Model, int[], GenerationParams, Consumer)} with the prompt and budget already fitted. */
    public static GenerationResult generate(Model model, PromptFit fit, GenerationParams params, Consumer<String> onText) {
        return generate(model, fit, params, onText, null);
    }

    /** As above, telling {@code prefillProgress} how many prompt tokens a CPU prefill has run ({@link Session#onPrefillProgress}). */
    public static GenerationResult generate(Model model, PromptFit fit, GenerationParams params, Consumer<String> onText,
                                            java.util.function.IntConsumer prefillProgress) {
        GenerationParams granted = params.withMaxTokens(fit.maxTokens());
        try (Session session = model.newSession(fit.prompt().length + fit.maxTokens(),
                dev.moa.runtime.model.LlamaModel.DEFAULT_CHUNK, params.attention(), fit.maxTokens())) {
            session.onPrefillProgress(prefillProgress);
            return generate(model, session, fit.prompt(), granted, onText);
        }
    }

    /** Generates into an existing, empty-or-continued session. */
    public static GenerationResult generate(Model model, Session session, int[] prompt, GenerationParams params, Consumer<String> onText) {
        Generation generation = new Generation(model, prompt.length, session.capacity() - session.position() - prompt.length, params, onText);
        float[] logits = session.prefill(prompt);
        generation.prefilled();
        // each next token drawn (or the argmax taken) where the step ran: on a device there, no logits read back
        for (int token = generation.choose(logits); (token = generation.accept(token, session.position() < session.capacity())) >= 0; ) {
            token = session.decodeDrawing(token, generation.sampler());
        }
        return generation.result(session.kvCacheBytes());
    }
}
