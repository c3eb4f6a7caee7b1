package dev.moa.tasks.jit;

import dev.moa.tasks.jit.PtxCompiler.Kind;
import dev.moa.tasks.jit.PtxCompiler.Translator.Frame;
import dev.moa.tasks.jit.PtxCompiler.Value;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;

/** The calls a kernel may make, and the PTX each one becomes. */
final class Intrinsics {
    private static final String FULL_MASK = "0xffffffff";

    private Intrinsics() {
    }

    /** {@link dev.moa.tasks.kernel.KernelContext} methods (the receiver or nothing is on the stack below the arguments). */
    static void context(Frame f, String name, MethodTypeDesc type) {
        var t = f.translator();
        switch (name) {
            case "localId" -> {
                f.popValue();
                t.emit("mov.u32", f.push(Value.nonNegativeInt()), "%tid.x");
            }
            case "groupSize" -> {
                f.popValue();
                t.emit("mov.u32", f.push(Value.nonNegativeInt()), "%ntid.x");
            }
            case "groupId", "groups" -> {
                Value dim = f.popValue();
                f.popValue();
                if (dim.constant() == null || dim.constant() < 0 || dim.constant() > 2) {
                    throw f.error(name + "(dimension) needs a constant dimension 0, 1 or 2");
                }
                String axis = "xyz".substring(dim.constant().intValue(), dim.constant().intValue() + 1);
                t.emit("mov.u32", f.push(Value.nonNegativeInt()), "%" + (name.equals("groupId") ? "ctaid." : "nctaid.") + axis);
            }
            case "globalId" -> {
                f.popValue();
                String group = t.temp(".u32"), size = t.temp(".u32"), local = t.temp(".u32");
                t.emit("mov.u32", group, "%ctaid.x");
                t.emit("mov.u32", size, "%ntid.x");
                t.emit("mov.u32", local, "%tid.x");
                t.emit("mad.lo.s32", f.push(Kind.INT), group, size, local);
            }
            case "laneId" -> {
                f.popValue();
                String local = t.temp(".u32");
                t.emit("mov.u32", local, "%tid.x");
                t.emit("and.b32", f.push(Value.nonNegativeInt()), local, "31");
            }
            case "barrier" -> {
                f.popValue();
                t.emit("bar.sync", "0");
            }
            case "awaitPriorKernels" -> { // programmatic dependent launch exists from sm_90 on; before, launches serialise anyway
                f.popValue();
                if (PtxCompiler.gridDependencies(t.target)) {
                    t.emit("griddepcontrol.wait");
                    t.emit("griddepcontrol.launch_dependents"); // only after the wait: the next kernel overlaps this one alone
                }
            }
            case "prefetchL2" -> { // (buffer, index): a hint, useful only while the kernel overlaps the previous one
                String index = f.pop(), buffer = f.pop();
                f.popValue();
                int bytes = type.parameterType(0).displayName().equals("F32Buffer") ? 4 : 2;
                if (PtxCompiler.gridDependencies(t.target)) t.emit("prefetch.global.L2", "[" + address(f, buffer, index, bytes) + "]");
            }
            case "fence" -> {
                f.popValue();
                t.emit("membar.gl");
            }
            case "mmaBf16" -> { // (a, b0, b1, acc) -> d; mma wants .b32 fragments and .f32 accumulators, so values pass through typed temps
                String acc = f.pop(), b1 = f.pop(), b0 = f.pop(), a = f.pop();
                f.popValue();
                String[] c = new String[4], d = new String[4];
                for (int i = 0; i < 4; i++) {
                    c[i] = t.temp(".f32");
                    d[i] = t.temp(".f32");
                    t.emit("mov.b32", c[i], acc + "_" + i);
                }
                String[] b = {t.temp(".b32"), t.temp(".b32")}; // B's words arrive as ints: .b32 registers, as mma wants
                t.emit("mov.b32", b[0], b0);
                t.emit("mov.b32", b[1], b1);
                t.emit("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", "{" + String.join(", ", d) + "}", "{" + a + "_0, " + a + "_1, " + a + "_2, " + a + "_3}", "{" + b[0] + ", " + b[1] + "}", "{" + String.join(", ", c) + "}");
                String v = f.push(Kind.VEC);
                for (int i = 0; i < 4; i++) t.emit("mov.b32", v + "_" + i, d[i]);
            }
            case "loadMatrix" -> { // (shared, index) -> four fragment words
                String index = f.pop(), array = f.pop();
                f.popValue();
                String address = f.sharedAddress(array, index);
                String v = f.push(Kind.VEC);
                t.emit("ldmatrix.sync.aligned.m8n8.x4.shared.b16", "{" + v + "_0, " + v + "_1, " + v + "_2, " + v + "_3}", "[" + address + "]");
            }
            case "loadMatrixTransposed" -> { // (shared, index) -> four fragment words, each 8x8 matrix transposed
                String index = f.pop(), array = f.pop();
                f.popValue();
                String address = f.sharedAddress(array, index);
                String v = f.push(Kind.VEC);
                t.emit("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16", "{" + v + "_0, " + v + "_1, " + v + "_2, " + v + "_3}", "[" + address + "]");
            }
            case "copyAsync" -> { // (shared, index, source, sourceIndex[, inside]): 16 bytes global -> shared, asynchronous
                String inside = type.parameterCount() == 5 ? f.pop() : null;
                String sourceIndex = f.pop(), source = f.pop(), index = f.pop(), array = f.pop();
                f.popValue();
                String destination = f.sharedAddress(array, index);
                int size = type.parameterList().get(2).equals(PtxCompiler.F32) ? 4 : 2; // floats or 16-bit elements
                String from = "[" + address(f, source, sourceIndex, size) + "]";
                if (inside == null) {
                    t.emit("cp.async.cg.shared.global", "[" + destination + "]", from, 16);
                } else { // the bytes read: 16 inside (a boolean is 0 or 1), else 0, and the copy zero-fills the rest
                    String bytes = t.temp(".u32");
                    t.emit("shl.b32", bytes, inside, 4);
                    t.emit("cp.async.cg.shared.global", "[" + destination + "]", from, 16, bytes);
                }
            }
            case "commitCopies" -> {
                f.popValue();
                t.emit("cp.async.commit_group");
            }
            case "waitCopies" -> {
                Value pending = f.popValue();
                f.popValue();
                if (pending.constant() == null || pending.constant() < 0 || pending.constant() > 7) {
                    throw f.error("waitCopies(pending) needs a constant 0..7");
                }
                t.emit("cp.async.wait_group", pending.constant());
            }
            case "shuffleXor", "shuffleDown" -> {
                String lane = f.pop();
                Value v = f.peekValue();
                String value = f.pop();
                f.popValue();
                String mode = name.equals("shuffleXor") ? "bfly" : "down";
                String dst = f.push(v.kind());
                t.emit("shfl.sync." + mode + ".b32", dst, value, lane, "31", FULL_MASK);
            }
            case "warpSum", "warpMax" -> { // the butterfly KernelContext's Java body describes, five shuffles deep
                String value = f.pop();
                f.popValue();
                String acc = t.temp(".f32"), other = t.temp(".f32");
                t.emit("mov.f32", acc, value);
                for (int mask = 16; mask > 0; mask >>= 1) {
                    t.emit("shfl.sync.bfly.b32", other, acc, mask, 31, FULL_MASK);
                    t.emit(name.equals("warpSum") ? "add.f32" : "max.NaN.f32", acc, acc, other);
                }
                t.emit("mov.f32", f.push(Kind.FLOAT), acc);
            }
            case "sharedDynamicF32", "sharedDynamicI32" -> { // carved from the launch's dynamic shared memory in call order
                Value length = f.peekValue();
                String words = f.pop();
                f.popValue();
                if (t.dynamicEnd == null) { // the first: the memory starts there, set where every path passes
                    t.sharedDecls.add(".extern .shared .align 16 .b8 moa_dynamic[];");
                    t.dynamicEnd = t.temp(".u32");
                    t.code.add(t.prologue, PtxInstruction.of(null, "mov.u32", t.dynamicEnd, "moa_dynamic"));
                }
                t.emit("mov.u32", f.push(Kind.SHARED), t.dynamicEnd);
                // the next one starts past this one's 4·length bytes, rounded up to 16
                if (length.constant() != null) {
                    t.emit("add.u32", t.dynamicEnd, t.dynamicEnd, (4 * length.constant() + 15) & ~15L);
                } else {
                    String bytes = t.temp(".u32");
                    t.emit("shl.b32", bytes, words, 2);
                    t.emit("add.u32", bytes, bytes, 15);
                    t.emit("and.b32", bytes, bytes, -16);
                    t.emit("add.u32", t.dynamicEnd, t.dynamicEnd, bytes);
                }
            }
            case "sharedF32", "sharedI32" -> {
                Value length = f.popValue();
                f.popValue();
                if (length.constant() == null || length.constant() < 1 || length.constant() > 12288) {
                    throw f.error(name + "(length) needs a constant length 1..12288");
                }
                String array = "shared" + t.shared++;
                t.sharedDecls.add(".shared .align 16 " + (name.equals("sharedF32") ? ".f32 " : ".s32 ") + array + "[" + length.constant() + "];");
                t.emit("mov.u32", f.push(Kind.SHARED), array);
            }
            case "atomicAdd", "atomicMax" -> {
                Value v = f.peekValue();
                String value = f.pop();
                String index = f.pop();
                Value buffer = f.peekValue();
                String base = f.pop();
                f.popValue();
                t.written.add(buffer.origin());
                String address = address(f, base, index, 4);
                String op = name.equals("atomicMax") ? "max.s32" : v.kind() == Kind.FLOAT ? "add.f32" : "add.u32";
                t.emit("atom.global." + op, f.push(v.kind()), "[" + address + "]", value);
            }
            case "bf16ToFloat" -> {
                String bits = f.pop();
                String wide = t.temp(".b32");
                t.emit("shl.b32", wide, bits, "16");
                t.emit("mov.b32", f.push(Kind.FLOAT), wide);
            }
            case "f16ToFloat" -> {
                String bits = f.pop();
                String half = t.temp(".b16");
                t.emit("cvt.u16.u32", half, bits);
                t.emit("cvt.f32.f16", f.push(Kind.FLOAT), half);
            }
            case "packBf16" -> { // (lo, hi): cvt.rn.bf16x2.f32 puts its first source in the upper half
                String hi = f.pop(), lo = f.pop();
                String packed = t.temp(".b32");
                t.emit("cvt.rn.bf16x2.f32", packed, hi, lo);
                t.emit("mov.b32", f.push(Kind.INT), packed);
            }
            case "floatToBf16", "floatToF16" -> {
                String x = f.pop();
                String half = t.temp(".b16");
                t.emit("cvt.rn." + (name.equals("floatToBf16") ? "bf16" : "f16") + ".f32", half, x);
                t.emit("cvt.s32.s16", f.push(Kind.INT), half);
            }
            case "rsqrt" -> {
                String x = f.pop();
                t.emit("rsqrt.approx.ftz.f32", f.push(Kind.FLOAT), x);
            }
            case "exp2" -> {
                String x = f.pop();
                t.emit("ex2.approx.ftz.f32", f.push(Kind.FLOAT), x);
            }
            case "load4" -> { // static: (shared float[], index) -> four floats in one ld.shared.v4
                String index = f.pop(), array = f.pop();
                String address = f.sharedAddress(array, index);
                String v = f.push(Kind.VEC);
                t.emit("ld.shared.v4.b32", "{" + v + "_0, " + v + "_1, " + v + "_2, " + v + "_3}", "[" + address + "]");
            }
            case "store4" -> { // static: (shared float[], index, four floats) in one st.shared.v4
                String v = f.pop(), index = f.pop(), array = f.pop();
                String address = f.sharedAddress(array, index);
                t.emit("st.shared.v4.b32", "[" + address + "]", "{" + v + "_0, " + v + "_1, " + v + "_2, " + v + "_3}");
            }
            case "unroll" -> {
                Value factor = f.popValue();
                if (factor.constant() == null || factor.constant() < 1 || factor.constant() > 32) {
                    throw f.error("unroll(n) needs a constant n from 1 to 32");
                }
                f.pendingUnroll = factor.constant().intValue();
            }
            default -> throw f.error("KernelContext." + name);
        }
    }

    /** get / set / length of F32Buffer, I32Buffer and Half16Buffer. */
    static void buffer(Frame f, ClassDesc owner, String name, MethodTypeDesc type) {
        var t = f.translator();
        int size = owner.equals(PtxCompiler.HALF) ? 2 : owner.equals(PtxCompiler.I8) ? 1 : 4;
        String memType = owner.equals(PtxCompiler.F32) ? ".f32" : owner.equals(PtxCompiler.I32) ? ".s32"
                : owner.equals(PtxCompiler.I8) ? ".s8" : ".s16";
        Kind kind = owner.equals(PtxCompiler.F32) ? Kind.FLOAT : Kind.INT;
        switch (name) {
            case "get" -> {
                String index = f.pop();
                Value buffer = f.peekValue();
                String base = f.pop();
                String address = address(f, base, index, size);
                t.emitLoad(buffer.origin(), "ld.global" + memType, f.push(kind), "[" + address + "]");
            }
            case "load8", "load8Once", "load4" -> {
                boolean half = owner.equals(PtxCompiler.HALF);
                if (!half && !(owner.equals(PtxCompiler.F32) && name.equals("load4"))) throw f.error(owner.displayName() + "." + name);
                String index = f.pop();
                Value buffer = f.peekValue();
                String base = f.pop();
                String address = address(f, base, index, size);
                String v = f.push(Kind.VEC);
                if (half && name.equals("load4")) { // four 16-bit elements: 8 bytes, the vector's upper words zero
                    t.emitLoad(buffer.origin(), "ld.global.v2.b32", "{" + v + "_0, " + v + "_1}", "[" + address + "]");
                    t.emit("mov.b32", v + "_2", 0);
                    t.emit("mov.b32", v + "_3", 0);
                } else { // (read once: not allocated in L1, which keeps what is read again; ReadOnlyLoads makes it .nc where it may)
                    String opcode = name.equals("load8Once") ? "ld.global.L1::no_allocate.v4.b32" : "ld.global.v4.b32";
                    t.emitLoad(buffer.origin(), opcode, "{" + v + "_0, " + v + "_1, " + v + "_2, " + v + "_3}", "[" + address + "]");
                }
            }
            case "set" -> {
                String value = f.pop();
                String index = f.pop();
                Value buffer = f.peekValue();
                String base = f.pop();
                if (buffer.origin() < 0) throw f.error("writing a buffer whose parameter cannot be traced");
                t.written.add(buffer.origin());
                String address = address(f, base, index, size);
                String storeType = switch (memType) {
                    case ".s16" -> ".b16";
                    case ".s8" -> ".b8";
                    default -> memType;
                };
                t.emit("st.global" + storeType, "[" + address + "]", value);
            }
            default -> throw f.error(owner.displayName() + "." + name + " (kernels use get and set)");
        }
    }

    /** Accessors of a 16-byte vector held in four word registers; the element index must be a constant. */
    static void vector(Frame f, String name, MethodTypeDesc type) {
        var t = f.translator();
        if (name.equals("ofFloats") || name.equals("ofWords")) { // four values into one vector's four registers
            String[] w = new String[4];
            for (int i = 3; i >= 0; i--) w[i] = f.pop();
            String v = f.push(Kind.VEC);
            for (int i = 0; i < 4; i++) t.emit("mov.b32", v + "_" + i, w[i]);
            return;
        }
        if (type.parameterCount() != 1) throw f.error("Vec16." + name);
        Value index = f.popValue();
        String v = f.pop();
        if (index.constant() == null) throw f.error("Vec16." + name + "(k) needs a constant element index");
        int k = index.constant().intValue();
        int limit = name.equals("bf16") || name.equals("f16") ? 8 : 4;
        if (k < 0 || k >= limit) throw f.error("Vec16." + name + "(" + k + "): index outside 0.." + (limit - 1));
        switch (name) {
            case "word" -> t.emit("mov.b32", f.push(Kind.INT), v + "_" + k);
            case "f32" -> t.emit("mov.b32", f.push(Kind.FLOAT), v + "_" + k);
            case "bf16" -> {
                String bits = t.temp(".b32");
                String word = v + "_" + (k >> 1);
                if ((k & 1) == 0) t.emit("shl.b32", bits, word, 16);
                else t.emit("and.b32", bits, word, -65536);
                t.emit("mov.b32", f.push(Kind.FLOAT), bits);
            }
            case "f16" -> {
                String word = v + "_" + (k >> 1);
                String half = t.temp(".b16");
                if ((k & 1) == 0) {
                    t.emit("cvt.u16.u32", half, word);
                } else {
                    String high = t.temp(".b32");
                    t.emit("shr.u32", high, word, "16");
                    t.emit("cvt.u16.u32", half, high);
                }
                t.emit("cvt.f32.f16", f.push(Kind.FLOAT), half);
            }
            default -> throw f.error("Vec16." + name);
        }
    }

    /** Byte address {@code base + index * size} with a 64-bit index. */
    private static String address(Frame f, String base, String index, int size) {
        var t = f.translator();
        String offset = t.temp(".u64"), address = t.temp(".u64");
        if (size == 1) {
            t.emit("add.s64", address, base, index);
            return address;
        }
        t.emit("shl.b64", offset, index, Integer.numberOfTrailingZeros(size));
        t.emit("add.s64", address, base, offset);
        return address;
    }

    /** java.lang.Math functions on float (double arguments are computed in single precision). */
    static void math(Frame f, String name, MethodTypeDesc type) {
        var t = f.translator();
        String ret = type.returnType().descriptorString();
        switch (name + ret) {
            case "expD", "expF" -> {
                String x = f.pop();
                String scaled = t.temp(".f32");
                t.emit("mul.f32", scaled, x, "0f3FB8AA3B"); // log2(e)
                t.emit("ex2.approx.f32", f.push(Kind.FLOAT), scaled);
            }
            case "logD" -> {
                String x = f.pop();
                String log2 = t.temp(".f32");
                t.emit("lg2.approx.f32", log2, x);
                t.emit("mul.f32", f.push(Kind.FLOAT), log2, "0f3F317218"); // ln(2)
            }
            case "sqrtD" -> {
                String x = f.pop();
                t.emit("sqrt.rn.f32", f.push(Kind.FLOAT), x);
            }
            case "tanhD" -> {
                String x = f.pop();
                t.emit("tanh.approx.f32", f.push(Kind.FLOAT), x);
            }
            case "absF" -> {
                String x = f.pop();
                t.emit("abs.f32", f.push(Kind.FLOAT), x);
            }
            case "absI" -> {
                String x = f.pop();
                t.emit("abs.s32", f.push(Kind.INT), x);
            }
            case "maxF", "minF" -> {
                String b = f.pop(), a = f.pop();
                t.emit(name + ".NaN.f32", f.push(Kind.FLOAT), a, b);
            }
            case "maxI", "minI" -> {
                String b = f.pop(), a = f.pop();
                t.emit(name + ".s32", f.push(Kind.INT), a, b);
            }
            case "maxJ", "minJ" -> {
                String b = f.pop(), a = f.pop();
                t.emit(name + ".s64", f.push(Kind.LONG), a, b);
            }
            case "fmaF" -> {
                String c = f.pop(), b = f.pop(), a = f.pop();
                t.emit("fma.rn.f32", f.push(Kind.FLOAT), a, b, c);
            }
            default -> throw f.error("Math." + name + type.descriptorString());
        }
    }

    /** Float.floatToRawIntBits / intBitsToFloat: register moves. */
    static void floats(Frame f, String name, MethodTypeDesc type) {
        var t = f.translator();
        switch (name) {
            case "floatToRawIntBits" -> {
                String x = f.pop();
                t.emit("mov.b32", f.push(Kind.INT), x);
            }
            case "intBitsToFloat" -> {
                String x = f.pop();
                t.emit("mov.b32", f.push(Kind.FLOAT), x);
            }
            default -> throw f.error("Float." + name);
        }
    }
}
