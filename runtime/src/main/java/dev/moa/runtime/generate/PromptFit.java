package dev.moa.runtime.generate;

import dev.moa.runtime.ContextOverflowException;
import java.util.Arrays;
import java.util.OptionalInt;

/**
 * How a prompt and a token budget share the model's context of {@code context} positions: the prompt kept, the
 * budget granted, and a note when either was changed. A budget larger than what is left after the prompt is clamped
 * (nothing is sized by the number asked for); {@code --truncate} instead keeps the prompt's last tokens so that
 * prompt + budget fits, with its BOS kept in front, and refuses when the budget alone leaves no room for a prompt.
 *
 * @param prompt    the tokens to prefill
 * @param maxTokens the most tokens to generate, so that prompt + maxTokens <= context
 * @param note      what was changed, in one sentence, or null
 */
public record PromptFit(int[] prompt, int maxTokens, String note) {

    public static PromptFit of(int[] prompt, int maxTokens, int context, boolean truncate, OptionalInt bos) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
        if (maxTokens < 1) throw new IllegalArgumentException("max tokens must be >= 1, got " + maxTokens);
        if ((long) prompt.length + maxTokens <= context) return new PromptFit(prompt, maxTokens, null);
        if (!truncate) {
            if (prompt.length >= context) {
                throw new ContextOverflowException("the prompt has " + prompt.length + " tokens but the model's context holds "
                        + context + " (max_position_embeddings); shorten it or pass --truncate to keep its last tokens");
            }
            int granted = context - prompt.length;
            return new PromptFit(prompt, granted, "--max-tokens " + maxTokens + " is more than the " + granted
                    + " positions the context of " + context + " leaves after the prompt's " + prompt.length + " tokens; generating at most " + granted);
        }
        boolean keepBos = bos.isPresent() && prompt[0] == bos.getAsInt();
        int head = keepBos ? 1 : 0;
        long room = (long) context - maxTokens;
        if (room < head + 1) {
            throw new ContextOverflowException("--max-tokens " + maxTokens + " leaves no room for the prompt in the model's context of "
                    + context + " tokens; ask for at most " + (context - head - 1));
        }
        int[] kept = new int[(int) room];
        if (keepBos) kept[0] = prompt[0];
        System.arraycopy(prompt, prompt.length - (kept.length - head), kept, head, kept.length - head);
        return new PromptFit(kept, maxTokens, "--truncate kept the last " + (kept.length - head) + " of the prompt's " + (prompt.length - head)
                + " tokens" + (keepBos ? " after its BOS" : "") + " so that " + maxTokens + " new tokens fit the context of " + context);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PromptFit f && Arrays.equals(prompt, f.prompt) && maxTokens == f.maxTokens && java.util.Objects.equals(note, f.note);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(prompt) * 31 + maxTokens;
    }
}
