package dev.moa.tasks.kernel;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * On an {@code int} parameter of a kernel: the JIT compiles one variant of the kernel for each value the parameter is
 * launched with, and inside that variant the parameter is that constant — loops bounded by it have known trip counts
 * (no fallback copy for limits near {@code Integer.MAX_VALUE}, short ones unrolled whole), divisions by it become
 * multiplications or shifts, tests of it are decided while translating. What C++ gets from a template parameter and
 * Triton from {@code tl.constexpr}. For values a program launches with few of (a head dimension, a cache format, a
 * matrix's width), not for ones that change from call to call (a prompt's length): each value is a compilation. The
 * emulator runs the Java as written, so a kernel computes the same either way.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.PARAMETER)
public @interface Specialize {
}
