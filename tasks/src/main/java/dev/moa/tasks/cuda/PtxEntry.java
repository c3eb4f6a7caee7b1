package dev.moa.tasks.cuda;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A kernel's parameter list as its PTX declares it ({@code .visible .entry name(.param .u64 a, .param .s32 b, …)}):
 * what a launch's arguments are checked against. The driver takes a launch's parameters as untyped bytes, so an
 * argument list that has drifted from the kernel (a parameter added on one side only) does not fail there: the kernel
 * reads a pointer's bits as an int and everything after it shifted, and computes something else without a word.
 *
 * @param name  the entry's name
 * @param types each parameter's PTX type without the dot ({@code u64}, {@code s32}, {@code f32}, …), or
 *              {@code b8[N]} for an N-byte aggregate
 * @param fixed launch-argument index → the value a variant was compiled for (see {@link #FIXED}); empty for a kernel as written
 * @param awaitsPriorKernels whether its body waits for the kernels before it ({@code griddepcontrol.wait}), which lets it be
 *                           launched to overlap them ({@link CudaFunction#awaitsPriorKernels})
 * @param readOnly the buffer arguments the kernel reads through the non-coherent cache ({@code ld.global.nc}: it never
 *                 writes them), as its {@link #BUFFERS} line names them; empty without one
 * @param written  the buffer arguments it writes
 */
public record PtxEntry(String name, List<String> types, Map<Integer, Integer> fixed, boolean awaitsPriorKernels, List<Integer> readOnly,
                       List<Integer> written) {

    public PtxEntry(String name, List<String> types, Map<Integer, Integer> fixed, boolean awaitsPriorKernels) {
        this(name, types, fixed, awaitsPriorKernels, List.of(), List.of());
    }

    /**
     * The header line by which the JIT names the buffers a kernel only reads and those it writes ({@code // buffer
     * arguments: read-only 0 1 4 written 3}, launch-argument indices). The only-read ones are loaded through the
     * non-coherent cache ({@code ld.global.nc}), which is right only while nothing writes them during the kernel: a
     * launch passing one buffer as both kinds would read stale values on a GPU (in no emulator), so {@link #check}
     * refuses it.
     */
    public static final String BUFFERS = "// buffer arguments:";

    /**
     * The header line by which the JIT marks a variant compiled with some arguments fixed ({@code @Specialize}):
     * {@code // fixed arguments: 17=64 20=0} (launch-argument index = value). A launch of the variant with other values
     * would compute for the compiled ones, so {@link #check} refuses it.
     */
    public static final String FIXED = "// fixed arguments:";

    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+([A-Za-z_$%][\\w$%]*)\\s*(\\(([^)]*)\\))?");

    /** The entries of a PTX module by name (comments ignored; an entry without a parameter list takes none). */
    public static Map<String, PtxEntry> parse(String ptx) {
        Map<Integer, Integer> fixed = new TreeMap<>();
        List<Integer> readOnly = new ArrayList<>(), written = new ArrayList<>();
        for (String line : ptx.split("\n")) {
            if (line.startsWith(BUFFERS)) {
                List<Integer> into = readOnly;
                for (String word : line.substring(BUFFERS.length()).strip().split("\\s+")) {
                    if (word.equals("read-only")) into = readOnly;
                    else if (word.equals("written")) into = written;
                    else if (!word.isEmpty()) into.add(Integer.parseInt(word));
                }
            }
            if (!line.startsWith(FIXED)) continue;
            for (String pair : line.substring(FIXED.length()).strip().split("\\s+")) {
                String[] kv = pair.split("=");
                fixed.put(Integer.parseInt(kv[0]), Integer.parseInt(kv[1]));
            }
        }
        String code = ptx.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", "");
        Map<String, PtxEntry> entries = new HashMap<>();
        Matcher m = ENTRY.matcher(code);
        List<Integer> starts = new ArrayList<>();
        while (m.find()) starts.add(m.start());
        m.reset();
        while (m.find()) {
            int next = starts.indexOf(m.start()) + 1;
            String body = code.substring(m.end(), next < starts.size() ? starts.get(next) : code.length());
            List<String> types = new ArrayList<>();
            if (m.group(3) != null) {
                for (String declaration : m.group(3).split(",")) {
                    String d = declaration.strip();
                    if (!d.isEmpty()) types.add(typeOf(d));
                }
            }
            entries.put(m.group(1), new PtxEntry(m.group(1), List.copyOf(types), Map.copyOf(fixed), body.contains("griddepcontrol.wait"),
                    List.copyOf(readOnly), List.copyOf(written)));
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

    /** Bytes of a parameter of {@code type}, or -1 for a type this check does not know (it is then not checked). */
    static int bytes(String type) {
        try {
            if (type.contains("[")) {
                int elements = Integer.parseInt(type.substring(type.indexOf('[') + 1, type.indexOf(']')));
                return elements * bytes(type.substring(0, type.indexOf('[')));
            }
            return Integer.parseInt(type.substring(1)) / 8;
        } catch (RuntimeException e) {
            return -1; // .pred, .f16x2, …
        }
    }

    /**
     * Checks {@code args} (as {@link CudaFunction#launch} takes them) against the declared parameters: their number, each
     * one's size (an int may fill a narrower integer parameter: the driver reads its low bytes), floats only where the
     * parameter is a float, and the values a variant was compiled for. Throws with one sentence naming the kernel, the
     * argument and both sides.
     */
    public void check(Object... args) {
        if (args.length != types.size()) {
            throw new IllegalArgumentException("kernel " + name + " declares " + types.size() + " parameters in its PTX, but "
                    + args.length + " arguments were given");
        }
        for (int i = 0; i < args.length; i++) {
            String type = types.get(i);
            int declared = bytes(type);
            if (declared < 0) continue;
            boolean fits = switch (args[i]) {
                case DeviceMemory m -> declared == 8 && !type.startsWith("f");
                case Long v -> declared == 8 && !type.startsWith("f");
                case Double v -> declared == 8 && (type.startsWith("f") || type.startsWith("b"));
                case Integer v -> declared <= 4 && !type.startsWith("f");
                case Float v -> declared == 4 && (type.startsWith("f") || type.startsWith("b"));
                case null, default -> true; // CudaFunction says what is wrong with it
            };
            if (!fits) {
                throw new IllegalArgumentException("argument " + i + " of kernel " + name + " is " + describe(args[i])
                        + ", but the PTX declares parameter " + i + " as ." + type);
            }
            Integer compiled = fixed.get(i);
            if (compiled != null && !compiled.equals(args[i])) {
                throw new IllegalArgumentException("argument " + i + " of kernel " + name + " is " + args[i] + ", but this variant of it was compiled for "
                        + compiled + " (@Specialize): launch the variant for " + args[i]);
            }
        }
        refuseAliasing(args);
    }

    /**
     * Refuses {@code args} passing one buffer both as an argument the kernel only reads ({@link #readOnly}) and as one it
     * writes ({@link #written}), in one sentence naming both; device pointers and the emulator's buffers alike.
     */
    public void refuseAliasing(Object... args) {
        for (int r : readOnly) {
            for (int w : written) {
                long a = address(args[r]), b = address(args[w]);
                if (a != 0 && a == b) throw new IllegalArgumentException(aliased(name, r, w));
            }
        }
    }

    /** The address of a buffer argument (device memory, or a buffer the emulator runs on), else 0. */
    private static long address(Object arg) {
        return switch (arg) {
            case DeviceMemory m -> m.address();
            case dev.moa.tasks.kernel.DeviceBuffer b -> b.memory().address();
            case null, default -> 0;
        };
    }

    /** The refusal of a launch passing one buffer as argument {@code read}, only read, and argument {@code written}. */
    public static String aliased(String kernel, int read, int written) {
        return "arguments " + read + " and " + written + " of kernel " + kernel + " are the same buffer, which the kernel writes through argument "
                + written + " and reads through argument " + read + " by the read-only cache (ld.global.nc): on a GPU it could read values older"
                + " than its own writes; pass separate buffers";
    }

    private static String describe(Object arg) {
        return switch (arg) {
            case DeviceMemory m -> "a device pointer (8 bytes)";
            case Long v -> "a long (8 bytes)";
            case Double v -> "a double (8 bytes)";
            case Integer v -> "an int (4 bytes)";
            case Float v -> "a float (4 bytes)";
            case null -> "null";
            default -> String.valueOf(arg);
        };
    }
}
