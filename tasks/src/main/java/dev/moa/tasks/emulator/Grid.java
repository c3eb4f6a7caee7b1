package dev.moa.tasks.emulator;

/** A launch shape: groups along x, y, z of {@code groupSize} work-items each (CUDA grid and 1-D block). */
public record Grid(int groupsX, int groupsY, int groupsZ, int groupSize) {
    public Grid {
        if (groupsX < 1 || groupsY < 1 || groupsZ < 1) throw new IllegalArgumentException("group counts must be >= 1: " + this);
        if (groupSize < 1 || groupSize > 1024) throw new IllegalArgumentException("group size must be 1..1024, got " + groupSize);
    }

    public static Grid of(int groups, int groupSize) {
        return new Grid(groups, 1, 1, groupSize);
    }

    public static Grid of(int groupsX, int groupsY, int groupSize) {
        return new Grid(groupsX, groupsY, 1, groupSize);
    }

    /** Enough groups of {@code groupSize} to cover {@code items} work-items along x. */
    public static Grid covering(long items, int groupSize) {
        return of((int) ((items + groupSize - 1) / groupSize), groupSize);
    }
}
