package dev.moa.tasks.jit;

import java.io.IOException;
import java.lang.constant.ClassDesc;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Compiled kernels kept in memory and on disk, so start-up does not pay the JIT twice. A disk entry is keyed by
 * the SHA-256 of the kernel's class file, method, target and JIT version, and records the hash of every class it
 * was translated from (inlined helpers included): an entry whose sources changed is recompiled, never reused.
 */
public final class KernelCache {
    /**
     * The translator's own identity: the hash of its class files (translation, passes, printer), so an entry written
     * by an older JIT (before a new pass or intrinsic) is ignored without anyone remembering to bump a version.
     */
    static final String JIT_VERSION = sha256(java.util.stream.Stream.of(PtxCompiler.class, PtxCompiler.Translator.class,
            PtxCompiler.Translator.Frame.class, Intrinsics.class, CountedLoop.class, PtxInstruction.class, PtxLine.class, PtxPrinter.class,
            ReadOnlyLoads.class, CopyPropagation.class, ConstantDivision.class, Specialization.class).map(PtxCompiler::bytecode).toArray(byte[][]::new)).substring(0, 16);
    private static final String MAGIC = "// moa-ptx-cache " + JIT_VERSION;

    private final Path directory;
    private final Map<String, PtxCompiler.Kernel> memory = new ConcurrentHashMap<>();
    private int compilations;

    /** A cache in {@code directory} (created when first written), or memory only when it is null. */
    public KernelCache(Path directory) {
        this.directory = directory;
    }

    /** {@code $MOA_HOME/ptx}, else {@code ~/.cache/moa-java/ptx}. */
    public static KernelCache standard() {
        String home = System.getenv("MOA_HOME");
        Path root = home != null ? Path.of(home) : Path.of(System.getProperty("user.home"), ".cache", "moa-java");
        return new KernelCache(root.resolve("ptx"));
    }

    /** How many kernels this cache had to translate (neither in memory nor valid on disk). */
    public int compilations() {
        return compilations;
    }

    public PtxCompiler.Kernel compile(Class<?> owner, String method, String target) {
        return compile(owner, method, target, Specialization.NONE);
    }

    /** The variant {@code fixed} of the kernel (each variant its own entry, in memory and on disk). */
    public PtxCompiler.Kernel compile(Class<?> owner, String method, String target, Specialization fixed) {
        return memory.computeIfAbsent(owner.getName() + "#" + method + "@" + target + fixed.key(), k -> load(owner, method, target, fixed));
    }

    private PtxCompiler.Kernel load(Class<?> owner, String method, String target, Specialization fixed) {
        Path file = directory == null ? null
                : directory.resolve(sha256((JIT_VERSION + "\n" + owner.getName() + "\n" + method + "\n" + target + "\n" + fixed.key() + "\n")
                        .getBytes(StandardCharsets.UTF_8), PtxCompiler.bytecode(owner)) + ".ptx");
        if (file != null && Files.isRegularFile(file)) {
            try {
                PtxCompiler.Kernel cached = read(owner, file, method, target);
                if (cached != null) return cached;
            } catch (IOException | RuntimeException unreadable) {
                // a damaged or foreign entry is recompiled and overwritten
            }
        }
        compilations++;
        PtxCompiler.Kernel kernel = PtxCompiler.compile(owner, method, target, fixed);
        if (file != null) write(owner, file, kernel);
        return kernel;
    }

    /** Header lines: magic, one "source CLASS SHA" per translated class, one "param NAME DESCRIPTOR WRITTEN" each. */
    private static void write(Class<?> owner, Path file, PtxCompiler.Kernel kernel) {
        StringBuilder text = new StringBuilder(MAGIC).append('\n');
        for (String source : kernel.sources()) {
            text.append("// source ").append(source).append(' ').append(sha256(classBytes(owner, source))).append('\n');
        }
        for (PtxCompiler.Param p : kernel.params()) {
            text.append("// param ").append(p.name()).append(' ').append(p.type().descriptorString()).append(' ').append(p.written()).append('\n');
        }
        text.append(kernel.ptx());
        try {
            Files.createDirectories(file.getParent());
            Path tmp = Files.createTempFile(file.getParent(), "kernel", ".tmp");
            Files.writeString(tmp, text);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // the cache is an optimisation: a read-only home directory must not stop the kernel from running
        }
    }

    private static PtxCompiler.Kernel read(Class<?> owner, Path file, String method, String target) throws IOException {
        List<String> lines = Files.readAllLines(file);
        if (lines.isEmpty() || !lines.get(0).equals(MAGIC)) return null;
        List<String> sources = new ArrayList<>();
        List<PtxCompiler.Param> params = new ArrayList<>();
        int i = 1;
        for (; i < lines.size(); i++) {
            String[] f = lines.get(i).split(" ");
            if (f.length == 4 && f[1].equals("source")) {
                if (!sha256(classBytes(owner, f[2])).equals(f[3])) return null; // a helper changed
                sources.add(f[2]);
            } else if (f.length == 5 && f[1].equals("param")) {
                params.add(new PtxCompiler.Param(f[2], ClassDesc.ofDescriptor(f[3]), Boolean.parseBoolean(f[4])));
            } else {
                break;
            }
        }
        String ptx = String.join("\n", lines.subList(i, lines.size())) + "\n";
        return new PtxCompiler.Kernel(method, target, ptx, params, sources);
    }

    private static byte[] classBytes(Class<?> context, String className) {
        try {
            return PtxCompiler.bytecode(Class.forName(className, false, context.getClassLoader()));
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("class " + className + " is gone", e);
        }
    }

    static String sha256(byte[]... parts) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            for (byte[] p : parts) digest.update(p);
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
