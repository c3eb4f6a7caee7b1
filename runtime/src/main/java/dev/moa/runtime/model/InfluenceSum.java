package dev.moa.runtime.model;

/**
 * How a sample's first-order loss changes ΔL_ij are summed into a 64×64 block's influence.
 */
public enum InfluenceSum {
    /**
     * {@code Σ |ΔL_ij|} over the block's entries: the reference's (and moa.md §4's) rule. A head that spreads its
     * attention thinly over thousands of keys collects many small terms of both signs whose magnitudes add up, so
     * it looks far more important than masking its distant keys really is.
     */
    ENTRIES,
    /**
     * {@code |Σ ΔL_ij|} over the block's entries: the first-order change of masking the whole block, whose
     * entries' opposite-signed terms cancel as they do when the block is really left out (the runtime never drops
     * less than a block). The default: on the demo model it predicts the measured loss of restricting a head to a
     * window within a factor of ~1.3, where {@link #ENTRIES} is off by up to 18× (docs/benchmarks.md).
     */
    BLOCKS;

    public static InfluenceSum parse(String name) {
        return switch (name) {
            case "blocks" -> BLOCKS;
            case "entries" -> ENTRIES;
            default -> throw new IllegalArgumentException("influence must be 'blocks' (|sum of dL| per block) or 'entries' "
                    + "(sum of |dL|, the reference's), got '" + name + "'");
        };
    }
}
