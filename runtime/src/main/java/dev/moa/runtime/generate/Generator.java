package dev.moa.runtime.generate;

import dev.moa.loader.tokenizer.StreamDecoder;
import dev.moa.loader.tokenizer.Tokenizer;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import java.util.Arrays;
import java.util.OptionalInt;
import java.util.Set;
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
        GenerationParams granted = params.withMaxTokens(fit.maxTokens());
        try (Session session = model.newSession(fit.prompt().length + fit.maxTokens(),
                dev.moa.runtime.model.LlamaModel.DEFAULT_CHUNK, params.attention(), fit.maxTokens())) {
            return generate(model, session, fit.prompt(), granted, onText);
        }
    }

    /** Generates into an existing, empty-or-continued session. */
    public static GenerationResult generate(Model model, Session session, int[] prompt, GenerationParams params, Consumer<String> onText) {
        Tokenizer tokenizer = model.requireTokenizer();
        Set<Integer> eos = model.eosTokenIds();
        Sampler sampler = new Sampler(params.sampling());
        StreamDecoder decoder = tokenizer.streamDecoder(true);
        StopStrings stops = new StopStrings(params.stopStrings());
        StringBuilder text = new StringBuilder();
        // at most one token per free position, plus the last one, which is never fed back
        int[] generated = new int[(int) Math.max(1, Math.min(params.maxTokens(), (long) session.capacity() - session.position() - prompt.length + 1))];
        int count = 0, decodeSteps = 0;

        long start = System.nanoTime();
        float[] logits = session.prefill(prompt);
        long prefillEnd = System.nanoTime();
        double timeToFirstToken = 0;
        GenerationResult.StopReason reason = GenerationResult.StopReason.MAX_TOKENS;
        while (true) {
            int token = sampler.next(logits);
            if (count == 0) timeToFirstToken = (System.nanoTime() - start) / 1e9;
            if (eos.contains(token)) {
                reason = GenerationResult.StopReason.EOS;
                break;
            }
            generated[count++] = token;
            String shown = stops.accept(decoder.push(token));
            emit(shown, text, onText);
            if (stops.stopped()) {
                reason = GenerationResult.StopReason.STOP_STRING;
                break;
            }
            if (count == params.maxTokens()) break;
            if (session.position() >= session.capacity()) {
                reason = GenerationResult.StopReason.CONTEXT_FULL;
                break;
            }
            logits = session.decode(token);
            decodeSteps++;
        }
        long end = System.nanoTime();
        if (reason != GenerationResult.StopReason.STOP_STRING) emit(stops.accept(decoder.flush()) + stops.flush(), text, onText);
        return new GenerationResult(Arrays.copyOf(generated, count), text.toString(), prompt.length, reason,
                timeToFirstToken, (prefillEnd - start) / 1e9, decodeSteps, (end - prefillEnd) / 1e9, session.kvCacheBytes());
    }

    private static void emit(String piece, StringBuilder text, Consumer<String> onText) {
        if (piece.isEmpty()) return;
        text.append(piece);
        onText.accept(piece);
    }
}
