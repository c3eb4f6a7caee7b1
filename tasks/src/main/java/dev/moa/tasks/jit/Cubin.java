package dev.moa.tasks.jit;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What ptxas made of each kernel, read from the cubin without a disassembler (the toolkit here has none): its SASS
 * instruction count and its loops. That is enough to compare the JIT's code with nvcc's on the same algorithm, loop by
 * loop, offline.
 *
 * <p>A cubin is an ELF64 file with one {@code .text.<entry>} section per kernel. From sm_70 on every SASS instruction
 * is 16 bytes; the opcode is bits 0..11 of the first 8 bytes. A branch ({@code BRA}, opcode 0x947) holds its target
 * relative to the next instruction: on sm_80..sm_89 in bytes, bits 32..81, signed; on sm_90 in 4-byte units, bits
 * 16..23 the low 8 bits and bits 34..81 the rest, signed (the SM is bits 8..15 of the ELF header's flags). Those
 * layouts were read off ptxas's own output and are checked by {@code CubinTest} on loops of known shape and on every
 * project kernel (a branch back to its own address, the idiom ptxas ends every kernel with, reads as -16 bytes).
 * A loop is a backward branch: its body runs from the target to the branch. The trailing self-branch and the
 * {@code NOP} padding after it are not counted as instructions. A loop's tensor-core products ({@code HMMA}, opcode
 * 0x23c on sm_80 and sm_90, read off loops holding a known number of {@code mma.sync}; {@code CubinTest}) are counted
 * too, so a GEMM's or an attention's loop reads as instructions per product, and so are its float multiply-adds
 * ({@code FFMA}: bits 0..8 of the opcode 0x023, bits 9..11 the operands' form — 0x223 three registers, 0x423 an
 * immediate, 0x823 an immediate addend, 0xa23 a constant-bank operand; read off a loop of known {@code fma.rn.f32}),
 * which tell a decode attention's dot-product and value loops from its others and read them per multiply-add.
 */
public final class Cubin {
    private static final int INSTRUCTION_BYTES = 16;
    private static final int BRA = 0x947;
    private static final int NOP = 0x918;
    private static final int HMMA = 0x23c;
    private static final int FFMA_CLASS = 0x023, CLASS_BITS = 0x1FF;

    /**
     * One loop: instruction offsets of its first instruction and of its backward branch (both in the loop), and the
     * tensor-core products ({@code mma.sync}) and float multiply-adds ({@code fma.rn.f32}) in its body, nested
     * loops' included.
     */
    public record Loop(int start, int branch, int products, int fmas) {
        public int instructions() {
            return (branch - start) / INSTRUCTION_BYTES + 1;
        }

        boolean contains(Loop other) {
            return this != other && start <= other.start && other.branch <= branch;
        }
    }

    /**
     * One kernel's machine code: instructions (without the padding) and its loops, innermost first by position.
     */
    public record Kernel(String entry, int instructions, List<Loop> loops) {
        /** Loops that contain no other loop: where a kernel spends its time. */
        public List<Loop> innermostLoops() {
            return loops.stream().filter(l -> loops.stream().noneMatch(l::contains)).toList();
        }
    }

    private Cubin() {
    }

    /** The kernels of a cubin, by entry name, in section order. */
    public static Map<String, Kernel> kernels(byte[] elf) {
        ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        if (elf.length < 64 || b.getInt(0) != 0x464C457F || elf[4] != 2) throw new IllegalArgumentException("not an ELF64 cubin");
        long sectionTable = b.getLong(0x28);
        int entrySize = Short.toUnsignedInt(b.getShort(0x3A)), count = Short.toUnsignedInt(b.getShort(0x3C));
        int namesIndex = Short.toUnsignedInt(b.getShort(0x3E));
        if (sectionTable + (long) entrySize * count > elf.length || namesIndex >= count) {
            throw new IllegalArgumentException("cubin's section table lies outside the file");
        }
        long names = b.getLong((int) sectionTable + namesIndex * entrySize + 0x18);
        int sm = (b.getInt(0x30) >> 8) & 0xFF;
        Map<String, Kernel> kernels = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            int header = (int) sectionTable + i * entrySize;
            String name = string(elf, (int) (names + b.getInt(header)));
            if (!name.startsWith(".text.")) continue;
            long offset = b.getLong(header + 0x18), size = b.getLong(header + 0x20);
            if (offset + size > elf.length || size % INSTRUCTION_BYTES != 0) throw new IllegalArgumentException("section " + name + " is malformed");
            String entry = name.substring(".text.".length());
            kernels.put(entry, kernel(entry, b, (int) offset, (int) size, sm));
        }
        return kernels;
    }

    private static Kernel kernel(String entry, ByteBuffer b, int offset, int size, int sm) {
        List<Loop> loops = new ArrayList<>();
        int end = size;
        while (end > 0 && opcode(b, offset + end - INSTRUCTION_BYTES) == NOP) end -= INSTRUCTION_BYTES;
        for (int pc = 0; pc < end; pc += INSTRUCTION_BYTES) {
            if (opcode(b, offset + pc) != BRA) continue;
            int target = pc + INSTRUCTION_BYTES + (int) relativeTarget(b, offset + pc, sm);
            if (target == pc && pc == end - INSTRUCTION_BYTES) {
                end = pc; // the self-branch after the last EXIT: never executed
            } else {
                // a decoding check as much as an input check: every branch of nvcc's and our kernels lands inside
                if (target < 0 || target > size) throw new IllegalArgumentException(entry + ": branch at " + pc + " leaves the kernel");
                if (target <= pc) {
                    int products = 0, fmas = 0;
                    for (int at = target; at <= pc; at += INSTRUCTION_BYTES) {
                        int op = opcode(b, offset + at);
                        if (op == HMMA) products++;
                        if ((op & CLASS_BITS) == FFMA_CLASS) fmas++;
                    }
                    loops.add(new Loop(target, pc, products, fmas));
                }
            }
        }
        loops.sort(Comparator.comparingInt(Loop::start));
        return new Kernel(entry, end / INSTRUCTION_BYTES, List.copyOf(loops));
    }

    private static int opcode(ByteBuffer b, int at) {
        return (int) (b.getLong(at) & 0xFFF);
    }

    /** A branch's target in bytes after the next instruction (see the class comment for the fields). */
    static long relativeTarget(ByteBuffer b, int at, int sm) {
        long low = b.getLong(at), high = b.getLong(at + 8);
        if (sm < 90) return ((low >>> 32) | (high & 0x3FFFF) << 32) << 14 >> 14; // bits 32..81, sign-extended from bit 49
        long upper = (low >>> 34) | (high & 0x3FFFF) << 30; // bits 34..81: 48 bits
        upper = upper << 16 >> 16; // sign-extend from bit 47
        return 4 * (upper << 8 | (low >>> 16) & 0xFF);
    }

    private static String string(byte[] elf, int at) {
        int end = at;
        while (end < elf.length && elf[end] != 0) end++;
        return new String(elf, at, end - at, StandardCharsets.US_ASCII);
    }
}
