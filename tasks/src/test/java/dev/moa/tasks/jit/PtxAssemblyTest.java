package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.kernels.MatVecKernels;
import dev.moa.tasks.kernels.VectorKernels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every project kernel's generated PTX assembles with NVIDIA's ptxas for sm_80 and sm_90 without spills. */
class PtxAssemblyTest {
    @TempDir
    static Path work;

    record Case(Class<?> owner, String method) {
        @Override
        public String toString() {
            return owner.getSimpleName() + "." + method;
        }
    }

    static List<Case> kernels() {
        return List.of(new Case(VectorKernels.class, "add"), new Case(VectorKernels.class, "rmsNorm"),
                new Case(VectorKernels.class, "softmax"), new Case(VectorKernels.class, "siluTimes"),
                new Case(VectorKernels.class, "argmax"), new Case(MatVecKernels.class, "bf16"),
                new Case(MatVecKernels.class, "f16"));
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void assemblesWithoutSpills(Case c) throws Exception {
        Assumptions.assumeTrue(Ptxas.available(), "ptxas is not on PATH (CUDA toolkit absent): assembly not checked");
        for (String target : List.of("sm_80", "sm_90")) {
            PtxCompiler.Kernel k = PtxCompiler.compile(c.owner(), c.method(), target);
            Ptxas.Report r = Ptxas.assemble(k.ptx(), target, work);
            System.out.printf("%-24s %s: %3d registers, %4d bytes shared, %d bytes spill stores, %d bytes spill loads%n",
                    c, target, r.registers(), r.sharedBytes(), r.spillStores(), r.spillLoads());
            assertEquals(0, r.spillStores() + r.spillLoads(), c + " spills on " + target + ":\n" + r.log());
            assertTrue(r.registers() > 0, r.log());
        }
    }
}
