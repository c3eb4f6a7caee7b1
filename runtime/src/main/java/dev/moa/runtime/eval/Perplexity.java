package dev.moa.runtime.eval;

import com.google.gson.JsonObject;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Prompts;
import dev.moa.runtime.model.LlamaModel;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;

/**
 * Language-model loss with dense or sparse attention: perplexity of a text cut into windows of a fixed length,
 * and the mean loss on the answer tokens of prompt/answer pairs (the MoA paper's answer-token perplexity).
 * Sparse spans use N = the scored sequence's length (no generation allowance).
 */
public final class Perplexity {
    /** A question and the answer whose tokens are scored. */
    public record Pair(String prompt, String answer) {
    }

    /** Summed negative log-likelihood (nats) over {@code tokens} scored tokens. */
    public record Loss(String model, AttentionMode attention, String what, int sequences, long tokens, double nll,
                       int length) {
        public double meanLoss() {
            return nll / tokens;
        }

        public double perplexity() {
            return Math.exp(meanLoss());
        }

        public JsonObject toJson() {
            JsonObject o = new JsonObject();
            o.addProperty("model", model);
            o.addProperty("attention", attention.toString());
            o.addProperty("scored", what);
            o.addProperty("length", length);
            o.addProperty("sequences", sequences);
            o.addProperty("tokens", tokens);
            o.addProperty("mean_loss", meanLoss());
            o.addProperty("perplexity", perplexity());
            return o;
        }
    }

    private Perplexity() {
    }

    /**
     * Perplexity of {@code text}: its tokens are cut into consecutive windows of {@code length} tokens (BOS first
     * when the model has one) and every next-token prediction inside a window is scored; at most {@code maxWindows}.
     */
    public static Loss ofText(Model model, AttentionMode attention, String text, int length, int maxWindows, PrintStream progress) {
        if (length < 2) throw new IllegalArgumentException("the window length must be >= 2 tokens, got " + length);
        if (length > model.config().maxPositions()) throw new IllegalArgumentException("window length " + length
                + " exceeds the model's context of " + model.config().maxPositions() + " tokens (max_position_embeddings)");
        int[] ids = model.requireTokenizer().encode(text, false);
        Integer bos = model.bosTokenId().orElse(null);
        int body = bos == null ? length : length - 1;
        int windows = Math.min(maxWindows, ids.length / body);
        if (windows == 0) throw new IllegalArgumentException("the text has " + ids.length + " tokens, fewer than one window of " + length);
        double nll = 0;
        long scored = 0;
        for (int w = 0; w < windows; w++) {
            int[] window = new int[length];
            int offset = 0;
            if (bos != null) window[offset++] = bos;
            System.arraycopy(ids, w * body, window, offset, body);
            nll += sequenceLoss(model, attention, window, 1);
            scored += length - 1;
            if (progress != null) progress.printf("window %d/%d: perplexity so far %.3f%n", w + 1, windows, Math.exp(nll / scored));
        }
        return new Loss(model.directory().getFileName().toString(), attention, "text", windows, scored, nll, length);
    }

    /** Mean loss on the answer tokens of each pair, the prompt asked as {@link Prompts#question}. */
    public static Loss ofAnswers(Model model, AttentionMode attention, List<Pair> pairs, PrintStream progress) {
        double nll = 0;
        long scored = 0;
        int longest = 0;
        for (int i = 0; i < pairs.size(); i++) {
            Pair p = pairs.get(i);
            int[] prompt = Prompts.question(model, p.prompt());
            int[] answer = model.requireTokenizer().encode(p.answer(), false);
            if (answer.length == 0) throw new IllegalArgumentException("pair " + (i + 1) + ": the answer is empty");
            int[] sequence = Arrays.copyOf(prompt, prompt.length + answer.length);
            System.arraycopy(answer, 0, sequence, prompt.length, answer.length);
            if (sequence.length > model.config().maxPositions()) throw new IllegalArgumentException("pair " + (i + 1) + ": "
                    + sequence.length + " tokens exceed the model's context of " + model.config().maxPositions());
            nll += sequenceLoss(model, attention, sequence, prompt.length);
            scored += answer.length;
            longest = Math.max(longest, sequence.length);
            if (progress != null) progress.printf("pair %d/%d: answer loss so far %.4f%n", i + 1, pairs.size(), nll / scored);
        }
        return new Loss(model.directory().getFileName().toString(), attention, "answers", pairs.size(), scored, nll, longest);
    }

    /** Summed -log p(token[i] | tokens before i) for i >= firstScored, in one prefill. */
    public static double sequenceLoss(Model model, AttentionMode attention, int[] tokens, int firstScored) {
        Session session = model.newSession(tokens.length, LlamaModel.DEFAULT_CHUNK, attention, 0);
        double[] nll = {0};
        session.prefill(tokens, new LlamaModel.PositionLogits() {
            @Override
            public void accept(int position, float[] logits) {
                int next = position + 1;
                if (next >= firstScored && next < tokens.length) nll[0] += negativeLogLikelihood(logits, tokens[next]);
            }

            @Override
            public int firstPosition() {
                return firstScored - 1;
            }
        });
        return nll[0];
    }

    /** -log softmax(logits)[target], computed stably in double. */
    static double negativeLogLikelihood(float[] logits, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double sum = 0;
        for (float l : logits) sum += Math.exp(l - max);
        return Math.log(sum) + max - logits[target];
    }
}
