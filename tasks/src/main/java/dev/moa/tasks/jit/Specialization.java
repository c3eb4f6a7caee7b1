package dev.moa.tasks.jit;

import dev.moa.tasks.kernel.KernelContext;
import dev.moa.tasks.kernel.Specialize;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Parameter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.StringJoiner;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which variant of a kernel a launch runs: the values it gives the kernel's {@link Specialize} parameters, by launch
 * argument index (the kernel's parameters after its {@code KernelContext}). Inside the variant each is a constant.
 */
public record Specialization(SortedMap<Integer, Integer> values) {
    /** The kernel as written: no parameter fixed. */
    public static final Specialization NONE = new Specialization(Collections.emptySortedMap());

    private static final Map<String, List<Parameter>> SPECIALIZED = new ConcurrentHashMap<>();

    public Specialization {
        values = Collections.unmodifiableSortedMap(new TreeMap<>(values));
    }

    /** The variant a launch of {@code owner.method} with {@code args} (as a task graph holds them) runs. */
    public static Specialization of(Class<?> owner, String method, List<?> args) {
        List<Parameter> fixed = specialized(owner, method);
        if (fixed.isEmpty()) return NONE;
        SortedMap<Integer, Integer> values = new TreeMap<>();
        Parameter[] all = kernel(owner, method).getParameters();
        for (int i = 1; i < all.length; i++) {
            if (!fixed.contains(all[i])) continue;
            if (i - 1 >= args.size() || !(args.get(i - 1) instanceof Integer value)) {
                throw new IllegalArgumentException(owner.getSimpleName() + "." + method + ": @Specialize parameter " + all[i].getName()
                        + " (argument " + (i - 1) + ") was not given an int");
            }
            values.put(i - 1, value);
        }
        return new Specialization(values);
    }

    /** The variant of {@code owner.method} with parameters named in {@code byName} fixed (names as javac keeps them with -parameters). */
    public static Specialization named(Class<?> owner, String method, Map<String, Integer> byName) {
        SortedMap<Integer, Integer> values = new TreeMap<>();
        Parameter[] all = kernel(owner, method).getParameters();
        List<Parameter> fixed = specialized(owner, method);
        for (var e : byName.entrySet()) {
            int index = -1;
            for (int i = 1; i < all.length; i++) if (all[i].getName().equals(e.getKey())) index = i;
            if (index < 0 || !fixed.contains(all[index])) {
                throw new IllegalArgumentException(owner.getSimpleName() + "." + method + " has no @Specialize parameter " + e.getKey());
            }
            values.put(index - 1, e.getValue());
        }
        return new Specialization(values);
    }

    public boolean isEmpty() {
        return values.isEmpty();
    }

    /** The constant of launch argument {@code index}, or null where it is not fixed. */
    Integer valueOf(int index) {
        return values.get(index);
    }

    /** A key for caches: empty for {@link #NONE}, else {@code [index=value, …]}. */
    public String key() {
        return values.isEmpty() ? "" : values.toString();
    }

    /** {@code headDim = 64, kvFormat = 0}: for the PTX's header. */
    String describe(Class<?> owner, String method) {
        Parameter[] all = kernel(owner, method).getParameters();
        StringJoiner out = new StringJoiner(", ");
        values.forEach((index, value) -> out.add(all[index + 1].getName() + " = " + value));
        return out.toString();
    }

    private static List<Parameter> specialized(Class<?> owner, String method) {
        return SPECIALIZED.computeIfAbsent(owner.getName() + "#" + method, k -> {
            List<Parameter> fixed = new ArrayList<>();
            for (Parameter p : kernel(owner, method).getParameters()) {
                if (!p.isAnnotationPresent(Specialize.class)) continue;
                if (p.getType() != int.class) {
                    throw new IllegalArgumentException(owner.getSimpleName() + "." + method + ": @Specialize on " + p.getName()
                            + ", a " + p.getType().getSimpleName() + "; only int parameters are specialized");
                }
                fixed.add(p);
            }
            return List.copyOf(fixed);
        });
    }

    private static Method kernel(Class<?> owner, String method) {
        for (Method m : owner.getDeclaredMethods()) {
            if (m.getName().equals(method) && Modifier.isStatic(m.getModifiers()) && m.getParameterCount() > 0
                    && m.getParameterTypes()[0] == KernelContext.class) {
                return m;
            }
        }
        throw new IllegalArgumentException(owner.getName() + " has no static kernel method " + method + "(KernelContext, ...)");
    }
}
