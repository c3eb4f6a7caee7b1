package dev.moa.plans;

/**
 * How much the loss would change if a head stopped seeing a block of keys (moa.md §4): for every layer, query
 * head and causal 64×64 block (query block m, key block j ≤ m), the summed |ΔL| of its entries, averaged over
 * the calibration samples profiled at one length. This is the profiler's output and the optimiser's input.
 *
 * <p>Stored flat as {@code [layer][head][m][j]}; blocks above the diagonal are zero.
 */
public final class InfluenceMap {
    private final int layers, heads, blocks, length, samples;
    private final float[] values;

    /**
     * @param length  the profiled sequence length N in tokens (a multiple of 64: {@code blocks = N / 64})
     * @param samples how many calibration samples were averaged
     * @param values  {@code layers · heads · blocks · blocks} values
     */
    public InfluenceMap(int layers, int heads, int length, int samples, float[] values) {
        if (layers < 1 || heads < 1) throw new IllegalArgumentException("an influence map needs layers and heads, got " + layers + " x " + heads);
        if (length < ElasticRule.BLOCK || length % ElasticRule.BLOCK != 0) {
            throw new IllegalArgumentException("the profiled length must be a positive multiple of " + ElasticRule.BLOCK + ", got " + length);
        }
        this.layers = layers;
        this.heads = heads;
        this.blocks = length / ElasticRule.BLOCK;
        this.length = length;
        this.samples = samples;
        long expected = (long) layers * heads * blocks * blocks;
        if (values.length != expected) {
            throw new IllegalArgumentException("an influence map of " + layers + " layers x " + heads + " heads x " + blocks + "^2 blocks needs "
                    + expected + " values, got " + values.length);
        }
        this.values = values;
    }

    public int layers() {
        return layers;
    }

    public int heads() {
        return heads;
    }

    /** Blocks per side: N / 64. */
    public int blocks() {
        return blocks;
    }

    public int length() {
        return length;
    }

    public int samples() {
        return samples;
    }

    /** The flat values, {@code [layer][head][m][j]} (not copied). */
    public float[] values() {
        return values;
    }

    private int index(int layer, int head, int queryBlock, int keyBlock) {
        return ((layer * heads + head) * blocks + queryBlock) * blocks + keyBlock;
    }

    public double block(int layer, int head, int queryBlock, int keyBlock) {
        return values[index(layer, head, queryBlock, keyBlock)];
    }

    /**
     * The predicted loss of a head following {@code rule} at this map's length: the influence of every causal
     * block the rule's {@link BlockBand} does not compute.
     */
    public double lossOutside(int layer, int head, ElasticRule rule) {
        BlockBand band = BlockBand.of(rule, length);
        double dropped = 0;
        for (int m = 0; m < blocks; m++) {
            int first = band.firstBandBlock(m);
            int base = index(layer, head, m, 0);
            for (int j = 1; j < first; j++) dropped += values[base + j];
        }
        return dropped;
    }

    /** Influence of all causal blocks of a head (the loss of keeping nothing but the impossible). */
    public double total(int layer, int head) {
        double sum = 0;
        for (int m = 0; m < blocks; m++) {
            int base = index(layer, head, m, 0);
            for (int j = 0; j <= m; j++) sum += values[base + j];
        }
        return sum;
    }
}
