package dev.moa.tasks.emulator;

/**
 * A launch shape: groups along x, y, z of {@code groupSize} work-items each (CUDA grid and 1-D block), and the bytes
 * of dynamic shared memory each group gets ({@link dev.moa.tasks.kernel.KernelContext#sharedDynamicF32}; 0 unless
 * the kernel asks for it).
 */
public record Grid(int groupsX, int groupsY, int groupsZ, int groupSize, int sharedBytes) {
    /** Shared memory one group may have on sm_90 (227 KB; sm_80: 163 KB), static and dynamic together. */
    public static final int MAX_SHARED_BYTES = 227 * 1024;

    public Grid {
        if (groupsX < 1 || groupsY < 1 || groupsZ < 1) throw new IllegalArgumentException("group counts must be >= 1: " + this);
        if (groupSize < 1 || groupSize > 1024) throw new IllegalArgumentException("group size must be 1..1024, got " + groupSize);
        if (sharedBytes < 0 || sharedBytes > MAX_SHARED_BYTES) {
            throw new IllegalArgumentException("dynamic shared memory must be 0.." + MAX_SHARED_BYTES + " bytes, got " + sharedBytes);
        }
    }

    public Grid(int groupsX, int groupsY, int groupsZ, int groupSize) {
        this(groupsX, groupsY, groupsZ, groupSize, 0);
    }

    /** This shape with {@code bytes} of dynamic shared memory per group. */
    public Grid withSharedBytes(int bytes) {
        return new Grid(groupsX, groupsY, groupsZ, groupSize, bytes);
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
