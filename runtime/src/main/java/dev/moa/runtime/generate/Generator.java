package dev.moa.runtime.generate;

import dev.moa.loader.tokenizer.StreamDecoder;
import dev.moa.loader.tokenizer.Tokenizer;
import dev.moa.runtime.ContextOverflowException;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import java.util.Arrays;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The generation loop: prefill the prompt, then repeatedly choose a token from the logits, stream its text,
 * and feed it back, until an eos token, a stop string, the token budget or the end of the context.
 */
public final class Generator {
    private Generator() {
    }

    /** Context needed for a prompt of {@code promptTokens} plus {@code maxTokens} new tokens, capped by the model. */
    public static int contextFor(Model model, int promptTokens, int maxTokens) {
        return (int) Math.min(model.config().maxPositions(), (long) promptTokens + maxTokens);
    }

    /**
     * Generates from {@code prompt} (token ids, BOS included if wanted) into a fresh session sized for the
     * request; {@code onText} receives the text as it becomes final.
     */
    public static GenerationResult generate(Model model, int[] prompt, GenerationParams params, Consumer<String> onText) {
        int limit = model.config().maxPositions();
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
        if (prompt.length >= limit) {
            if (!params.truncatePrompt()) {
                throw new ContextOverflowException("the prompt has " + prompt.length + " tokens but the model's context holds "
                        + limit + " (max_position_embeddings); shorten it or pass --truncate to keep its last tokens");
            }
            int keep = Math.max(1, limit - params.maxTokens());
            prompt = Arrays.copyOfRange(prompt, prompt.length - keep, prompt.length);
        }
        Session session = model.newSession(contextFor(model, prompt.length, params.maxTokens()),
                dev.moa.runtime.model.LlamaModel.DEFAULT_CHUNK, params.attention(), params.maxTokens());
        return generate(model, session, prompt, params, onText);
    }

    /** Generates into an existing, empty-or-continued session. */
    public static GenerationResult generate(Model model, Session session, int[] prompt, GenerationParams params, Consumer<String> onText) {
        Tokenizer tokenizer = model.requireTokenizer();
        Set<Integer> eos = model.eosTokenIds();
        Sampler sampler = new Sampler(params.sampling());
        StreamDecoder decoder = tokenizer.streamDecoder(true);
        StopStrings stops = new StopStrings(params.stopStrings());
        StringBuilder text = new StringBuilder();
        int[] generated = new int[params.maxTokens()];
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
