package dev.moa.tasks.jit;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A pass: global loads through a buffer parameter the kernel never writes become {@code ld.global.nc} (the
 * read-only data path). Which buffers are written is only known once the whole kernel is translated, so the
 * translator marks each load with the parameter its address came from and this pass decides afterwards. A load
 * whose buffer could not be traced stays coherent.
 */
public final class ReadOnlyLoads {
    private ReadOnlyLoads() {
    }

    /** Each kernel's parameters as the JIT flags them (written or not), or an empty list where it cannot compile the kernel. */
    private static final java.util.Map<String, List<PtxCompiler.Param>> PARAMS = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * Refuses, with one sentence naming both arguments, a launch of {@code owner.method} passing one buffer both as an
     * argument the kernel only reads (through the read-only cache on a GPU) and as one it writes: what
     * {@code PtxEntry.check} refuses on a CUDA device, for backends that run the Java itself (the emulator), so that
     * a program they accept runs on a GPU too. Kernels the JIT cannot compile are not checked.
     */
    public static void refuseAliasing(Class<?> owner, String method, Object[] args) {
        List<PtxCompiler.Param> params = PARAMS.computeIfAbsent(owner.getName() + "#" + method, key -> {
            try {
                return PtxCompiler.compile(owner, method).params();
            } catch (RuntimeException notCompilable) {
                return List.of();
            }
        });
        if (params.size() != args.length) return;
        for (int r = 0; r < args.length; r++) {
            if (!(args[r] instanceof dev.moa.tasks.kernel.DeviceBuffer read) || params.get(r).written()) continue;
            for (int w = 0; w < args.length; w++) {
                if (args[w] instanceof dev.moa.tasks.kernel.DeviceBuffer written && params.get(w).written()
                        && read.memory().address() == written.memory().address()) {
                    throw new IllegalArgumentException(dev.moa.tasks.cuda.PtxEntry.aliased(method, r, w));
                }
            }
        }
    }

    static List<PtxLine> apply(List<PtxLine> code, Set<Integer> writtenBuffers) {
        List<PtxLine> out = new ArrayList<>(code.size());
        for (PtxLine line : code) {
            if (line instanceof PtxInstruction i && i.opcode().startsWith("ld.global.") && !i.opcode().startsWith("ld.global.nc")
                    && i.buffer() >= 0 && !writtenBuffers.contains(i.buffer())) {
                out.add(i.withOpcode("ld.global.nc" + i.opcode().substring("ld.global".length())));
            } else {
                out.add(line);
            }
        }
        return out;
    }
}
