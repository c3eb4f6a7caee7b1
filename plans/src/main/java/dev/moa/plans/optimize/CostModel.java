package dev.moa.plans.optimize;

/**
 * What a plan costs at length N, in KV slots (tokens), and what the density budget is measured against.
 */
public enum CostModel {
    /**
     * Σ over KV groups of the widest span among the group's query heads: what our native-GQA cache really
     * allocates (a group stores what its widest head needs). The budget ρ·N·(KV groups) then bounds KV bytes.
     */
    GROUPS,
    /**
     * Σ over query heads of their spans, the reference's cost. Under GQA it underestimates the real cache: a plan
     * at 48 % by this measure may allocate 63 % of dense KV bytes.
     */
    HEADS;

    /** The plan's cost at length n: {@code spans[globalHead]} are the chosen rules' spans at n. */
    public long cost(int[] spans, int groupSize) {
        long total = 0;
        if (this == HEADS) {
            for (int s : spans) total += s;
            return total;
        }
        for (int g = 0; g < spans.length / groupSize; g++) {
            int widest = 0;
            for (int h = g * groupSize; h < (g + 1) * groupSize; h++) widest = Math.max(widest, spans[h]);
            total += widest;
        }
        return total;
    }

    /** How many units (query heads or KV groups) a dense plan pays N for. */
    public int units(int queryHeads, int groupSize) {
        return this == HEADS ? queryHeads : queryHeads / groupSize;
    }

    public static CostModel parse(String name) {
        return switch (name) {
            case "groups" -> GROUPS;
            case "heads" -> HEADS;
            default -> throw new IllegalArgumentException("cost must be 'groups' (KV bytes under GQA) or 'heads' (the reference's), got '" + name + "'");
        };
    }
}
