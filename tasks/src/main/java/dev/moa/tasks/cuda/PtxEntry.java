package dev.moa.tasks.cuda;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A kernel's parameter list as its PTX declares it ({@code .visible .entry name(.param .u64 a, .param .s32 b, …)}):
 * what a launch's arguments are checked against. The driver takes a launch's parameters as untyped bytes, so an
 * argument list that has drifted from the kernel (a parameter added on one side only) does not fail there: the kernel
 * reads a pointer's bits as an int and everything after it shifted, and computes something else without a word.
 *
 * @param name  the entry's name
 * @param types each parameter's PTX type without the dot ({@code u64}, {@code s32}, {@code f32}, …), or
 *              {@code b8[N]} for an N-byte aggregate
 */
public record PtxEntry(String name, List<String> types) {

    /** The entries of a PTX module by name; a module without parameter declarations we can read gives none. */
    public static Map<String, PtxEntry> parse(String ptx) {
        Map<String, PtxEntry> entries = new HashMap<>();
        int at = 0;
        while ((at = ptx.indexOf(".entry ", at)) >= 0) {
            int open = ptx.indexOf('(', at), close = ptx.indexOf(')', open + 1);
            if (open < 0 || close < 0) break;
            String name = ptx.substring(at + ".entry ".length(), open).strip();
            List<String> types = new ArrayList<>();
            for (String declaration : ptx.substring(open + 1, close).split(",")) {
                String d = declaration.strip();
                if (d.isEmpty()) continue;
                types.add(typeOf(d));
            }
            entries.put(name, new PtxEntry(name, List.copyOf(types)));
            at = close;
        }
        return entries;
    }

    /** {@code .param .u64 .ptr .global .align 4 x} → u64; {@code .param .align 8 .b8 x[16]} → b8[16]. */
    private static String typeOf(String declaration) {
        String type = null;
        for (String word : declaration.split("\\s+")) {
            if (word.equals(".param") || word.equals(".ptr") || word.equals(".align") || !word.startsWith(".")) continue;
            if (word.equals(".global") || word.equals(".const") || word.equals(".shared") || word.equals(".local")) continue;
            type = word.substring(1);
            break;
        }
        if (type == null) throw new IllegalArgumentException("a PTX parameter without a type: " + declaration);
        int bracket = declaration.indexOf('[');
        return bracket < 0 ? type : type + declaration.substring(bracket, declaration.indexOf(']', bracket) + 1);
    }

    /** Bytes of a parameter of {@code type}. */
    static int bytes(String type) {
        if (type.contains("[")) {
            int elements = Integer.parseInt(type.substring(type.indexOf('[') + 1, type.indexOf(']')));
            return elements * bytes(type.substring(0, type.indexOf('[')));
        }
        return Integer.parseInt(type.substring(1)) / 8;
    }

    /**
     * Checks {@code args} (as {@link CudaFunction#launch} takes them) against the declared parameters: their number, each
     * one's size, and floats only where the parameter is a float. Throws with one sentence naming the kernel, the
     * argument and both types.
     */
    public void check(Object... args) {
        if (args.length != types.size()) {
            throw new IllegalArgumentException("kernel " + name + " declares " + types.size() + " parameters in its PTX, but "
                    + args.length + " arguments were given");
        }
        for (int i = 0; i < args.length; i++) {
            String type = types.get(i), given = describe(args[i]);
            int size = switch (args[i]) {
                case DeviceMemory m -> 8;
                case Long v -> 8;
                case Double v -> 8;
                case Integer v -> 4;
                case Float v -> 4;
                case null, default -> -1; // CudaFunction says what is wrong with it
            };
            if (size < 0) continue;
            boolean floating = args[i] instanceof Float || args[i] instanceof Double;
            boolean fits = size == bytes(type) && (floating ? type.startsWith("f") || type.startsWith("b") : !type.startsWith("f"));
            if (!fits) {
                throw new IllegalArgumentException("argument " + i + " of kernel " + name + " is " + given
                        + ", but the PTX declares parameter " + i + " as ." + type);
            }
        }
    }

    private static String describe(Object arg) {
        return switch (arg) {
            case DeviceMemory m -> "a device pointer (8 bytes)";
            case Long v -> "a long (8 bytes)";
            case Double v -> "a double (8 bytes)";
            case Integer v -> "an int (4 bytes)";
            case Float v -> "a float (4 bytes)";
            default -> String.valueOf(arg);
        };
    }
}
