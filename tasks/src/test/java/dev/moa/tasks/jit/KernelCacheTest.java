package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.moa.tasks.kernels.VectorKernels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Kernels compile once per process and once per machine; a stale or damaged disk entry is recompiled. */
class KernelCacheTest {
    @TempDir
    Path dir;

    @Test
    void compilesOnceThenReadsFromMemoryAndDisk() throws Exception {
        KernelCache first = new KernelCache(dir);
        PtxCompiler.Kernel k = first.compile(VectorKernels.class, "rmsNorm", "sm_90");
        assertSame(k, first.compile(VectorKernels.class, "rmsNorm", "sm_90"));
        assertEquals(1, first.compilations());
        assertEquals(List.of(VectorKernels.class.getName()), k.sources(), "inlined helpers of the same class");

        KernelCache second = new KernelCache(dir);
        PtxCompiler.Kernel fromDisk = second.compile(VectorKernels.class, "rmsNorm", "sm_90");
        assertEquals(0, second.compilations(), "a new process reads the disk entry");
        assertEquals(k.ptx(), fromDisk.ptx());
        assertEquals(k.params(), fromDisk.params());
        assertEquals(PtxCompiler.compile(VectorKernels.class, "rmsNorm", "sm_90").ptx(), fromDisk.ptx());

        second.compile(VectorKernels.class, "rmsNorm", "sm_80");
        assertEquals(1, second.compilations(), "another target is another entry");

        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String text = Files.readString(f);
                // pretend an inlined helper's class changed since the entry was written
                Files.writeString(f, text.replaceFirst("(// source \\S+ )[0-9a-f]{64}", "$1" + "0".repeat(64)));
            }
        }
        KernelCache third = new KernelCache(dir);
        third.compile(VectorKernels.class, "rmsNorm", "sm_90");
        assertEquals(1, third.compilations(), "an entry whose sources changed is recompiled");

        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.writeString(f, "garbage");
        }
        KernelCache fourth = new KernelCache(dir);
        assertEquals(k.ptx(), fourth.compile(VectorKernels.class, "rmsNorm", "sm_90").ptx());
        assertEquals(1, fourth.compilations(), "a damaged entry is recompiled");
    }
}
