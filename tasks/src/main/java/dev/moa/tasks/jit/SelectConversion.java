package dev.moa.tasks.jit;

import dev.moa.tasks.jit.PtxInstruction.Operand;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A pass: a value chosen by a branch becomes a {@code selp}.
 *
 * <p>javac compiles {@code boolean b = i < n} and {@code x = c ? y : z} as a diamond, and the translator keeps it: a
 * guarded branch, a {@code mov} into the stack register, a branch over the other arm, the other arm's {@code mov}, the
 * join:
 * <pre>
 *     &#64;p bra ELSE;  mov.T r, a;  bra.uni JOIN;  ELSE:  mov.T r, b;  JOIN:
 * </pre>
 * which is {@code selp.T r, b, a, p} (b where the branch is taken). ptxas turns such diamonds into predicated code,
 * but not as cheaply: a prompt attention tile's copies, each sized by {@code step < left}, cost some 60 SASS
 * instructions a tile more as diamonds (docs/benchmarks.md). Only that exact shape is rewritten — both arms one unguarded
 * {@code mov} of the same type into the same register, the else label reached from this branch alone — so the
 * rewrite chooses what the branches chose; the join label stays for any other path into it (unused labels are dropped
 * afterwards).
 */
final class SelectConversion {
    private SelectConversion() {
    }

    static List<PtxLine> apply(List<PtxLine> code) {
        Map<String, Integer> references = new HashMap<>();
        for (PtxLine line : code) {
            if (line instanceof PtxInstruction i && i.operation().equals("bra")) references.merge(PtxPrinter.operand(i.operands().getFirst()), 1, Integer::sum);
        }
        List<PtxLine> out = new ArrayList<>(code.size());
        for (int k = 0; k < code.size(); k++) {
            PtxInstruction select = k + 5 < code.size() ? select(code, k, references) : null;
            if (select != null) {
                out.add(select);
                out.add(code.get(k + 5)); // the join
                k += 5;
            } else {
                out.add(code.get(k));
            }
        }
        return out;
    }

    /** The {@code selp} the diamond at line {@code k} computes, or null where the lines from k are not one. */
    private static PtxInstruction select(List<PtxLine> code, int k, Map<String, Integer> references) {
        if (!(code.get(k) instanceof PtxInstruction branch) || branch.guard() == null || !branch.opcode().equals("bra")) return null;
        if (!(code.get(k + 1) instanceof PtxInstruction first) || !(code.get(k + 2) instanceof PtxInstruction over)
                || !(code.get(k + 3) instanceof PtxLine.Label otherwise) || !(code.get(k + 4) instanceof PtxInstruction second)
                || !(code.get(k + 5) instanceof PtxLine.Label join)) {
            return null;
        }
        String elseName = PtxPrinter.operand(branch.operands().getFirst());
        if (!otherwise.name().equals(elseName) || references.getOrDefault(elseName, 0) != 1) return null;
        if (over.guard() != null || !over.opcode().equals("bra.uni") || !PtxPrinter.operand(over.operands().getFirst()).equals(join.name())) return null;
        if (!isMove(first) || !isMove(second) || !first.opcode().equals(second.opcode())) return null;
        Operand target = first.operands().getFirst();
        if (!target.equals(second.operands().getFirst())) return null;
        String type = first.opcode().substring("mov".length());
        if (type.equals(".pred")) return null;
        boolean negated = branch.guard().startsWith("!");
        Operand predicate = new Operand.Register(negated ? branch.guard().substring(1) : branch.guard());
        Operand taken = second.operands().get(1), fallen = first.operands().get(1);
        // selp d, a, b, p: a where p; the branch is taken (to the second arm) where the guard holds
        return new PtxInstruction(null, "selp" + type, negated ? List.of(target, fallen, taken, predicate) : List.of(target, taken, fallen, predicate), -1);
    }

    /** An unguarded {@code mov.T r, x} of a register or a number. */
    private static boolean isMove(PtxInstruction i) {
        return i.guard() == null && i.operation().equals("mov") && i.operands().size() == 2 && i.operands().getFirst() instanceof Operand.Register
                && (i.operands().get(1) instanceof Operand.Register
                || i.operands().get(1) instanceof Operand.Immediate n && n.text().matches("-?\\d+|0[fFdD][0-9A-Fa-f]+")); // (not a symbol)
    }
}
