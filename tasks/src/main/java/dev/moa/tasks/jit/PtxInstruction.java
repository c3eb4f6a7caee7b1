package dev.moa.tasks.jit;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * One instruction of the JIT's intermediate form, between translating bytecode and printing PTX: an opcode with its
 * type suffixes ({@code add.s32}), operands in PTX order, an optional guard predicate, and for a global load the
 * kernel parameter its address came from ({@link ReadOnlyLoads} makes the loads of never-written buffers
 * {@code ld.global.nc}). Passes read and rewrite these; {@link PtxPrinter} prints them.
 *
 * <p>Which operands an instruction writes follows PTX: the first operand, except for stores, branches, barriers,
 * fences and returns, which write none.
 */
public record PtxInstruction(String guard, String opcode, List<Operand> operands, int buffer) implements PtxLine {
    /** What an operand is: a register, an immediate or symbol, a memory reference {@code [x]} or a vector {@code {r, r}}. */
    public sealed interface Operand {
        /** A virtual register the kernel declares ({@code %k0_iL3}). */
        record Register(String name) implements Operand {
        }

        /** A number, a float literal {@code 0f3F800000}, a special register {@code %tid.x} or a symbol. */
        record Immediate(String text) implements Operand {
        }

        /** {@code [base]}: base is a register or a symbol (a parameter, a shared array). */
        record Memory(Operand base) implements Operand {
        }

        /** {@code {a, b, ...}}: registers read or written together (16-byte loads, tensor-core fragments). */
        record Vector(List<Register> registers) implements Operand {
        }

        /** Reads the operand as the translator writes it. */
        static Operand of(String text) {
            if (text.startsWith("[")) return new Memory(of(text.substring(1, text.length() - 1)));
            if (text.startsWith("{")) {
                return new Vector(Arrays.stream(text.substring(1, text.length() - 1).split(",\\s*")).map(Register::new).toList());
            }
            if (text.startsWith("%") && !SPECIAL.contains(text)) return new Register(text);
            return new Immediate(text);
        }
    }

    /** Special registers the hardware provides: read like immediates, never declared. */
    private static final Set<String> SPECIAL = Set.of("%tid.x", "%ntid.x", "%ctaid.x", "%ctaid.y", "%ctaid.z", "%nctaid.x",
            "%nctaid.y", "%nctaid.z");

    public PtxInstruction {
        operands = List.copyOf(operands);
    }

    static PtxInstruction of(String guard, String opcode, Object... operands) {
        return new PtxInstruction(guard, opcode, Arrays.stream(operands).map(o -> Operand.of(String.valueOf(o))).toList(), -1);
    }

    /** The first part of the opcode: {@code ld}, {@code add}, {@code bra} ... */
    public String operation() {
        int dot = opcode.indexOf('.');
        return dot < 0 ? opcode : opcode.substring(0, dot);
    }

    /** Whether the instruction writes its first operand. */
    public boolean writesFirst() {
        return !operands.isEmpty() && switch (operation()) {
            case "st", "bra", "bar", "membar", "ret", "cp", "griddepcontrol", "prefetch" -> false;
            default -> true;
        };
    }

    /** Registers written. */
    public List<String> defs() {
        if (!writesFirst()) return List.of();
        return registers(operands.getFirst());
    }

    /** Registers read: every other operand, memory bases, and the guard. */
    public List<String> uses() {
        List<String> uses = new ArrayList<>();
        if (guard != null) uses.add(guard);
        for (int i = writesFirst() ? 1 : 0; i < operands.size(); i++) uses.addAll(registers(operands.get(i)));
        return uses;
    }

    /**
     * Whether the instruction does something besides writing its registers: memory writes, control flow,
     * synchronisation, and the warp-collective shuffles and tensor-core products (every lane must take part).
     */
    public boolean hasEffects() {
        return switch (operation()) {
            case "st", "atom", "bra", "bar", "membar", "ret", "shfl", "mma", "ldmatrix", "cp", "griddepcontrol", "prefetch" -> true;
            default -> false;
        };
    }

    /** This instruction with each register it reads renamed (its writes untouched). */
    public PtxInstruction withUses(UnaryOperator<String> rename) {
        List<Operand> renamed = new ArrayList<>(operands);
        for (int i = writesFirst() ? 1 : 0; i < renamed.size(); i++) renamed.set(i, rename(renamed.get(i), rename));
        return new PtxInstruction(guard == null ? null : rename.apply(guard), opcode, renamed, buffer);
    }

    public PtxInstruction withOpcode(String newOpcode) {
        return new PtxInstruction(guard, newOpcode, operands, buffer);
    }

    PtxInstruction withBuffer(int parameterSlot) {
        return new PtxInstruction(guard, opcode, operands, parameterSlot);
    }

    private static Operand rename(Operand o, UnaryOperator<String> rename) {
        return switch (o) {
            case Operand.Register r -> new Operand.Register(rename.apply(r.name()));
            case Operand.Memory m -> new Operand.Memory(rename(m.base(), rename));
            case Operand.Vector v -> new Operand.Vector(v.registers().stream().map(r -> new Operand.Register(rename.apply(r.name()))).toList());
            case Operand.Immediate i -> i;
        };
    }

    private static List<String> registers(Operand o) {
        return switch (o) {
            case Operand.Register r -> List.of(r.name());
            case Operand.Memory m -> registers(m.base());
            case Operand.Vector v -> v.registers().stream().map(Operand.Register::name).toList();
            case Operand.Immediate i -> List.of();
        };
    }
}
