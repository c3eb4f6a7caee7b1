package dev.moa.tasks.kernel;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * On a kernel: it is launched with at most {@code groupSize} work-items per group, and sized for at least
 * {@code groupsPerSm} of its groups resident on one SM at a time. The JIT declares both in the PTX ({@code .maxntid},
 * {@code .minnctapersm}, CUDA C's {@code __launch_bounds__}), so ptxas keeps the kernel's registers within what that
 * many groups can share (65,536 per SM: 128 a work-item for two groups of 256) instead of letting a change of the
 * code quietly halve how many groups run together; the emulator and launches refuse larger groups.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface LaunchBounds {
    /** Work-items per group at most. */
    int groupSize();

    /** Groups the kernel is sized to have resident on one SM at once. */
    int groupsPerSm() default 1;
}
