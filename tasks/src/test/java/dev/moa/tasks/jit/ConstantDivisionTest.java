package dev.moa.tasks.jit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.tasks.emulator.Emulator;
import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.I32Buffer;
import dev.moa.tasks.kernel.KernelContext;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * Division and remainder by constants ({@link ConstantDivision}): the magic numbers against Java's division on the
 * dividends where they fail first (the extremes, multiples of the divisor and their neighbours) and at random, for
 * 32 and 64 bits, signed and unsigned; the rewritten PTX against the emulator (Java's semantics) through the PTX
 * interpreter, with a wrong magic number caught; and ptxas: no spills, and fewer instructions than a division.
 */
class ConstantDivisionTest {
    final Arena arena = Arena.ofShared();
    final Random random = new Random(11);

    /** Divisors that are not powers of two: small ones, primes, the largest, and the magic numbers' corner cases. */
    static long[] divisors(int bits) {
        List<Long> ds = new ArrayList<>();
        for (long d = 3; d < 1200; d++) if (Long.bitCount(d) != 1) ds.add(d);
        long max = bits == 32 ? Integer.MAX_VALUE : Long.MAX_VALUE;
        for (long d : new long[] {641, 6700417, 1_000_000_007L, (1L << 30) + 1, (1L << 30) - 1, max, max - 1, max / 3, max / 7, max / 10}) ds.add(d);
        if (bits == 64) for (long d : new long[] {274177, 67280421310721L, 1L << 32 | 1, (1L << 40) + 3, 10_000_000_000L}) ds.add(d);
        return ds.stream().mapToLong(Long::longValue).toArray();
    }

    /** Dividends where a magic number goes wrong first: the extremes, multiples of d and their neighbours, random ones. */
    long[] dividends(long d, int bits, boolean unsigned) {
        List<Long> ns = new ArrayList<>();
        long min = unsigned ? 0 : bits == 32 ? Integer.MIN_VALUE : Long.MIN_VALUE;
        long max = unsigned ? (bits == 32 ? 0xFFFFFFFFL : -1L) : bits == 32 ? Integer.MAX_VALUE : Long.MAX_VALUE;
        for (long k = -2; k <= 2; k++) {
            ns.add(min + k + 2);
            ns.add(max - k - 2);
        }
        long top = unsigned ? (bits == 32 ? 0xFFFFFFFFL : -1L) : max;
        long lastMultiple = unsigned && bits == 64 ? Long.divideUnsigned(top, d) * d : top / d * d;
        for (long m : new long[] {d, 2 * d, lastMultiple, lastMultiple - d, -d, -lastMultiple}) {
            for (long k = -1; k <= 1; k++) ns.add(m + k);
        }
        for (int i = 0; i < 2000; i++) ns.add(bits == 32 ? (unsigned ? random.nextInt() & 0xFFFFFFFFL : random.nextInt()) : random.nextLong());
        for (int i = 0; i < 200; i++) ns.add((long) random.nextInt(4000) - (unsigned ? 0 : 2000));
        return ns.stream().mapToLong(n -> bits == 32 ? (unsigned ? n & 0xFFFFFFFFL : (long) (int) (long) n) : n).toArray();
    }

    /** The signed magic numbers give Java's quotient for 32 and 64 bits, both signs of the divisor. */
    @Test
    void signedMagicNumbersGiveJavasQuotient() {
        for (int bits : new int[] {32, 64}) {
            for (long positive : divisors(bits)) {
                for (long d : new long[] {positive, -positive}) {
                    ConstantDivision.SignedMagic magic = ConstantDivision.signedMagic(d, bits);
                    assertTrue(magic.shift() >= 0 && magic.shift() < bits, "shift of " + d);
                    for (long n : dividends(Math.abs(d), bits, false)) {
                        long expected = bits == 32 ? (int) n / (int) d : n / d;
                        assertEquals(expected, signedQuotient(n, d, magic, bits), bits + "-bit " + n + " / " + d);
                    }
                }
            }
        }
    }

    /** The sequence {@link ConstantDivision} emits for a signed division, written out in Java. */
    static long signedQuotient(long n, long d, ConstantDivision.SignedMagic magic, int bits) {
        long m = magic.magic();
        long q = bits == 32 ? (n * m) >> 32 : Math.multiplyHigh(n, m);
        if (d > 0 && m < 0) q += n;
        if (d < 0 && m > 0) q -= n;
        if (bits == 32) q = (int) q;
        q >>= magic.shift();
        q += q >>> 63; // the sign bit of the estimate: round toward zero
        return bits == 32 ? (int) q : q;
    }

    /** The unsigned magic numbers (with the extra bit where one is needed) give the unsigned quotient. */
    @Test
    void unsignedMagicNumbersGiveTheUnsignedQuotient() {
        int added = 0;
        for (int bits : new int[] {32, 64}) {
            for (long d : divisors(bits)) {
                ConstantDivision.UnsignedMagic magic = ConstantDivision.unsignedMagic(d, bits);
                if (magic.add()) added++;
                for (long n : dividends(d, bits, true)) {
                    long expected = bits == 32 ? n / d : Long.divideUnsigned(n, d);
                    long t = bits == 32 ? (n * magic.magic()) >>> 32 : Math.unsignedMultiplyHigh(n, magic.magic());
                    long q = magic.add() ? ((n - t) >>> 1) + t >>> magic.shift() - 1 : t >>> magic.shift();
                    assertEquals(expected, q, bits + "-bit unsigned " + Long.toUnsignedString(n) + " / " + d);
                }
            }
        }
        assertTrue(added > 0, "some divisors (7 among them) need the 33rd bit");
        assertTrue(ConstantDivision.unsignedMagic(7, 32).add());
    }

    /**
     * Every kind of division by a constant the translator meets, of any int, of longs, and of a thread index (the
     * unsigned form): 20 quotients and remainders per dividend.
     */
    static void divisions(KernelContext ctx, I32Buffer in, I32Buffer out, int n) {
        int t = ctx.globalId();
        if (t >= n) return;
        int x = in.get(t);
        long y = (long) in.get(t) << 32 | in.get(t + 1 < n ? t + 1 : 0) & 0xFFFFFFFFL;
        long o = 24L * t;
        out.set(o, x / 7);
        out.set(o + 1, x % 7);
        out.set(o + 2, x / -7);
        out.set(o + 3, x % -7);
        out.set(o + 4, x / 10);
        out.set(o + 5, x % 1000);
        out.set(o + 6, x / 641);
        out.set(o + 7, x / Integer.MAX_VALUE);
        out.set(o + 8, x % Integer.MAX_VALUE);
        out.set(o + 9, x / Integer.MIN_VALUE + 3 * (x % Integer.MIN_VALUE == x ? 1 : 0));
        out.set(o + 10, x / -1 + x % -1 + x / 1 + x % 1);
        out.set(o + 11, x / -8 + x % -8 * 100);
        out.set(o + 12, ctx.localId() / 3 + ctx.localId() % 12 * 1000 + ctx.globalId() / 96 * 100000);
        out.set(o + 13, x / 6 * 6 + x % 6 - x); // 0: quotient and remainder agree
        long q = y / 1_000_000_007L, r = y % -3, s = y / Long.MIN_VALUE, u = y / 12;
        out.set(o + 14, (int) q);
        out.set(o + 15, (int) (q >>> 32));
        out.set(o + 16, (int) r);
        out.set(o + 17, (int) s);
        out.set(o + 18, (int) u);
        out.set(o + 19, (int) (u >>> 32));
        out.set(o + 20, (int) (y % 1000));
        out.set(o + 21, (int) (y / -7 >>> 32));
        out.set(o + 22, (int) (y / 2));
        out.set(o + 23, (int) (y % 4096));
    }

    @Test
    void divisionsByConstantsKeepJavasSemanticsAsPtx() throws Exception {
        List<Integer> xs = new ArrayList<>(IntStream.rangeClosed(-300, 300).boxed().toList());
        for (int v : new int[] {Integer.MIN_VALUE, Integer.MIN_VALUE + 1, Integer.MIN_VALUE + 6, Integer.MAX_VALUE, Integer.MAX_VALUE - 1,
                Integer.MAX_VALUE / 7 * 7, Integer.MAX_VALUE / 7 * 7 - 1, Integer.MIN_VALUE / 7 * 7, Integer.MIN_VALUE / 7 * 7 + 1, 1 << 30, -(1 << 30)}) {
            xs.add(v);
        }
        for (int i = 0; i < 120; i++) xs.add(random.nextInt());
        int n = xs.size();
        I32Buffer in = I32Buffer.of(arena, xs.stream().mapToInt(Integer::intValue).toArray());
        I32Buffer expected = I32Buffer.allocate(arena, 24L * n), actual = I32Buffer.allocate(arena, 24L * n);
        Grid grid = Grid.covering(n, 96);
        Emulator.launch(ConstantDivisionTest.class, "divisions", grid, in, expected, n);
        String ptx = PtxCompiler.compile(ConstantDivisionTest.class, "divisions").ptx();
        new PtxInterpreter(ptx).launch(grid, in.memory(), actual.memory(), n);
        for (long i = 0; i < expected.length(); i++) {
            assertEquals(expected.get(i), actual.get(i), "output " + i % 24 + " of dividend " + xs.get((int) (i / 24)));
        }
        for (int t = 0; t < n; t++) { // and the emulator against Java itself, on a few
            int x = xs.get(t);
            assertEquals(x / 7, expected.get(24L * t));
            assertEquals(x % -7, expected.get(24L * t + 3));
            assertEquals(0, expected.get(24L * t + 13));
        }
        assertFalse(ptx.matches("(?s).*\\b(div|rem)\\.[su](32|64).*"), "no integer division left:\n" + ptx);
        assertTrue(ptx.contains("mul.hi.u32"), "a thread index divided unsigned:\n" + ptx);

        // a magic number one too small is caught (x / 7 of 7 gives 0)
        long magic7 = ConstantDivision.signedMagic(7, 32).magic();
        assertTrue(ptx.contains(", " + magic7 + ";"), ptx);
        I32Buffer wrong = I32Buffer.allocate(arena, 24L * n);
        new PtxInterpreter(ptx.replace(", " + magic7 + ";", ", " + (magic7 - 1) + ";")).launch(grid, in.memory(), wrong.memory(), n);
        int differences = 0;
        for (long i = 0; i < expected.length(); i++) if (expected.get(i) != wrong.get(i)) differences++;
        assertTrue(differences > 0, "a wrong magic number must be caught");

        if (Ptxas.available()) {
            Path work = Files.createTempDirectory("moa-division-");
            for (String target : new String[] {"sm_80", "sm_90"}) assertEquals(0, Ptxas.assemble(ptx, target, work).spillStores(), target);
            try (var files = Files.list(work)) {
                for (Path f : files.toList()) Files.delete(f);
            }
            Files.delete(work);
        }
    }

    static void byConstant(KernelContext ctx, I32Buffer in, I32Buffer out, int d) {
        int t = ctx.globalId();
        out.set(t, in.get(t) / 7 + in.get(t) % 10);
    }

    static void byParameter(KernelContext ctx, I32Buffer in, I32Buffer out, int d) {
        int t = ctx.globalId();
        out.set(t, in.get(t) / d + in.get(t) % (d + 3));
    }

    /** ptxas's code for a division and a remainder by constants is shorter than for the same by a run-time value. */
    @Test
    void aDivisionByAConstantTakesFewerInstructionsThanByAValue() throws Exception {
        if (!Ptxas.available()) return;
        Path work = Files.createTempDirectory("moa-division-sass-");
        try {
            int constant = Ptxas.assemble(PtxCompiler.compile(ConstantDivisionTest.class, "byConstant", "sm_90").ptx(), "sm_90", work)
                    .code().get("byConstant").instructions();
            int value = Ptxas.assemble(PtxCompiler.compile(ConstantDivisionTest.class, "byParameter", "sm_90").ptx(), "sm_90", work)
                    .code().get("byParameter").instructions();
            assertTrue(2 * constant < value, "by constants " + constant + " SASS instructions, by values " + value);
        } finally {
            try (var files = Files.list(work)) {
                for (Path f : files.toList()) Files.delete(f);
            }
            Files.delete(work);
        }
    }
}
