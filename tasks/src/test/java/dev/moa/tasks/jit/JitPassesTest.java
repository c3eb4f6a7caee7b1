package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.kernels.KernelCatalog;
import dev.moa.tasks.kernels.MatVecKernels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The JIT's passes one by one on small hand-written programs in its intermediate form (what each must and must
 * not do), and on the project's kernels (that they shrink them); TranslationFidelityTest runs every kernel's
 * printed PTX against the emulator, PtxAssemblyTest through ptxas, after all passes.
 */
class JitPassesTest {
    /** Registers of the little programs: %a..%e and %i are .s32, %f is .f32, %w is .b32, %p a predicate. */
    static final Map<String, String> TYPES = new LinkedHashMap<>();

    static {
        for (String r : List.of("%a", "%b", "%c", "%d", "%e", "%i")) TYPES.put(r, ".s32");
        TYPES.put("%f", ".f32");
        TYPES.put("%w", ".b32");
        TYPES.put("%g", ".u64");
        TYPES.put("%p", ".pred");
    }

    /** Parses "opcode a, b; " lines (a label is "NAME:", a guard "@%p ") into the intermediate form. */
    static List<PtxLine> program(String... lines) {
        List<PtxLine> code = new ArrayList<>();
        for (String line : lines) {
            String l = line.strip();
            if (l.endsWith(":")) {
                code.add(new PtxLine.Label(l.substring(0, l.length() - 1)));
                continue;
            }
            String guard = null;
            if (l.startsWith("@")) {
                guard = l.substring(1, l.indexOf(' '));
                l = l.substring(l.indexOf(' ') + 1);
            }
            l = l.substring(0, l.length() - 1);
            int space = l.indexOf(' ');
            String opcode = space < 0 ? l : l.substring(0, space);
            Object[] operands = space < 0 ? new Object[0] : Arrays.stream(l.substring(space + 1).split(",\\s*(?![^{]*})")).map(String::strip).toArray();
            code.add(PtxInstruction.of(guard, opcode, operands));
        }
        return code;
    }

    static List<String> text(List<PtxLine> code) {
        return code.stream().map(PtxPrinter::line).map(String::strip).toList();
    }

    @Test
    void aCopyIsReadThroughAndThenDropped() {
        var out = CopyPropagation.apply(program("mov.s32 %a, %b;", "add.s32 %c, %a, 1;", "st.global.s32 [%g], %c;", "ret;"), TYPES);
        assertEquals(List.of("add.s32 %c, %b, 1;", "st.global.s32 [%g], %c;", "ret;"), text(out));
    }

    @Test
    void aCopyIsNotReadThroughOnceItsSourceChanges() {
        var in = program("mov.s32 %a, %b;", "add.s32 %b, %b, 1;", "add.s32 %c, %a, %b;", "st.global.s32 [%g], %c;", "ret;");
        assertEquals(text(in), text(CopyPropagation.apply(in, TYPES)), "%a must still hold the old %b");
    }

    @Test
    void aCopyDoesNotCrossAJoin() {
        // L is a branch target: on the path from the branch, %a was never copied from %b
        var in = program("mov.s32 %a, %b;", "@%p bra L;", "mov.s32 %a, %d;", "L:", "add.s32 %c, %a, 1;", "st.global.s32 [%g], %c;", "ret;");
        var out = text(CopyPropagation.apply(in, TYPES));
        assertTrue(out.contains("add.s32 %c, %a, 1;"), out.toString());
        assertTrue(out.contains("mov.s32 %a, %b;") && out.contains("mov.s32 %a, %d;"), "both copies reach the join: " + out);
    }

    @Test
    void copiesBetweenDifferentTypesStayUnlessTheSourceIsBitSized() {
        var out = text(CopyPropagation.apply(program("mov.b32 %f, %a;", "add.f32 %f, %f, %f;", "st.global.f32 [%g], %f;", "ret;"), TYPES));
        assertTrue(out.contains("mov.b32 %f, %a;"), ".s32 into .f32 is a bit cast, not a copy: " + out);
        out = text(CopyPropagation.apply(program("mov.b32 %f, %w;", "add.f32 %c, %f, %f;", "st.global.f32 [%g], %c;", "ret;"), TYPES));
        assertEquals(List.of("add.f32 %c, %w, %w;", "st.global.f32 [%g], %c;", "ret;"), out, "a .b32 register reads as any 32-bit type");
    }

    @Test
    void valuesLiveAroundALoopAreKeptAndDeadOnesInsideItGo() {
        var in = program("mov.s32 %i, 0;", "L:", "mov.s32 %e, %i;", "add.s32 %i, %i, 1;", "setp.lt.s32 %p, %i, 10;", "@%p bra L;",
                "st.global.s32 [%g], %i;", "ret;");
        var out = text(CopyPropagation.apply(in, TYPES));
        assertEquals(List.of("mov.s32 %i, 0;", "L:", "add.s32 %i, %i, 1;", "setp.lt.s32 %p, %i, 10;", "@%p bra L;", "st.global.s32 [%g], %i;", "ret;"),
                out, "the increment feeds the next iteration; the copy into %e feeds nothing");
    }

    @Test
    void effectsStayEvenWhenTheirResultIsDead() {
        var in = program("shfl.sync.bfly.b32 %a, %b, 1, 31, 0xffffffff;", "atom.global.add.u32 %c, [%g], 1;", "ld.global.s32 %d, [%g];",
                "bar.sync 0;", "ret;");
        var out = text(CopyPropagation.apply(in, TYPES));
        assertEquals(List.of("shfl.sync.bfly.b32 %a, %b, 1, 31, 0xffffffff;", "atom.global.add.u32 %c, [%g], 1;", "bar.sync 0;", "ret;"), out,
                "a warp shuffle, an atomic and a barrier stay; a load nobody reads goes");
    }

    @Test
    void codeNoPathReachesIsDropped() {
        var in = program("mov.s32 %a, 1;", "bra.uni B;", "A:", "st.global.s32 [%g], %a;", "bra.uni A;", "B:", "st.global.s32 [%g], %a;", "ret;");
        assertEquals(List.of("mov.s32 %a, 1;", "bra.uni B;", "A:", "B:", "st.global.s32 [%g], %a;", "ret;"), text(CopyPropagation.apply(in, TYPES)),
                "the loop at A is entered from nowhere: even its store goes");
    }

    @Test
    void aJumpToTheNextLineGoes() {
        var in = program("mov.s32 %a, 1;", "bra.uni L;", "L:", "st.global.s32 [%g], %a;", "@%p bra M;", "M:", "ret;");
        assertEquals(List.of("mov.s32 %a, 1;", "st.global.s32 [%g], %a;", "@%p bra M;", "M:", "ret;"),
                text(CopyPropagation.apply(CopyPropagation.withoutJumpsToNext(in), TYPES)),
                "the unguarded jump to the next line goes with its label; a guarded one stays");
    }

    @Test
    void aValueChosenByABranchDiamondIsASelect() {
        var diamond = program("setp.lt.s32 %p, %a, %b;", "@%p bra ELSE;", "mov.s32 %c, 1;", "bra.uni JOIN;", "ELSE:", "mov.s32 %c, %d;", "JOIN:",
                "st.global.s32 [%g], %c;", "ret;");
        assertEquals(List.of("setp.lt.s32 %p, %a, %b;", "selp.s32 %c, %d, 1, %p;", "st.global.s32 [%g], %c;", "ret;"),
                text(CopyPropagation.apply(SelectConversion.apply(diamond), TYPES)), "%d where the branch is taken, 1 where it falls through");
        var negated = program("@!%p bra ELSE;", "mov.f32 %f, 0f3F800000;", "bra.uni JOIN;", "ELSE:", "mov.f32 %f, 0f00000000;", "JOIN:",
                "st.global.f32 [%g], %f;", "ret;");
        assertEquals("selp.f32 %f, 0f3F800000, 0f00000000, %p;", text(SelectConversion.apply(negated)).getFirst(), "taken where %p is false");
        // not a diamond: the else label is reached from elsewhere too; an arm of two instructions; two registers
        for (var other : List.of(
                program("@%p bra ELSE;", "mov.s32 %c, 1;", "bra.uni JOIN;", "ELSE:", "mov.s32 %c, 2;", "JOIN:", "@%p bra ELSE;", "ret;"),
                program("@%p bra ELSE;", "mov.s32 %c, 1;", "bra.uni JOIN;", "ELSE:", "add.s32 %c, %c, 2;", "JOIN:", "ret;"),
                program("@%p bra ELSE;", "mov.s32 %c, 1;", "bra.uni JOIN;", "ELSE:", "mov.s32 %e, 2;", "JOIN:", "ret;"))) {
            assertEquals(text(other), text(SelectConversion.apply(other)));
        }
    }

    @Test
    void labelsNoBranchNamesAreDropped() {
        var out = text(CopyPropagation.withoutUnusedLabels(program("A:", "mov.s32 %a, 1;", "B:", "@%p bra A;", "ret;")));
        assertEquals(List.of("A:", "mov.s32 %a, 1;", "@%p bra A;", "ret;"), out);
    }

    @Test
    void loadsOfBuffersNobodyWritesUseTheReadOnlyPath() {
        List<PtxLine> code = new ArrayList<>(program("ret;"));
        code.addFirst(PtxInstruction.of(null, "ld.global.f32", "%f", "[%g]").withBuffer(1));
        code.add(1, PtxInstruction.of(null, "ld.global.f32", "%f", "[%g]").withBuffer(2));
        code.add(2, PtxInstruction.of(null, "ld.global.v4.b32", "{%a, %b, %c, %d}", "[%g]").withBuffer(3));
        code.add(3, PtxInstruction.of(null, "ld.global.f32", "%f", "[%g]"));
        var out = text(ReadOnlyLoads.apply(code, Set.of(2)));
        assertEquals(List.of("ld.global.nc.f32 %f, [%g];", "ld.global.f32 %f, [%g];", "ld.global.nc.v4.b32 {%a, %b, %c, %d}, [%g];",
                "ld.global.f32 %f, [%g];", "ret;"), out, "buffer 2 is written; the last load's buffer is unknown");
    }

    @Test
    void aKernelsWrittenBuffersAreFlaggedAndItsOthersReadOnly() {
        PtxCompiler.Kernel k = PtxCompiler.compile(MatVecKernels.class, "bf16Into");
        assertEquals(List.of(false, false, false, true), k.params().subList(0, 4).stream().map(PtxCompiler.Param::written).toList(),
                "w, x, bias read; out written (ACCUMULATE reads it too)");
        assertTrue(k.ptx().contains("ld.global.nc.v4.b32"), "the weights through the read-only path");
        assertTrue(k.ptx().contains("ld.global.f32"), "out, read for the residual, through the coherent path");
    }

    @Test
    void aDivisionByAConstantWritesItsDestinationLastUnderTheSameGuard() {
        var out = text(ConstantDivision.apply(program("@%p div.s32 %a, %a, 7;", "rem.u32 %b, %b, 12;", "div.s32 %c, %d, %e;",
                "div.s32 %c, %d, 0;", "ret;"), new LinkedHashMap<>(TYPES)));
        int last = out.indexOf("@%p mov.s32 %a, %dq0;");
        assertTrue(last > 0, out.toString());
        for (int i = 0; i < last; i++) {
            assertTrue(out.get(i).startsWith("@%p "), "every instruction of the sequence guarded: " + out.get(i));
            assertFalse(out.get(i).matches("@%p \\S+ %a,.*"), "%a is the dividend until the last instruction: " + out.get(i));
        }
        assertTrue(out.contains("mul.hi.u32 %dq2, %b, 2863311531;"), "12 unsigned: (2^35 + 4) / 12 = 0xAAAAAAAB, shift 3: " + out);
        assertTrue(out.contains("sub.u32 %b, %b, %dq3;"), "the remainder n - q·12: " + out);
        assertTrue(out.contains("div.s32 %c, %d, %e;") && out.contains("div.s32 %c, %d, 0;"), "by a register or by zero: left alone");
    }

    @Test
    void thePassesShrinkEveryKernel() {
        for (KernelCatalog.Entry e : KernelCatalog.all()) {
            PtxCompiler.Translator t = new PtxCompiler.Translator(e.owner(), PtxCompiler.kernelMethod(PtxCompiler.load(e.owner()), e.owner(), e.method()),
                    PtxCompiler.DEFAULT_TARGET, Specialization.NONE).translate();
            List<PtxLine> optimised = CopyPropagation.apply(t.code, t.registers);
            long before = t.code.stream().filter(l -> l instanceof PtxInstruction).count();
            long after = optimised.stream().filter(l -> l instanceof PtxInstruction).count();
            assertTrue(after < before, e.name() + ": " + before + " → " + after);
            if (e.name().equals("matvec-bf16")) assertTrue(after < 0.5 * before, "matvec-bf16: " + before + " → " + after);
        }
        assertFalse(PtxCompiler.compile(MatVecKernels.class, "bf16").ptx().contains("mov.s32 %f1_iS0, %f1_iL"),
                "no stack register is loaded from a local just to be read once");
    }
}
