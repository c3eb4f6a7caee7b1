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
final class ReadOnlyLoads {
    private ReadOnlyLoads() {
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
