package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.kernels.KernelCatalog;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every project kernel's generated PTX assembles with NVIDIA's ptxas for sm_80 and sm_90 without spills, and its
 * cubin's machine code reads back ({@link Cubin}).
 */
class PtxAssemblyTest {
    @TempDir
    static Path work;

    static List<KernelCatalog.Entry> kernels() {
        return KernelCatalog.all();
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void assemblesWithoutSpills(KernelCatalog.Entry c) throws Exception {
        Assumptions.assumeTrue(Ptxas.available(), "ptxas is not on PATH (CUDA toolkit absent): assembly not checked");
        // the kernel as written and, where it has @Specialize parameters, the variant Llama-3.2-1B's decode runs
        List<Specialization> variants = c.example().isEmpty() ? List.of(Specialization.NONE)
                : List.of(Specialization.NONE, Specialization.named(c.owner(), c.method(), c.example()));
        record Run(String target, Specialization fixed) {
        }
        List<Run> runs = new java.util.ArrayList<>();
        for (String target : List.of("sm_80", "sm_90")) for (Specialization fixed : variants) runs.add(new Run(target, fixed));
        // the targets and variants assembled side by side (ptxas processes: the suite's cores are otherwise idle here)
        List<Ptxas.Report> reports = runs.parallelStream().map(run -> {
            try {
                return Ptxas.assemble(PtxCompiler.compile(c.owner(), c.method(), run.target(), run.fixed()).ptx(), run.target(), work);
            } catch (java.io.IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }).toList();
        for (int i = 0; i < runs.size(); i++) {
            String target = runs.get(i).target();
            Specialization fixed = runs.get(i).fixed();
            Ptxas.Report r = reports.get(i);
            System.out.printf("%-14s %s%s: %3d registers, %4d bytes shared, %d bytes spill stores, %d bytes spill loads%n",
                    c.name(), target, fixed.key(), r.registers(), r.sharedBytes(), r.spillStores(), r.spillLoads());
            assertEquals(0, r.spillStores() + r.spillLoads(), c + fixed.key() + " spills on " + target + ":\n" + r.log());
            assertTrue(r.registers() > 0, r.log());
            if (c.method().startsWith("bf16TensorLarge")) { // sized (LARGE_MIN_GROUPS) for two groups per SM: 128 registers at most
                int perWarp = (r.registers() + 7) / 8 * 8 * 32; // registers are allotted 256 per warp at a time
                assertTrue(2 * (dev.moa.tasks.kernels.GemmKernels.LARGE_GROUP / 32) * perWarp <= 65536,
                        c.name() + fixed.key() + " on " + target + ": " + r.registers() + " registers leave room for one group per SM");
            }
            // the cubin was read (Cubin throws on a branch outside its kernel: a wrong field layout for the target)
            assertTrue(r.code().get(c.method()).instructions() > 0, c.name() + " on " + target);
        }
    }
}
