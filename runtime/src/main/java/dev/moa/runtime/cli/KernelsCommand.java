package dev.moa.runtime.cli;

import dev.moa.tasks.jit.PtxCompiler;
import dev.moa.tasks.jit.Ptxas;
import dev.moa.tasks.kernels.KernelCatalog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/** {@code moa kernels --list | --print NAME [--target sm_XY]}: the Java GPU kernels, their PTX and ptxas resources. */
final class KernelsCommand {
    int run(String[] argv) throws Exception {
        Args args = new Args("kernels", argv, 1, Set.of("print", "target"), Set.of("list"));
        if (args.flag("list") || !args.has("print")) {
            for (var e : KernelCatalog.all()) {
                System.out.printf("%-14s %s.%s  %s%n", e.name(), e.owner().getSimpleName(), e.method(), e.summary());
            }
            return 0;
        }
        String name = args.required("print");
        var entry = KernelCatalog.find(name).orElseThrow(() -> new UsageException("kernels: no kernel '" + name
                + "'; `moa kernels --list` shows them"));
        String target = args.string("target", PtxCompiler.DEFAULT_TARGET);
        PtxCompiler.Kernel kernel;
        try {
            kernel = PtxCompiler.compile(entry.owner(), entry.method(), target);
        } catch (IllegalArgumentException e) {
            throw new UsageException("kernels: " + e.getMessage());
        }
        System.out.print(kernel.ptx());
        if (!Ptxas.available()) {
            System.err.println("(ptxas not on PATH: no resource report; install the CUDA toolkit to see registers and spills)");
            return 0;
        }
        Path work = Files.createTempDirectory("moa-ptxas");
        try {
            Ptxas.Report r = Ptxas.assemble(kernel.ptx(), target, work);
            System.err.printf("ptxas %s: %d registers, %d bytes shared memory, %d bytes spill stores, %d bytes spill loads%n",
                    target, r.registers(), r.sharedBytes(), r.spillStores(), r.spillLoads());
        } finally {
            try (var files = Files.list(work)) {
                for (Path p : files.toList()) Files.deleteIfExists(p);
            }
            Files.deleteIfExists(work);
        }
        return 0;
    }
}
