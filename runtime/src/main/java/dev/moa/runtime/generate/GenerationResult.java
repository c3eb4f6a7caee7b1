package dev.moa.runtime.generate;

/**
 * What a generation produced and how fast.
 *
 * @param tokens           generated token ids (without the prompt; the stop token, if any, excluded)
 * @param text             the generated text as streamed
 * @param promptTokens     tokens in the (possibly truncated) prompt
 * @param stopReason       why generation ended
 * @param timeToFirstToken seconds from the start until the first new token was chosen
 * @param prefillSeconds   time of the prompt's forward pass
 * @param decodeSteps      forward passes of single generated tokens
 * @param decodeSeconds    time from the end of prefill to the end of generation
 * @param kvCacheBytes     KV-cache memory of the session (decode-time layout)
 */
public record GenerationResult(int[] tokens, String text, int promptTokens, StopReason stopReason,
                               double timeToFirstToken, double prefillSeconds, int decodeSteps, double decodeSeconds,
                               long kvCacheBytes) {

    public enum StopReason { EOS, STOP_STRING, MAX_TOKENS, CONTEXT_FULL }

    public double prefillTokensPerSecond() {
        return promptTokens / prefillSeconds;
    }

    public double decodeTokensPerSecond() {
        return decodeSteps > 0 ? decodeSteps / decodeSeconds : Double.NaN;
    }
}
