package dev.moa.tasks.jit;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A pass: copy propagation inside basic blocks, then removal of instructions whose results nobody reads and of
 * blocks no path reaches.
 *
 * <p>The translator maps the JVM's operand stack and locals onto registers, so every {@code iload} is a {@code mov}
 * into a stack register and every {@code istore} one out of it. Here a read of {@code d} after {@code mov d, s} (same
 * declared type, no guard) reads {@code s} instead while neither is written again in the block; a {@code mov} (or
 * any instruction without effects) whose results are dead on every path is then dropped, by liveness over the
 * control-flow graph. ptxas would find the same; the point is PTX a person can read ({@code moa kernels --print})
 * and fewer lines for the interpreter. Registers are not in SSA form (a stack register is reused), which is why
 * propagation stops at block boundaries and removal asks liveness, not use counts.
 */
final class CopyPropagation {
    private static final java.util.Set<String> THIRTY_TWO_BITS = java.util.Set.of(".f32", ".s32", ".u32", ".b32");

    private CopyPropagation() {
    }

    static List<PtxLine> apply(List<PtxLine> code, Map<String, String> registerTypes) {
        List<PtxLine> out = propagate(withoutUnusedLabels(code), registerTypes);
        for (int round = 0; round < 8; round++) { // removing one dead instruction can make its operands' producers dead
            List<PtxLine> next = removeDead(out);
            if (next.size() == out.size()) break;
            out = next;
        }
        return out;
    }

    /**
     * The code without unguarded branches to the label right after them: the translator ends every inlined helper
     * with one (its return), and each would end a block.
     */
    static List<PtxLine> withoutJumpsToNext(List<PtxLine> code) {
        List<PtxLine> out = new ArrayList<>(code.size());
        for (int k = 0; k < code.size(); k++) {
            if (code.get(k) instanceof PtxInstruction i && i.guard() == null && i.opcode().equals("bra.uni") && k + 1 < code.size()
                    && code.get(k + 1) instanceof PtxLine.Label next && next.name().equals(PtxPrinter.operand(i.operands().getFirst()))) {
                continue;
            }
            out.add(code.get(k));
        }
        return out;
    }

    /**
     * The code without labels no branch names: the translator binds one for every label javac wrote (statement
     * boundaries), and each would end a block, where propagation stops.
     */
    static List<PtxLine> withoutUnusedLabels(List<PtxLine> code) {
        java.util.Set<String> targets = new java.util.HashSet<>();
        for (PtxLine line : code) {
            if (line instanceof PtxInstruction i && i.operation().equals("bra")) targets.add(PtxPrinter.operand(i.operands().getFirst()));
        }
        return code.stream().filter(l -> !(l instanceof PtxLine.Label label) || targets.contains(label.name())).toList();
    }

    /** Block-local forward propagation of register copies. */
    static List<PtxLine> propagate(List<PtxLine> code, Map<String, String> registerTypes) {
        List<PtxLine> out = new ArrayList<>(code.size());
        Map<String, String> copyOf = new HashMap<>();
        for (PtxLine line : code) {
            if (!(line instanceof PtxInstruction i)) {
                copyOf.clear(); // a label: other paths join here
                out.add(line);
                continue;
            }
            PtxInstruction rewritten = i.withUses(r -> copyOf.getOrDefault(r, r));
            out.add(rewritten);
            for (String d : rewritten.defs()) copyOf.entrySet().removeIf(e -> e.getKey().equals(d) || e.getValue().equals(d));
            if (isCopy(rewritten, registerTypes)) {
                copyOf.put(rewritten.defs().getFirst(), rewritten.uses().getFirst());
            }
            if (rewritten.operation().equals("bra") || rewritten.operation().equals("ret")) copyOf.clear();
        }
        return out;
    }

    /** {@code mov.T d, s} between two registers of the same declared type, unguarded. */
    static boolean isCopy(PtxInstruction i, Map<String, String> registerTypes) {
        if (!i.operation().equals("mov") || i.guard() != null || i.operands().size() != 2) return false;
        if (!(i.operands().get(0) instanceof PtxInstruction.Operand.Register d) || !(i.operands().get(1) instanceof PtxInstruction.Operand.Register s)) {
            return false;
        }
        String dt = registerTypes.get(d.name()), st = registerTypes.get(s.name());
        if (dt == null || st == null || d.name().equals(s.name())) return false;
        // PTX accepts a bit-size register (.b32) wherever a 32-bit one is read, so a .b32 source may stand in for a
        // .f32/.s32/.u32 copy (the float views of Vec16 words, bit casts); any other pair must match exactly
        return dt.equals(st) || (st.equals(".b32") && THIRTY_TWO_BITS.contains(dt));
    }

    /** Drops instructions without effects whose results are dead, by backward liveness over the blocks. */
    static List<PtxLine> removeDead(List<PtxLine> code) {
        Map<String, Integer> index = new HashMap<>();
        for (PtxLine line : code) {
            if (line instanceof PtxInstruction i) {
                for (String r : i.defs()) index.putIfAbsent(r, index.size());
                for (String r : i.uses()) index.putIfAbsent(r, index.size());
            }
        }
        List<int[]> blocks = blocks(code); // [first, end) line ranges
        Map<String, Integer> blockOfLabel = new HashMap<>();
        for (int b = 0; b < blocks.size(); b++) {
            if (code.get(blocks.get(b)[0]) instanceof PtxLine.Label l) blockOfLabel.put(l.name(), b);
        }
        List<List<Integer>> successors = new ArrayList<>();
        for (int b = 0; b < blocks.size(); b++) {
            List<Integer> next = new ArrayList<>();
            int end = blocks.get(b)[1];
            PtxInstruction last = null;
            for (int k = end - 1; k >= blocks.get(b)[0]; k--) {
                if (code.get(k) instanceof PtxInstruction i) {
                    last = i;
                    break;
                }
            }
            boolean fallsThrough = true;
            if (last != null && last.operation().equals("bra")) {
                Integer target = blockOfLabel.get(PtxPrinter.operand(last.operands().getFirst()));
                if (target == null) throw new IllegalStateException("branch to an unknown label: " + PtxPrinter.line(last));
                next.add(target);
                fallsThrough = last.guard() != null;
            } else if (last != null && last.operation().equals("ret")) {
                fallsThrough = false;
            }
            if (fallsThrough && b + 1 < blocks.size()) next.add(b + 1);
            successors.add(next);
        }
        BitSet[] liveIn = new BitSet[blocks.size()], liveOut = new BitSet[blocks.size()];
        for (int b = 0; b < blocks.size(); b++) {
            liveIn[b] = new BitSet();
            liveOut[b] = new BitSet();
        }
        for (boolean changed = true; changed; ) {
            changed = false;
            for (int b = blocks.size() - 1; b >= 0; b--) {
                BitSet out = new BitSet();
                for (int s : successors.get(b)) out.or(liveIn[s]);
                BitSet in = (BitSet) out.clone();
                for (int k = blocks.get(b)[1] - 1; k >= blocks.get(b)[0]; k--) {
                    if (code.get(k) instanceof PtxInstruction i) transfer(i, in, index);
                }
                if (!out.equals(liveOut[b]) || !in.equals(liveIn[b])) {
                    liveOut[b] = out;
                    liveIn[b] = in;
                    changed = true;
                }
            }
        }
        boolean[] dead = new boolean[code.size()];
        boolean[] reached = new boolean[blocks.size()]; // blocks no path from the entry reaches (a fully unrolled loop's own code)
        java.util.ArrayDeque<Integer> work = new java.util.ArrayDeque<>(List.of(0));
        while (!work.isEmpty()) {
            int b = work.pop();
            if (b >= blocks.size() || reached[b]) continue;
            reached[b] = true;
            work.addAll(successors.get(b));
        }
        for (int b = 0; b < blocks.size(); b++) {
            if (reached[b]) continue;
            for (int k = blocks.get(b)[0]; k < blocks.get(b)[1]; k++) dead[k] = code.get(k) instanceof PtxInstruction;
        }
        for (int b = 0; b < blocks.size(); b++) {
            if (!reached[b]) continue;
            BitSet live = (BitSet) liveOut[b].clone();
            for (int k = blocks.get(b)[1] - 1; k >= blocks.get(b)[0]; k--) {
                if (!(code.get(k) instanceof PtxInstruction i)) continue;
                if (!i.hasEffects() && !i.defs().isEmpty() && i.defs().stream().noneMatch(r -> live.get(index.get(r)))) {
                    dead[k] = true;
                    continue;
                }
                transfer(i, live, index);
            }
        }
        List<PtxLine> out = new ArrayList<>(code.size());
        for (int k = 0; k < code.size(); k++) if (!dead[k]) out.add(code.get(k));
        return out;
    }

    /** live := live − defs (an unguarded write kills) ∪ uses. */
    private static void transfer(PtxInstruction i, BitSet live, Map<String, Integer> index) {
        if (i.guard() == null) for (String r : i.defs()) live.clear(index.get(r));
        for (String r : i.uses()) live.set(index.get(r));
    }

    /** Basic blocks as [first, end) line ranges: a label starts one, a branch or return ends one. */
    private static List<int[]> blocks(List<PtxLine> code) {
        List<int[]> blocks = new ArrayList<>();
        int start = 0;
        for (int k = 0; k < code.size(); k++) {
            PtxLine line = code.get(k);
            if (line instanceof PtxLine.Label && k > start) {
                blocks.add(new int[] {start, k});
                start = k;
            }
            if (line instanceof PtxInstruction i && (i.operation().equals("bra") || i.operation().equals("ret"))) {
                blocks.add(new int[] {start, k + 1});
                start = k + 1;
            }
        }
        if (start < code.size()) blocks.add(new int[] {start, code.size()});
        return blocks;
    }
}
