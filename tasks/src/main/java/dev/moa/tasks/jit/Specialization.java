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

    public Specialization {
        values = Collections.unmodifiableSortedMap(new TreeMap<>(values));
    }

    /** The variant a launch of {@code owner.method} with {@code args} (as a task graph holds them) runs. */
    public static Specialization of(Class<?> owner, String method, List<?> args) {
        Kernel kernel = kernel(owner, method);
        if (kernel.fixed().length == 0) return NONE;
        SortedMap<Integer, Integer> values = new TreeMap<>();
        for (int index : kernel.fixed()) {
            if (index >= args.size() || !(args.get(index) instanceof Integer value)) {
                throw new IllegalArgumentException(owner.getSimpleName() + "." + method + ": @Specialize parameter "
                        + kernel.parameters()[index + 1].getName() + " (argument " + index + ") was not given an int");
            }
            values.put(index, value);
        }
        return new Specialization(values);
    }

    /** The variant of {@code owner.method} with parameters named in {@code byName} fixed (names as javac keeps them with -parameters). */
    public static Specialization named(Class<?> owner, String method, Map<String, Integer> byName) {
        Kernel kernel = kernel(owner, method);
        SortedMap<Integer, Integer> values = new TreeMap<>();
        for (var e : byName.entrySet()) {
            int found = -1;
            for (int index : kernel.fixed()) if (kernel.parameters()[index + 1].getName().equals(e.getKey())) found = index;
            if (found < 0) throw new IllegalArgumentException(owner.getSimpleName() + "." + method + " has no @Specialize parameter " + e.getKey());
            values.put(found, e.getValue());
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

    /** The PTX header line the launch check reads ({@code PtxEntry.FIXED}): {@code // fixed arguments: 17=64 20=0}. */
    String header() {
        StringJoiner out = new StringJoiner(" ", dev.moa.tasks.cuda.PtxEntry.FIXED + " ", "");
        values.forEach((index, value) -> out.add(index + "=" + value));
        return out.toString();
    }

    /** A key for caches: empty for {@link #NONE}, else {@code {index=value, …}}. */
    public String key() {
        return values.isEmpty() ? "" : values.toString();
    }

    /** {@code headDim = 64, kvFormat = 0}: for the PTX's header. */
    String describe(Class<?> owner, String method) {
        Parameter[] all = kernel(owner, method).parameters();
        StringJoiner out = new StringJoiner(", ");
        values.forEach((index, value) -> out.add(all[index + 1].getName() + " = " + value));
        return out.toString();
    }

    /** A kernel method's parameters and the launch-argument indices of its {@code @Specialize} ones. */
    private record Kernel(Parameter[] parameters, int[] fixed) {
    }

    private static final Map<String, Kernel> KERNELS = new ConcurrentHashMap<>();

    /** Looked up once per kernel (launches ask on every call): the one static method of that name taking a KernelContext first. */
    private static Kernel kernel(Class<?> owner, String method) {
        return KERNELS.computeIfAbsent(owner.getName() + "#" + method, k -> {
            Method found = null;
            for (Method m : owner.getDeclaredMethods()) {
                if (!m.getName().equals(method) || !Modifier.isStatic(m.getModifiers()) || m.getParameterCount() == 0
                        || m.getParameterTypes()[0] != KernelContext.class) {
                    continue;
                }
                if (found != null) throw new IllegalArgumentException(owner.getName() + " has two kernel methods named " + method + ": kernels are found by name");
                found = m;
            }
            if (found == null) throw new IllegalArgumentException(owner.getName() + " has no static kernel method " + method + "(KernelContext, ...)");
            Parameter[] all = found.getParameters();
            List<Integer> fixed = new ArrayList<>();
            for (int i = 1; i < all.length; i++) {
                if (!all[i].isAnnotationPresent(Specialize.class)) continue;
                if (all[i].getType() != int.class) {
                    throw new IllegalArgumentException(owner.getSimpleName() + "." + method + ": @Specialize on " + all[i].getName()
                            + ", a " + all[i].getType().getSimpleName() + "; only int parameters are specialized");
                }
                fixed.add(i - 1);
            }
            return new Kernel(all, fixed.stream().mapToInt(Integer::intValue).toArray());
        });
    }
}
