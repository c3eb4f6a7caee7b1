package dev.moa.tasks.jit;

import dev.moa.tasks.jit.PtxInstruction.Operand;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A pass: integer division and remainder by a constant without a division. ptxas compiles {@code div.s32} and
 * {@code rem.s32} by an immediate as the generic sequence (a reciprocal estimate and corrections, about 20 SASS
 * instructions; 64-bit ones a call), where a multiply-high, a shift and a sign correction do: the quotient of n by a
 * constant c is the high half of n·M shifted right by s, for a magic number M chosen from c (Granlund and Montgomery,
 * "Division by invariant integers using multiplication", 1994; the signed magic as in Hacker's Delight, figure 10-1).
 *
 * <p>The translator emits {@code div}/{@code rem} with the constant as an immediate, {@code .u32} where it knows the
 * dividend is ≥ 0 and the divisor positive (a thread index: the quotient is then the unsigned one, and the sign
 * correction is left out), {@code .s32}/{@code .s64} otherwise; this pass rewrites each such instruction, for 32 and 64
 * bits, signed and unsigned, keeping PTX's semantics — which for signed types are Java's: truncation toward zero,
 * the remainder taking the dividend's sign, {@code MIN_VALUE / -1 == MIN_VALUE}. Powers of two become shifts (a
 * negative dividend biased by 2^k - 1 first, so that the shift rounds toward zero), ±1 a move or a negation. A
 * division by zero, or an unsigned one by a constant of 2^(W-1) or more, is left as it is.
 *
 * <p>The rewritten sequence writes the destination last, so it may be the dividend's register (the translator's
 * stack slots make that the rule: {@code div.s32 %S0, %S0, 7}).
 */
final class ConstantDivision {
    private ConstantDivision() {
    }

    /** {@code code} with every div/rem by an immediate rewritten; temporaries are added to {@code registers}. */
    static List<PtxLine> apply(List<PtxLine> code, Map<String, String> registers) {
        List<PtxLine> out = new ArrayList<>(code.size());
        Rewriter rewriter = new Rewriter(registers);
        for (PtxLine line : code) {
            Long c = line instanceof PtxInstruction i ? divisor(i) : null;
            if (c != null) rewriter.rewrite((PtxInstruction) line, c, out);
            else out.add(line);
        }
        return out;
    }

    /** The constant an integer div/rem divides by, or null when it is not one this pass rewrites. */
    static Long divisor(PtxInstruction i) {
        String[] parts = i.opcode().split("\\.");
        if (parts.length != 2 || !(parts[0].equals("div") || parts[0].equals("rem")) || !parts[1].matches("[su](32|64)")) return null;
        if (i.operands().size() != 3 || !(i.operands().get(2) instanceof Operand.Immediate imm) || !imm.text().matches("-?\\d+")) return null;
        long c = Long.parseLong(imm.text());
        int bits = Integer.parseInt(parts[1].substring(1));
        if (bits == 32) c = parts[1].charAt(0) == 's' ? (int) c : c & 0xFFFFFFFFL;
        boolean unsigned = parts[1].charAt(0) == 'u';
        if (c == 0 || (unsigned && (bits == 64 ? c < 0 : c >= 1L << 31))) return null;
        return c;
    }

    /**
     * A signed magic number: for n of {@code bits} bits, n / c is (mulhi(n, magic) [+ n if c > 0 and magic < 0]
     * [- n if c < 0 and magic > 0]) >> shift, plus 1 where that is negative. Needs 2 ≤ |c| and c not MIN_VALUE.
     */
    record SignedMagic(long magic, int shift) {
    }

    /** Hacker's Delight's magic(d), in exact arithmetic. */
    static SignedMagic signedMagic(long c, int bits) {
        BigInteger two = BigInteger.TWO, half = BigInteger.ONE.shiftLeft(bits - 1);
        BigInteger ad = BigInteger.valueOf(c).abs();
        BigInteger t = half.add(c < 0 ? BigInteger.ONE : BigInteger.ZERO);
        BigInteger anc = t.subtract(BigInteger.ONE).subtract(t.mod(ad)); // |nc|: the largest n whose remainder is c - 1
        int p = bits - 1;
        BigInteger q1 = half.divide(anc), r1 = half.subtract(q1.multiply(anc));
        BigInteger q2 = half.divide(ad), r2 = half.subtract(q2.multiply(ad));
        BigInteger delta;
        do {
            p++;
            q1 = q1.multiply(two);
            r1 = r1.multiply(two);
            if (r1.compareTo(anc) >= 0) {
                q1 = q1.add(BigInteger.ONE);
                r1 = r1.subtract(anc);
            }
            q2 = q2.multiply(two);
            r2 = r2.multiply(two);
            if (r2.compareTo(ad) >= 0) {
                q2 = q2.add(BigInteger.ONE);
                r2 = r2.subtract(ad);
            }
            delta = ad.subtract(r2);
        } while (q1.compareTo(delta) < 0 || (q1.equals(delta) && r1.signum() == 0));
        BigInteger magic = q2.add(BigInteger.ONE);
        if (c < 0) magic = magic.negate();
        long m = magic.longValue(); // two's complement of its low 64 bits
        return new SignedMagic(bits == 32 ? (int) m : m, p - bits);
    }

    /**
     * An unsigned magic number: for 0 ≤ n < 2^bits, n / c = floor(n · m / 2^(bits + shift)) where m is {@code magic},
     * or 2^bits + {@code magic} when {@code add} (m then needs one bit more than n: computed as
     * (((n - t) >> 1) + t) >> (shift - 1) with t = mulhi(n, magic)).
     */
    record UnsignedMagic(long magic, int shift, boolean add) {
    }

    /**
     * The smallest l with m = ceil(2^(bits+l) / c) and m·c - 2^(bits+l) ≤ 2^l, which makes floor(n·m / 2^(bits+l))
     * equal n / c for every n below 2^bits (Granlund and Montgomery, theorem 4.2). l = ceil(log2 c) always works.
     */
    static UnsignedMagic unsignedMagic(long c, int bits) {
        BigInteger d = new BigInteger(Long.toUnsignedString(c));
        for (int l = 0; ; l++) {
            BigInteger power = BigInteger.ONE.shiftLeft(bits + l);
            BigInteger m = power.add(d).subtract(BigInteger.ONE).divide(d);
            if (m.multiply(d).subtract(power).compareTo(BigInteger.ONE.shiftLeft(l)) <= 0) {
                boolean add = m.bitLength() > bits;
                long low = m.longValue();
                return new UnsignedMagic(bits == 32 ? low & 0xFFFFFFFFL : low, l, add);
            }
        }
    }

    /** Emits the replacement sequences, with fresh temporaries. */
    private static final class Rewriter {
        final Map<String, String> registers;
        int temps;
        List<PtxLine> out;
        String guard;

        Rewriter(Map<String, String> registers) {
            this.registers = registers;
        }

        void rewrite(PtxInstruction i, long c, List<PtxLine> out) {
            this.out = out;
            this.guard = i.guard();
            String[] parts = i.opcode().split("\\.");
            boolean quotient = parts[0].equals("div"), unsigned = parts[1].charAt(0) == 'u';
            int bits = Integer.parseInt(parts[1].substring(1));
            Operand d = i.operands().get(0), n = i.operands().get(1);
            String s = ".s" + bits, u = ".u" + bits, b = ".b" + bits;
            if (c == 1 || (!unsigned && c == -1)) {
                if (!quotient) emit("mov" + s, d, imm(0));
                else emit(c == 1 ? "mov" + s : "neg" + s, d, n);
                return;
            }
            if (!unsigned && c == (bits == 32 ? Integer.MIN_VALUE : Long.MIN_VALUE)) { // quotient 1 for MIN_VALUE itself, else 0
                Operand is = temp(".pred");
                emit("setp.eq" + s, is, n, imm(c));
                emit("selp" + s, d, quotient ? imm(1) : imm(0), quotient ? imm(0) : n, is);
                return;
            }
            long magnitude = Math.abs(c);
            if (Long.bitCount(magnitude) == 1) {
                int k = Long.numberOfTrailingZeros(magnitude);
                if (unsigned) {
                    if (quotient) emit("shr" + u, d, n, imm(k));
                    else emit("and" + b, d, n, imm(magnitude - 1));
                    return;
                }
                Operand biased = temp(s); // n + (2^k - 1 when n < 0): the shift then truncates toward zero
                emit("shr" + s, biased, n, imm(bits - 1));
                emit("shr" + u, biased, biased, imm(bits - k));
                emit("add" + s, biased, biased, n);
                if (quotient && c > 0) {
                    emit("shr" + s, d, biased, imm(k));
                } else if (quotient) {
                    Operand q = temp(s);
                    emit("shr" + s, q, biased, imm(k));
                    emit("neg" + s, d, q);
                } else {
                    emit("and" + b, biased, biased, imm(-magnitude));
                    emit("sub" + s, d, n, biased);
                }
                return;
            }
            Operand q = unsigned ? unsignedQuotient(n, c, bits) : signedQuotient(n, c, bits);
            String type = unsigned ? u : s;
            if (quotient) {
                emit("mov" + type, d, q);
            } else { // n - q·c
                Operand product = temp(type);
                emit("mul.lo" + type, product, q, imm(c));
                emit("sub" + type, d, n, product);
            }
        }

        /** n / c for a signed n and 2 ≤ |c|, c not a power of two, in a temporary. */
        Operand signedQuotient(Operand n, long c, int bits) {
            String s = ".s" + bits;
            SignedMagic magic = signedMagic(c, bits);
            Operand q = temp(s), sign = temp(s);
            emit("mul.hi" + s, q, n, imm(magic.magic()));
            if (c > 0 && magic.magic() < 0) emit("add" + s, q, q, n);
            if (c < 0 && magic.magic() > 0) emit("sub" + s, q, q, n);
            if (magic.shift() > 0) emit("shr" + s, q, q, imm(magic.shift()));
            emit("shr.u" + bits, sign, q, imm(bits - 1)); // 1 where the estimate is negative: round toward zero
            emit("add" + s, q, q, sign);
            return q;
        }

        /** n / c for an unsigned n, c not a power of two and below 2^(bits-1), in a temporary. */
        Operand unsignedQuotient(Operand n, long c, int bits) {
            String u = ".u" + bits;
            UnsignedMagic magic = unsignedMagic(c, bits);
            Operand q = temp(u);
            emit("mul.hi" + u, q, n, imm(magic.magic()));
            if (magic.add()) { // floor((n + t) / 2) without overflow, since t ≤ n
                Operand half = temp(u);
                emit("sub" + u, half, n, q);
                emit("shr" + u, half, half, imm(1));
                emit("add" + u, q, half, q);
                if (magic.shift() > 1) emit("shr" + u, q, q, imm(magic.shift() - 1));
            } else if (magic.shift() > 0) {
                emit("shr" + u, q, q, imm(magic.shift()));
            }
            return q;
        }

        Operand temp(String type) {
            String name = "%dq" + temps++;
            while (registers.containsKey(name)) name = "%dq" + temps++;
            registers.put(name, type);
            return new Operand.Register(name);
        }

        static Operand imm(long value) {
            return new Operand.Immediate(Long.toString(value));
        }

        void emit(String opcode, Operand... operands) {
            out.add(new PtxInstruction(guard, opcode, List.of(operands), -1));
        }
    }
}
