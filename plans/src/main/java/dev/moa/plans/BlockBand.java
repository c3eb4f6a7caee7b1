package dev.moa.plans;

/**
 * Which 64×64 blocks of the attention matrix one head computes during prefill (moa.md §2), the one place this
 * rule is written: query block m sees key block 0 (the attention sink) and the band of {@link #blocks} blocks
 * that ends at its own block, so key block j is kept iff {@code j == 0 || m − blocks + 1 ≤ j ≤ m}. Inside kept
 * blocks the token-causal mask applies. The runtime's block-sparse prefill and the optimiser's loss table both
 * ask this record, so what a plan is priced at is what it runs.
 *
 * @param blocks the band's width in blocks, diagonal included: the head's window {@code local / 64}
 */
public record BlockBand(int blocks) {
    public BlockBand {
        if (blocks < 0) throw new IllegalArgumentException("a band cannot have " + blocks + " blocks");
    }

    /** The band of a head with this rule in a sequence of total length {@code n}. */
    public static BlockBand of(ElasticRule rule, int n) {
        return new BlockBand(rule.local(n) / ElasticRule.BLOCK);
    }

    /** Whether query block {@code queryBlock} computes key block {@code keyBlock} (causal blocks only). */
    public boolean keeps(int queryBlock, int keyBlock) {
        return keyBlock <= queryBlock && (keyBlock == 0 || keyBlock >= firstBandBlock(queryBlock));
    }

    /** The band's first key block for a query block, never block 0 (the sink is kept apart). */
    public int firstBandBlock(int queryBlock) {
        return firstBandBlock(queryBlock, blocks);
    }

    /** {@link #firstBandBlock(int)} of a band of {@code blocks} blocks, without a record (what GPU kernels call). */
    public static int firstBandBlock(int queryBlock, int blocks) {
        return Math.max(1, queryBlock - blocks + 1);
    }
}
