package dev.moa.tasks.jit;

import java.lang.classfile.CodeElement;
import java.lang.classfile.Instruction;
import java.lang.classfile.Label;
import java.lang.classfile.Opcode;
import java.lang.classfile.TypeKind;
import java.lang.classfile.instruction.BranchInstruction;
import java.lang.classfile.instruction.ConstantInstruction;
import java.lang.classfile.instruction.IncrementInstruction;
import java.lang.classfile.instruction.LabelTarget;
import java.lang.classfile.instruction.LoadInstruction;
import java.lang.classfile.instruction.StoreInstruction;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A counted loop as javac compiles {@code for (int i = ...; i < limit; i += step) body} (or {@code i <= limit}),
 * the shape {@link dev.moa.tasks.kernel.KernelContext#unroll} unrolls:
 *
 * <pre>
 *   head:  iload i; iload limit | iconst limit; if_icmpge exit   (if_icmpgt for <=)
 *          body ...; iinc i step; goto head
 *   exit:
 * </pre>
 *
 * The limit must be loop-invariant (a local the body never stores, or a constant), the step a positive constant
 * and {@code i} written only by that final increment; then N copies of the body can run back to back while
 * {@code i + (N-1)·step} still passes the test, and the original loop finishes the remainder.
 *
 * @param bodyStart   first element after the exit test
 * @param backEdge    index of the {@code goto head}; the body (with the increment) is {@code [bodyStart, backEdge)}
 * @param counter     local slot of {@code i}
 * @param limitSlot   local slot of the limit, or -1 when it is the constant {@code limitConstant}
 * @param inclusive   whether the test is {@code i <= limit}
 * @param internal    labels bound inside the body: each unrolled copy needs its own
 * @param exit        the label right after the loop, where its test jumps when it fails
 */
record CountedLoop(int bodyStart, int backEdge, int counter, int limitSlot, int limitConstant, int step,
                   boolean inclusive, Set<Label> internal, Label exit) {

    /**
     * The number of iterations when the counter starts from a constant stored right before the loop
     * ({@code for (int i = 3; ...)}) and the limit is a constant; -1 when either is not known.
     */
    long constantTrips(List<CodeElement> code, int head) {
        Integer start = constantStart(code, head);
        if (limitSlot >= 0 || start == null) return -1;
        long span = (long) limitConstant - start + (inclusive ? 1 : 0);
        return span <= 0 ? 0 : (span + step - 1) / step;
    }

    /** This loop with the constant {@code value} for its limit: the limit's local is known to hold it (a constant parameter). */
    CountedLoop withLimit(int value) {
        return new CountedLoop(bodyStart, backEdge, counter, -1, value, step, inclusive, internal, exit);
    }

    /** The counter's first value when it is a constant stored right before the loop ({@code for (int i = 3; ...)}), else null. */
    Integer constantStart(List<CodeElement> code, int head) {
        int store = previous(code, head - 1);
        if (store < 0 || !(code.get(store) instanceof StoreInstruction s) || s.slot() != counter) return null;
        int constant = previous(code, store - 1);
        if (constant < 0 || !(code.get(constant) instanceof ConstantInstruction c) || !(c.constantValue() instanceof Integer start)) return null;
        return start;
    }

    /** Whether any of {@code code[from, to)} stores to or increments local {@code slot}. */
    static boolean writes(List<CodeElement> code, int from, int to, int slot) {
        for (int i = from; i < to; i++) if (writes(code.get(i), slot)) return true;
        return false;
    }

    /** Whether the label bound at {@code at} is a loop head: a later {@code goto} jumps back to it. */
    static boolean startsAt(List<CodeElement> code, int at) {
        return backEdge(code, at) >= 0;
    }

    /** Index of the last {@code goto} back to the label bound at {@code head}, or -1. */
    private static int backEdge(List<CodeElement> code, int head) {
        Label headLabel = ((LabelTarget) code.get(head)).label();
        int backEdge = -1;
        for (int i = head + 1; i < code.size(); i++) {
            if (code.get(i) instanceof BranchInstruction b && b.opcode() == Opcode.GOTO && b.target() == headLabel) backEdge = i;
        }
        return backEdge;
    }

    /** The counted loop whose head label is at {@code head}, or null when the loop there is not one. */
    static CountedLoop tryAt(List<CodeElement> code, int head) {
        try {
            return at(code, head);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The counted loop whose head label is at {@code head}, or an exception naming what does not fit. */
    static CountedLoop at(List<CodeElement> code, int head) {
        Label headLabel = ((LabelTarget) code.get(head)).label();
        int backEdge = backEdge(code, head);
        if (backEdge < 0) throw new IllegalArgumentException("no loop starts here");
        int at = next(code, head + 1);
        if (!(code.get(at) instanceof LoadInstruction load) || load.typeKind() != TypeKind.INT) {
            throw new IllegalArgumentException("the loop test must read an int counter first (i < limit)");
        }
        int counter = load.slot();
        at = next(code, at + 1);
        int limitSlot = -1, limitConstant = 0;
        if (code.get(at) instanceof LoadInstruction limit && limit.typeKind() == TypeKind.INT) {
            limitSlot = limit.slot();
        } else if (code.get(at) instanceof ConstantInstruction c && c.constantValue() instanceof Integer n) {
            limitConstant = n;
        } else {
            throw new IllegalArgumentException("the loop limit must be an int variable or constant");
        }
        at = next(code, at + 1);
        if (!(code.get(at) instanceof BranchInstruction test)
                || (test.opcode() != Opcode.IF_ICMPGE && test.opcode() != Opcode.IF_ICMPGT)) {
            throw new IllegalArgumentException("the loop test must be i < limit or i <= limit");
        }
        int bodyStart = at + 1;
        int increment = previous(code, backEdge - 1);
        if (!(code.get(increment) instanceof IncrementInstruction inc) || inc.slot() != counter || inc.constant() <= 0) {
            throw new IllegalArgumentException("the loop must end with i += a positive constant");
        }
        if (!boundBefore(code, backEdge + 1, test.target())) {
            throw new IllegalArgumentException("the loop's exit is not right after it");
        }
        Set<Label> internal = new LinkedHashSet<>(); // in code order: copies name their labels deterministically
        for (int i = bodyStart; i < backEdge; i++) {
            if (code.get(i) instanceof LabelTarget t) internal.add(t.label());
        }
        for (int i = bodyStart; i < backEdge; i++) {
            CodeElement e = code.get(i);
            if (i != increment && writes(e, counter)) throw new IllegalArgumentException("the body writes the counter");
            if (limitSlot >= 0 && writes(e, limitSlot)) throw new IllegalArgumentException("the body writes the limit");
            if (e instanceof BranchInstruction b && b.target() == headLabel) {
                throw new IllegalArgumentException("the body jumps back to the test (continue in a while loop)");
            }
        }
        return new CountedLoop(bodyStart, backEdge, counter, limitSlot, limitConstant, inc.constant(),
                test.opcode() == Opcode.IF_ICMPGT, internal, test.target());
    }

    private static boolean writes(CodeElement e, int slot) {
        return (e instanceof StoreInstruction s && s.slot() == slot) || (e instanceof IncrementInstruction inc && inc.slot() == slot);
    }

    /** Whether {@code label} is bound at {@code from}, with only labels and debug information before it. */
    private static boolean boundBefore(List<CodeElement> code, int from, Label label) {
        for (int i = from; i < code.size() && !(code.get(i) instanceof Instruction); i++) {
            if (code.get(i) instanceof LabelTarget t && t.label() == label) return true;
        }
        return false;
    }

    /** The first real instruction at or after {@code i} (skipping labels, line numbers and other debug information). */
    private static int next(List<CodeElement> code, int i) {
        while (i < code.size() && !(code.get(i) instanceof Instruction)) i++;
        if (i == code.size()) throw new IllegalArgumentException("the method ends inside the loop test");
        return i;
    }

    private static int previous(List<CodeElement> code, int i) {
        while (i >= 0 && !(code.get(i) instanceof Instruction)) i--;
        return i;
    }
}
