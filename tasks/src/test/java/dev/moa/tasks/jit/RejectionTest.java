package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.kernel.F32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import org.junit.jupiter.api.Test;

/** What a GPU cannot run is refused at compile time, naming class, method, source line and the construct. */
class RejectionTest {
    static float[] table = new float[4];

    static void allocates(KernelContext ctx, F32Buffer out) {
        float[] local = new float[8];
        out.set(ctx.globalId(), local.length);
    }

    static void readsAField(KernelContext ctx, F32Buffer out) {
        out.set(ctx.globalId(), table[0]);
    }

    static void throwsException(KernelContext ctx, F32Buffer out) {
        if (ctx.globalId() > 1000) throw new IllegalStateException("too many");
        out.set(ctx.globalId(), 1f);
    }

    static int factorial(int n) {
        return n <= 1 ? 1 : n * factorial(n - 1);
    }

    static void recurses(KernelContext ctx, F32Buffer out) {
        out.set(ctx.globalId(), factorial(ctx.localId()));
    }

    static void callsAnObject(KernelContext ctx, F32Buffer out) {
        out.set(ctx.globalId(), out.toArray()[0]);
    }

    static void floatRemainder(KernelContext ctx, F32Buffer out) {
        out.set(ctx.globalId(), out.get(0) % 3f);
    }

    static void vectorIndexNotConstant(KernelContext ctx, dev.moa.tasks.kernel.Half16Buffer w, F32Buffer out) {
        out.set(ctx.globalId(), w.load8(0).bf16(ctx.localId()));
    }

    static void unrollsAWhileLoop(KernelContext ctx, F32Buffer out) {
        int i = ctx.globalId();
        KernelContext.unroll(4);
        while (out.get(i) > 0f) i += 32;
        out.set(ctx.globalId(), i);
    }

    static void unrollsALoopThatMovesItsCounter(KernelContext ctx, F32Buffer out, int n) {
        KernelContext.unroll(2);
        for (int i = 0; i < n; i++) {
            if (out.get(i) < 0f) i++;
            out.set(i, 1f);
        }
    }

    static void unrollsNothing(KernelContext ctx, F32Buffer out, int n) {
        KernelContext.unroll(2);
        out.set(ctx.globalId(), n);
    }

    static void unrollsByAVariable(KernelContext ctx, F32Buffer out, int n) {
        KernelContext.unroll(n);
        for (int i = 0; i < n; i++) out.set(i, 1f);
    }

    static void waitsForAVariableCount(KernelContext ctx, F32Buffer out, int n) {
        ctx.waitCopies(n);
        out.set(0, 1f);
    }

    static void takesADouble(KernelContext ctx, F32Buffer out, double d) {
        out.set(ctx.globalId(), (float) d);
    }

    /** A double parameter is 8 bytes the kernel would read 4 of as a float (doubles compute in single precision inside). */
    @Test
    void aDoubleParameterIsRefused() {
        var e = assertThrows(KernelCompilationException.class, () -> PtxCompiler.compile(RejectionTest.class, "takesADouble"));
        assertTrue(e.getMessage().contains("a double parameter (parameter 2; pass a float)"), e.getMessage());
    }

    void rejected(String method, String construct) {
        var e = assertThrows(KernelCompilationException.class, () -> PtxCompiler.compile(RejectionTest.class, method));
        String m = e.getMessage();
        assertTrue(m.startsWith("dev.moa.tasks.jit.RejectionTest."), m);
        assertTrue(m.matches(".*\\(line \\d+\\).*"), "names the source line: " + m);
        assertTrue(m.contains(construct), "names the construct '" + construct + "': " + m);
    }

    @Test
    void unsupportedConstructsAreNamed() {
        rejected("allocates", "allocation");
        rejected("readsAField", "field access");
        rejected("throwsException", "allocation (new)"); // the exception object is allocated first
        rejected("recurses", "recursion");
        rejected("callsAnObject", "F32Buffer.toArray");
        rejected("floatRemainder", "floating-point remainder");
        rejected("vectorIndexNotConstant", "needs a constant element index");
        rejected("unrollsAWhileLoop", "the loop test must read an int counter first");
        rejected("unrollsALoopThatMovesItsCounter", "the body writes the counter");
        rejected("unrollsNothing", "with no loop after it");
        rejected("unrollsByAVariable", "needs a constant n");
        rejected("waitsForAVariableCount", "waitCopies(pending) needs a constant");
    }
}
