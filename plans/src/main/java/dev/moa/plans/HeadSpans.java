package dev.moa.plans;

/**
 * Every query head's span at one total length N (prompt + generation allowance), fixed at prefill:
 * {@code sink[l][h]} tokens at the start and {@code local[l][h]} most recent tokens.
 */
public record HeadSpans(int totalLength, int[][] sink, int[][] local) {

    public static HeadSpans of(MoaPlan plan, int totalLength) {
        int layers = plan.layers();
        int[][] sink = new int[layers][], local = new int[layers][];
        for (int l = 0; l < layers; l++) {
            int heads = plan.heads(l);
            sink[l] = new int[heads];
            local[l] = new int[heads];
            for (int h = 0; h < heads; h++) {
                ElasticRule rule = plan.rule(l, h);
                sink[l][h] = rule.sink(totalLength);
                local[l][h] = rule.local(totalLength);
            }
        }
        return new HeadSpans(totalLength, sink, local);
    }
}
