package dev.moa.runtime.cli;

import dev.moa.runtime.bench.GpuKernelBenchmark;
import dev.moa.tasks.cuda.CudaContext;
import dev.moa.tasks.cuda.DeviceChoice;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.graph.EmulatorBackend;
import dev.moa.tasks.graph.CudaBackend;
import dev.moa.tasks.graph.TaskGraph;
import dev.moa.tasks.jit.PtxCompiler;
import dev.moa.tasks.jit.Specialization;
import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernels.VectorKernels;
import java.lang.foreign.Arena;
import dev.moa.tasks.jit.Cubin;
import dev.moa.tasks.jit.Ptxas;
import dev.moa.tasks.kernels.KernelCatalog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code moa kernels --list | --print NAME [--target sm_XY] | --check [--device auto|cpu|cuda] | --bench
 * [--reference-ptx FILE]}: the Java GPU kernels, their PTX and ptxas resources, a smoke run on a device, and
 * GPU timings against the bandwidth roofline and nvcc.
 */
@Command(name = "kernels", description = "The Java GPU kernels: list them, print one's PTX and ptxas's resource report, run a checked task graph "
        + "on a device (auto: the CPU emulator when there is no GPU, saying why), or time them on a GPU.")
final class KernelsCommand implements Callable<Integer> {
    @ArgGroup
    Mode mode = new Mode();

    @Option(names = "--target", paramLabel = "sm_80|sm_90", defaultValue = PtxCompiler.DEFAULT_TARGET, description = "PTX target of --print (default: ${DEFAULT-VALUE})")
    String target;

    @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = DeviceChoice.AUTO, description = "device of --check (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--reference-ptx", paramLabel = "FILE", description = "with --bench or --sass: nvcc's PTX of the same algorithms to time or count against")
    Path referencePtx;

    @Option(names = "--specialize", paramLabel = "NAME=VALUE[,...]|1b", description = "with --print: the variant with these @Specialize "
            + "parameters fixed (1b: the values Llama-3.2-1B's decode and prompt launch it with)")
    String specialize;

    /** What to do: one of these (default: --list). */
    static final class Mode {
        @Option(names = "--list", description = "the kernels (default)")
        boolean list;

        @Option(names = "--print", paramLabel = "NAME", description = "a kernel's PTX on stdout, ptxas's report on stderr")
        String print;

        @Option(names = "--check", description = "a two-kernel task graph on --device, run twice and checked")
        boolean check;

        @Option(names = "--bench", description = "time the kernels on the GPU: decode kernels against its bandwidth roofline, the prefill GEMMs and attention in TFLOP/s")
        boolean bench;

        @Option(names = "--sass", description = "what ptxas makes of each kernel for --target: registers, SASS instructions, "
                + "the instructions of its innermost loops (with --reference-ptx: nvcc's build of the same algorithm beside it)")
        boolean sass;
    }

    @Override
    public Integer call() throws Exception {
        if (mode.check) return check(device);
        if (mode.bench) return bench(referencePtx);
        if (mode.sass) return sass(target, referencePtx);
        if (referencePtx != null) throw new UsageException("kernels: --reference-ptx goes with --bench or --sass");
        if (specialize != null && mode.print == null) throw new UsageException("kernels: --specialize goes with --print");
        if (mode.print == null) {
            for (var e : KernelCatalog.all()) {
                System.out.printf("%-14s %s.%s  %s%n", e.name(), e.owner().getSimpleName(), e.method(), e.summary());
            }
            return 0;
        }
        String name = mode.print;
        var entry = KernelCatalog.find(name).orElseThrow(() -> new UsageException("kernels: no kernel '" + name
                + "'; `moa kernels --list` shows them"));
        PtxCompiler.Kernel kernel;
        try {
            kernel = PtxCompiler.compile(entry.owner(), entry.method(), target, variant(entry, specialize));
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
            Files.deleteIfExists(work); // Ptxas.assemble deletes its own files
        }
        return 0;
    }

    /** The variant {@code --specialize} names: none, the catalog's Llama-3.2-1B values ("1b"), or NAME=VALUE pairs. */
    static Specialization variant(KernelCatalog.Entry entry, String specialize) {
        if (specialize == null) return Specialization.NONE;
        if (specialize.equals("1b")) {
            if (entry.example().isEmpty()) {
                throw new UsageException("kernels: " + entry.name() + " has no Llama-3.2-1B values in the catalog; give NAME=VALUE pairs");
            }
            return Specialization.named(entry.owner(), entry.method(), entry.example());
        }
        java.util.Map<String, Integer> values = new java.util.LinkedHashMap<>();
        for (String pair : specialize.split(",")) {
            String[] kv = pair.split("=", 2);
            try {
                values.put(kv[0].strip(), Integer.parseInt(kv[1].strip()));
            } catch (RuntimeException e) {
                throw new UsageException("kernels: --specialize expects NAME=VALUE pairs of int values (or 1b), got '" + pair + "'");
            }
        }
        return Specialization.named(entry.owner(), entry.method(), values);
    }

    /**
     * Times the decode kernels on the GPU against its bandwidth roofline and, with {@code --reference-ptx}, against
     * nvcc's PTX of the same algorithms (scripts/kernel-gap/run.sh does both). Needs a GPU: there is nothing to
     * time on the CPU emulator.
     */
    private static int bench(Path referencePtx) throws Exception {
        DeviceChoice.choose(DeviceChoice.CUDA); // without a usable GPU: fails with the one line saying why
        if (referencePtx != null && !Files.isRegularFile(referencePtx)) {
            throw new UsageException("kernels --bench: --reference-ptx " + referencePtx + " is not a file (nvcc -ptx scripts/kernel-gap/reference.cu writes it)");
        }
        try (CudaContext context = CudaContext.open()) {
            var benchmark = new GpuKernelBenchmark(context, referencePtx == null ? null : Files.readString(referencePtx));
            var rows = benchmark.run(System.err);
            System.out.print(benchmark.table(rows));
            List<String> wrong = GpuKernelBenchmark.wrongRows(rows);
            if (!wrong.isEmpty()) { // a time of a wrong result is no measurement: the run fails (gpu-check counts it)
                System.err.println("kernels --bench: wrong results in " + String.join(", ", wrong));
                return 1;
            }
        }
        return 0;
    }

    /**
     * Assembles every kernel for {@code target} and prints what the cubin holds: registers, SASS instructions and the
     * sizes of the innermost loops (where a kernel spends its time). With nvcc's PTX of the same algorithms
     * (scripts/kernel-gap/reference.cu, whose entries are the catalog's names with '_' for '-', and {@code _1b} after
     * it for a build with the 1B variant's parameters fixed), each of those is assembled by the same ptxas and printed
     * beside ours. Offline: needs ptxas, no GPU.
     */
    private static int sass(String target, Path referencePtx) throws Exception {
        if (!Ptxas.available()) throw new UsageException("kernels --sass: ptxas is not on PATH (install the CUDA toolkit)");
        if (referencePtx != null && !Files.isRegularFile(referencePtx)) {
            throw new UsageException("kernels --sass: --reference-ptx " + referencePtx + " is not a file (nvcc -ptx scripts/kernel-gap/reference.cu writes it)");
        }
        Path work = Files.createTempDirectory("moa-sass");
        try {
            Ptxas.Report reference = referencePtx == null ? null : Ptxas.assemble(Files.readString(referencePtx), target, work);
            System.out.printf("%-18s %9s %6s %s%n", "kernel (" + target + ")", "registers", "SASS",
                    "innermost loops (instructions[/tensor-core products][/float multiply-adds])");
            for (var e : KernelCatalog.all()) {
                Ptxas.Report r = Ptxas.assemble(PtxCompiler.compile(e.owner(), e.method(), target).ptx(), target, work);
                System.out.printf("%-18s %9d %6d %s%n", e.name(), r.registers(), r.code().get(e.method()).instructions(),
                        loops(r.code().get(e.method())));
                if (!e.example().isEmpty()) { // the variant Llama-3.2-1B's decode runs (@Specialize parameters fixed)
                    Specialization fixed = Specialization.named(e.owner(), e.method(), e.example());
                    Ptxas.Report v = Ptxas.assemble(PtxCompiler.compile(e.owner(), e.method(), target, fixed).ptx(), target, work);
                    System.out.printf("%-18s %9d %6d %s%n", "  1B variant", v.registers(), v.code().get(e.method()).instructions(),
                            loops(v.code().get(e.method())));
                    Cubin.Kernel nvcc = reference == null ? null : reference.code().get(e.name().replace('-', '_') + "_1b");
                    if (nvcc != null) { // nvcc's build with the same parameters fixed
                        System.out.printf("%-18s %9d %6d %s%n", "  nvcc 1B variant", reference.registersOf(nvcc.entry()), nvcc.instructions(), loops(nvcc));
                    }
                }
                Cubin.Kernel nvcc = reference == null ? null : reference.code().get(e.name().replace('-', '_'));
                if (nvcc != null) {
                    System.out.printf("%-18s %9d %6d %s%n", "  nvcc", reference.registersOf(nvcc.entry()), nvcc.instructions(), loops(nvcc));
                }
            }
        } finally {
            Files.deleteIfExists(work); // Ptxas.assemble deletes its own files
        }
        return 0;
    }

    private static String loops(Cubin.Kernel k) {
        return k.innermostLoops().isEmpty() ? "-"
                : String.join(" ", k.innermostLoops().stream()
                        .map(l -> l.instructions() + (l.products() > 0 ? "/" + l.products() + "mma" : "") + (l.fmas() > 0 ? "/" + l.fmas() + "fma" : ""))
                        .toList());
    }

    /**
     * One warp's tensor-core tile product, the prefill GEMM and the prefill attention on the tensor cores, against
     * plain computations ({@link TensorCoreCheck}); the number of elements wrong.
     */
    private static int tensorCoreTile(Backend backend) {
        int wrong = dev.moa.tasks.kernels.TensorCoreCheck.wrongElements(backend);
        System.out.printf("%s: tensor cores (mma.sync m16n8k16 BF16 tile; the prefill GEMM with ldmatrix and cp.async; the prefill attention with "
                + "ldmatrix.trans), %s%n", backend.name(),
                wrong == 0 ? "results correct" : wrong + " elements wrong: the fragment layouts differ from the hardware's (prompts use the FFMA kernels)");
        return wrong;
    }

    /** Runs a two-task graph (add, then SiLU·gate) on the chosen device, twice (the second a replay), and checks it. */
    private static int check(String device) {
        DeviceChoice choice;
        try {
            choice = DeviceChoice.choose(device);
        } catch (IllegalArgumentException e) {
            throw new UsageException("kernels: " + e.getMessage());
        }
        if (!choice.note().isEmpty()) System.err.println("using the CPU: " + choice.note());
        int n = choice.cuda() ? 1 << 24 : 1 << 16; // the emulator runs a virtual thread per element
        try (Arena arena = Arena.ofShared();
             Backend backend = choice.cuda() ? new CudaBackend(CudaContext.open()) : new EmulatorBackend()) {
            F32Buffer a = F32Buffer.allocate(arena, n), b = F32Buffer.allocate(arena, n), sum = F32Buffer.allocate(arena, n);
            F32Buffer out = F32Buffer.allocate(arena, n);
            for (int i = 0; i < n; i++) {
                a.set(i, (i % 17) * 0.25f - 2f);
                b.set(i, (i % 5) * 0.5f);
            }
            TaskGraph graph = new TaskGraph()
                    .task("sum", VectorKernels.class, "add", Grid.covering(n, 256), a, b, sum, n)
                    // (not in place: siluTimes reads its gate through the read-only cache, which a launch writing it may not)
                    .task("gate", VectorKernels.class, "siluTimes", Grid.covering(n, 256), sum, b, out, n);
            long start = System.nanoTime();
            backend.run(graph);
            long first = System.nanoTime();
            backend.run(graph);
            long second = System.nanoTime();
            backend.download(out);
            int wrong = 0;
            for (int i = 0; i < n; i++) {
                float s = a.get(i) + b.get(i);
                float expected = s / (1f + (float) Math.exp(-s)) * b.get(i); // every run recomputes out from a and b
                if (Math.abs(expected - out.get(i)) > 1e-4f * Math.max(1f, Math.abs(expected))) wrong++;
            }
            String launches = backend instanceof CudaBackend cuda
                    ? cuda.overlapsLaunches() ? ", the second overlapping the first (programmatic dependent launch)" : ", one after the other" : "";
            System.out.printf("%s: 2 kernels over %d elements%s, first run %.1f ms (on a GPU: JIT, upload, graph capture), replay %.1f ms, %s%n",
                    backend.name(), n, launches, (first - start) / 1e6, (second - first) / 1e6, wrong == 0 ? "results correct" : wrong + " wrong results");
            int wrongTile = tensorCoreTile(backend);
            return wrong == 0 && wrongTile == 0 ? 0 : 1;
        }
    }
}
