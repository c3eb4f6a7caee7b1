package dev.moa.runtime.generate;

import dev.moa.loader.tokenizer.StreamDecoder;
import dev.moa.runtime.Model;
import java.util.Arrays;
import java.util.Set;
import java.util.function.Consumer;

/**
 * One request's decoding, token by token, apart from where its forward passes run: given each step's logits it
 * chooses the next token (its own seeded {@link Sampler}), streams the text that became final (stop strings held
 * back until decided), and says whether to go on. {@link Generator} drives one alone; the server's scheduler drives
 * many, each fed the rows of a batched step, so a request gets the same tokens either way.
 */
public final class Generation {
    private final Set<Integer> eos;
    private final Sampler sampler;
    private final StreamDecoder decoder;
    private final StopStrings stops;
    private final Consumer<String> onText;
    private final StringBuilder text = new StringBuilder();
    private final int promptTokens, maxTokens;
    private final int[] generated;
    private int count, decodeSteps;
    private GenerationResult.StopReason reason;
    private final long start = System.nanoTime();
    private long prefillEnd, end;
    private double timeToFirstToken;

    /**
     * A request whose prompt of {@code promptTokens} tokens leaves room for {@code room} more positions
     * ({@code params.maxTokens()} is clamped to it; the last token is never fed back, so it needs no position).
     */
    public Generation(Model model, int promptTokens, int room, GenerationParams params, Consumer<String> onText) {
        this.eos = model.eosTokenIds();
        this.sampler = new Sampler(params.sampling());
        this.decoder = model.requireTokenizer().streamDecoder(true);
        this.stops = new StopStrings(params.stopStrings());
        this.onText = onText;
        this.promptTokens = promptTokens;
        this.maxTokens = params.maxTokens();
        this.generated = new int[(int) Math.max(1, Math.min(maxTokens, (long) room + 1))];
    }

    /** Marks the end of the prompt's forward pass (for the timings of {@link #result}). */
    public void prefilled() {
        prefillEnd = System.nanoTime();
    }

    /**
     * The next token from {@code logits}, by this generation's sampler alone — what a server's batched step may do for
     * its requests in parallel (each generation on one thread at a time) before it {@link #accept}s them in turn.
     */
    public int choose(float[] logits) {
        if (reason != null) throw new IllegalStateException("the generation has ended (" + reason + ")");
        return sampler.next(logits);
    }

    /**
     * This generation's sampler, for a step that draws where it runs ({@code Session.decodeDrawing},
     * {@code BatchDecoder.stepDrawing}); its draws are the generation's, one a token, whoever makes them.
     */
    public Sampler sampler() {
        if (reason != null) throw new IllegalStateException("the generation has ended (" + reason + ")");
        return sampler;
    }

    /**
     * Takes {@code token} ({@linkplain #choose chosen} from the prompt's last logits, then each fed token's; or a
     * device's argmax where greedy) and streams its text; returns the token to feed back, or -1 when the generation has
     * ended (eos, a stop string, the budget, or {@code roomLeft} false: no position left to feed a token into).
     */
    public int accept(int token, boolean roomLeft) {
        if (reason != null) throw new IllegalStateException("the generation has ended (" + reason + ")");
        if (count == 0) timeToFirstToken = (System.nanoTime() - start) / 1e9;
        if (eos.contains(token)) return finish(GenerationResult.StopReason.EOS);
        generated[count++] = token;
        emit(stops.accept(decoder.push(token)));
        if (stops.stopped()) return finish(GenerationResult.StopReason.STOP_STRING);
        if (count == maxTokens) return finish(GenerationResult.StopReason.MAX_TOKENS);
        if (!roomLeft || count == generated.length) return finish(GenerationResult.StopReason.CONTEXT_FULL);
        decodeSteps++;
        return token;
    }

    private int finish(GenerationResult.StopReason why) {
        reason = why;
        end = System.nanoTime();
        if (why != GenerationResult.StopReason.STOP_STRING) emit(stops.accept(decoder.flush()) + stops.flush());
        return -1;
    }

    private void emit(String piece) {
        if (piece.isEmpty()) return;
        text.append(piece);
        onText.accept(piece);
    }

    /** Whether the generation has ended. */
    public boolean done() {
        return reason != null;
    }

    /** Tokens generated so far (the stop token excluded). */
    public int tokens() {
        return count;
    }

    /** What was generated, once {@link #done()}; {@code kvCacheBytes} is the session's. */
    public GenerationResult result(long kvCacheBytes) {
        if (reason == null) throw new IllegalStateException("the generation has not ended");
        return new GenerationResult(Arrays.copyOf(generated, count), text.toString(), promptTokens, reason, timeToFirstToken,
                (prefillEnd - start) / 1e9, decodeSteps, (end - prefillEnd) / 1e9, kvCacheBytes);
    }
}
