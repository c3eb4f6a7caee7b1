package dev.moa.tasks.jit;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.CodeElement;
import java.lang.classfile.CodeModel;
import java.lang.classfile.Instruction;
import java.lang.classfile.Label;
import java.lang.classfile.MethodModel;
import java.lang.classfile.Opcode;
import java.lang.classfile.instruction.BranchInstruction;
import java.lang.classfile.instruction.ConstantInstruction;
import java.lang.classfile.instruction.ConvertInstruction;
import java.lang.classfile.instruction.IncrementInstruction;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.classfile.instruction.LabelTarget;
import java.lang.classfile.instruction.LineNumber;
import java.lang.classfile.instruction.LoadInstruction;
import java.lang.classfile.instruction.OperatorInstruction;
import java.lang.classfile.instruction.ReturnInstruction;
import java.lang.classfile.instruction.StackInstruction;
import java.lang.classfile.instruction.StoreInstruction;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Translates a kernel's bytecode (a {@code static void} method whose first parameter is a
 * {@link dev.moa.tasks.kernel.KernelContext}) into a PTX ISA 8.0 module with one {@code .entry}.
 *
 * <p>How, in three steps: the {@link Translator} turns bytecode into {@link PtxInstruction}s (typed operands, no
 * text); passes rewrite that list ({@link ConstantDivision}: integer division and remainder by a constant become a
 * multiply-high or a shift; {@link ReadOnlyLoads}: loads of buffers the kernel never writes become
 * {@code ld.global.nc}; {@link CopyPropagation}: the stack-to-register moves read through and dead code dropped; {@link SelectConversion}:
 * a value chosen by a branch diamond becomes a {@code selp});
 * {@link PtxPrinter} prints the module. Translation: basic blocks become labels and {@code bra}; operand-stack slot
 * d of kind k is register {@code %<frame>_<k>S<d>} and local slot n of kind k is {@code %<frame>_<k>L<n>}, so
 * control-flow joins need no moves and no SSA construction. Static helpers are inlined (each call gets a fresh
 * register frame); kernel-context methods, buffer accesses and {@code Math} functions are intrinsics. Loops the
 * kernel marks are unrolled, loops of at most {@value #AUTO_UNROLL} iterations known at compile time are unrolled
 * whole (their counter a constant in each copy, as a helper's parameter is where every call passes one and the
 * helper never writes it: {@code Frame.constantLocals}; a test of such constants is decided there and then, so only
 * the taken path is translated: {@code Frame.decided}), counted loops get 64-bit counters ({@code Frame.unroll},
 * {@code Frame.widenedLoop}); those work on bytecode, during translation. Integer division and remainder by a
 * constant leave the translator as {@code div}/{@code rem} by an immediate, which {@link ConstantDivision} rewrites.
 * Java semantics kept: masked shift counts, saturating float→int ({@code cvt.rzi}),
 * NaN-propagating {@code Math.min/max} ({@code min/max.NaN.f32}), NaN-aware comparisons (ordered / unordered
 * {@code setp}). Doubles are computed in single precision (kernels cast {@code Math.exp} results to float anyway).
 *
 * <p>Emitted instructions: ld.param, cvta.to.global, mov, add, sub, mul.lo, mul.hi, mad.lo, div, rem, neg, abs,
 * and, or, xor, not, shl, shr, cvt, setp, selp, bra, ld.global(.nc), st.global, ld.shared, st.shared,
 * ld.global(.nc).v4.b32, atom.global.add/max, bar.sync, shfl.sync.bfly/down, ex2.approx, lg2.approx, sqrt.rn, rsqrt.approx,
 * tanh.approx, min/max(.NaN), fma.rn, ret.
 *
 * <p>Rejected at compile time, with class, method, source line and the construct: objects and allocation,
 * fields, exceptions, monitors, recursion, unknown calls, {@code invokedynamic}, {@code frem}, switches.
 */
public final class PtxCompiler {
    public static final String DEFAULT_TARGET = "sm_80";
    /**
     * Loops whose trip count is a constant of at most this many iterations, with a body of at most
     * {@link #AUTO_UNROLL_BODY} bytecode elements, are unrolled whole without a hint (as nvcc does with small
     * constant loops): no counter, no test, and a constant index for what needs one ({@code Vec16.f32(i)}).
     */
    static final int AUTO_UNROLL = 8;
    static final int AUTO_UNROLL_BODY = 96;
    static final ClassDesc CONTEXT = ClassDesc.of("dev.moa.tasks.kernel.KernelContext");
    static final ClassDesc F32 = ClassDesc.of("dev.moa.tasks.kernel.F32Buffer");
    static final ClassDesc I32 = ClassDesc.of("dev.moa.tasks.kernel.I32Buffer");
    static final ClassDesc HALF = ClassDesc.of("dev.moa.tasks.kernel.Half16Buffer");
    static final ClassDesc I8 = ClassDesc.of("dev.moa.tasks.kernel.I8Buffer");
    static final ClassDesc VEC16 = ClassDesc.of("dev.moa.tasks.kernel.Vec16");

    /**
     * A compiled kernel: its PTX text, entry name, the launch parameters after the context, and the classes whose
     * bytecode it was translated from (the kernel's and its inlined helpers', for cache validation).
     */
    public record Kernel(String entry, String target, String ptx, List<Param> params, List<String> sources) {
    }

    /** One launch parameter: its Java type and whether the kernel writes it (buffers only). */
    public record Param(String name, ClassDesc type, boolean written) {
    }

    private PtxCompiler() {
    }

    public static Kernel compile(Class<?> owner, String method) {
        return compile(owner, method, DEFAULT_TARGET);
    }

    /**
     * Whether {@code target} (sm_80 … sm_90) has grid dependency control, so that {@code KernelContext.awaitPriorKernels}
     * compiles to a wait and kernels may overlap their predecessors: Hopper on.
     */
    public static boolean gridDependencies(String target) {
        return Integer.parseInt(target.substring(3)) >= 90;
    }

    public static Kernel compile(Class<?> owner, String method, String target) {
        return compile(owner, method, target, Specialization.NONE);
    }

    /** The variant of the kernel in which its {@link dev.moa.tasks.kernel.Specialize} parameters are {@code fixed}'s constants. */
    public static Kernel compile(Class<?> owner, String method, String target, Specialization fixed) {
        if (!target.matches("sm_(80|86|87|89|90)")) throw new IllegalArgumentException("unsupported target " + target + " (sm_80 .. sm_90)");
        MethodModel m = kernelMethod(load(owner), owner, method);
        Translator t = new Translator(owner, m, target, fixed).translate();
        List<PtxLine> code = ConstantDivision.apply(t.code, t.registers);
        code = ReadOnlyLoads.apply(code, t.written);
        // the jumps the translator ends inlined helpers with go first, then the branch diamonds become selects (whole
        // diamonds only once those are gone), then propagation reads through the longer blocks that leaves
        code = SelectConversion.apply(CopyPropagation.withoutUnusedLabels(CopyPropagation.withoutJumpsToNext(code)));
        code = CopyPropagation.apply(code, t.registers);
        // a variant says what it was compiled for: for people, and for the launch check (PtxEntry.FIXED); and which
        // buffers it reads through the non-coherent cache and which it writes, for the check that none is both (PtxEntry.BUFFERS)
        List<String> notes = new ArrayList<>();
        if (!fixed.isEmpty()) notes.addAll(List.of("// specialized: " + fixed.describe(owner, method), fixed.header()));
        notes.add(buffersHeader(t.params()));
        return new Kernel(method, target, PtxPrinter.module(t.owner.getName() + "." + method, notes, method, target, t.params(),
                launchBounds(owner, method), t.sharedDecls, t.registers, code), t.params(), List.copyOf(t.sources));
    }

    /**
     * The header line of {@code PtxEntry.BUFFERS}: {@code // buffer arguments: read-only 0 1 4 written 3} (launch-argument
     * indices; every load from a buffer the kernel never writes is {@code ld.global.nc}, {@link ReadOnlyLoads}).
     */
    static String buffersHeader(List<Param> params) {
        StringBuilder readOnly = new StringBuilder(), written = new StringBuilder();
        for (int i = 0; i < params.size(); i++) {
            ClassDesc type = params.get(i).type();
            if (!type.equals(F32) && !type.equals(I32) && !type.equals(HALF) && !type.equals(I8)) continue;
            (params.get(i).written() ? written : readOnly).append(' ').append(i);
        }
        return dev.moa.tasks.cuda.PtxEntry.BUFFERS + " read-only" + readOnly + " written" + written;
    }

    /** The kernel's {@link dev.moa.tasks.kernel.LaunchBounds}, or null. */
    static dev.moa.tasks.kernel.LaunchBounds launchBounds(Class<?> owner, String method) {
        for (java.lang.reflect.Method m : owner.getDeclaredMethods()) {
            if (m.getName().equals(method) && m.isAnnotationPresent(dev.moa.tasks.kernel.LaunchBounds.class)) {
                return m.getAnnotation(dev.moa.tasks.kernel.LaunchBounds.class);
            }
        }
        return null;
    }

    static ClassModel load(Class<?> owner) {
        return ClassFile.of().parse(bytecode(owner));
    }

    /** The class file of {@code owner}, as its class loader has it. */
    static byte[] bytecode(Class<?> owner) {
        String resource = owner.getName().replace('.', '/') + ".class";
        ClassLoader loader = owner.getClassLoader() == null ? ClassLoader.getSystemClassLoader() : owner.getClassLoader();
        try (InputStream in = loader.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalArgumentException("cannot read the bytecode of " + owner.getName());
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static MethodModel kernelMethod(ClassModel model, Class<?> owner, String name) {
        for (MethodModel m : model.methods()) {
            MethodTypeDesc type = m.methodTypeSymbol();
            if (m.methodName().equalsString(name) && (m.flags().flagsMask() & ClassFile.ACC_STATIC) != 0
                    && type.parameterCount() > 0 && type.parameterType(0).equals(CONTEXT)) {
                if (!type.returnType().descriptorString().equals("V")) {
                    throw new KernelCompilationException(owner.getName() + "." + name + ": a kernel returns void");
                }
                return m;
            }
        }
        throw new IllegalArgumentException(owner.getName() + " has no static kernel method " + name + "(KernelContext, ...)");
    }

    /** Kind of a JVM value as the translator holds it. */
    enum Kind {
        INT('i', ".s32"), LONG('l', ".s64"), FLOAT('f', ".f32"), BUFFER('g', ".u64"), SHARED('s', ".u32"), VEC('v', ".b32"),
        CONTEXT('c', null);

        final char letter;
        final String ptxType;

        Kind(char letter, String ptxType) {
            this.letter = letter;
            this.ptxType = ptxType;
        }
    }

    /**
     * A stack entry: its kind, a known constant (or null), for buffers the parameter it came from, and for ints that
     * are a widened loop counter plus a constant, which ({@link Induction}).
     */
    record Value(Kind kind, Long constant, int origin, Comparison compare, Induction induction, boolean nonNegative) {
        Value(Kind kind) {
            this(kind, null, -1, null, null, false);
        }

        Value(Kind kind, Long constant, int origin, Comparison compare) {
            this(kind, constant, origin, compare, null, constant != null && constant >= 0);
        }

        Value(Kind kind, Long constant, int origin, Comparison compare, Induction induction) {
            this(kind, constant, origin, compare, induction, constant != null && constant >= 0);
        }

        /**
         * An int known to be ≥ 0 (a thread or group index, a non-negative constant, such an int masked or shifted
         * right): divided by a positive constant it is an unsigned division (no sign correction; a shift for a power
         * of two). Only stack values carry this; a local may be written on
         * another path (the translator does not merge facts at joins), so reading one forgets it.
         */
        static Value nonNegativeInt() {
            return new Value(Kind.INT, null, -1, null, null, true);
        }
    }

    /**
     * The result of {@code lcmp}/{@code fcmpl}/{@code fcmpg} (-1, 0, 1), which only ever feeds the next
     * {@code if<cond>}: kept as its operands, so the branch becomes one {@code setp} on them. {@code nanResult} is
     * what the JVM yields when a float operand is NaN ({@code fcmpg}: 1, {@code fcmpl}: -1).
     */
    record Comparison(String type, String a, String b, int nanResult) {
    }

    /** An int known to equal the counter in local {@code slot} plus {@code offset}, where that counter is widened. */
    record Induction(int slot, long offset) {
    }

    /**
     * A counted loop's counter kept in a 64-bit register beside its int one (see {@code Frame.widenedLoop}).
     * {@code maxOffset}: the largest k for which counter + k provably does not overflow inside the body.
     */
    record WideCounter(String register, long maxOffset) {
    }

    /** Translation of one kernel (and, recursively, its inlined helpers) into the JIT's instruction list. */
    static final class Translator {
        final Class<?> owner;
        final MethodModel kernel;
        final String target;
        /** Buffer parameters (by slot) the kernel writes: known once the whole kernel is translated. */
        final Set<Integer> written = new HashSet<>();
        final List<PtxLine> code = new ArrayList<>();
        /** Parameter slots, in parameter order (their written flags are known after translation). */
        final List<Integer> paramSlots = new ArrayList<>();
        final Map<String, String> registers = new LinkedHashMap<>();
        final List<String> sharedDecls = new ArrayList<>();
        final Deque<String> callStack = new ArrayDeque<>();
        final List<Param> params = new ArrayList<>();
        final Set<String> sources = new java.util.TreeSet<>();
        int temps, frames, labels, shared;
        /** Where the next dynamic shared array starts: a register from the first one on, null before. */
        String dynamicEnd;
        /** Where the kernel's parameter loads end: code placed here runs first, whatever path the kernel takes. */
        int prologue;

        /** The kernel parameters fixed as constants in this variant. */
        final Specialization fixed;

        Translator(Class<?> owner, MethodModel kernel, String target, Specialization fixed) {
            this.owner = owner;
            this.kernel = kernel;
            this.target = target;
            this.fixed = fixed;
        }

        Translator translate() {
            sources.add(owner.getName());
            Frame f = new Frame(owner, kernel, "k" + frames++);
            MethodTypeDesc type = kernel.methodTypeSymbol();
            int slot = 1;
            f.locals.put(0, new Value(Kind.CONTEXT));
            for (int i = 1; i < type.parameterCount(); i++) {
                ClassDesc p = type.parameterType(i);
                if (p.descriptorString().equals("D")) throw f.error("a double parameter (parameter " + i + "; pass a float)");
                Kind k = kindOf(p, f, "parameter " + i);
                String name = "p" + slot;
                String reg = f.local(slot, k);
                switch (k) {
                    case BUFFER -> {
                        emit("ld.param.u64", reg, "[" + name + "]");
                        emit("cvta.to.global.u64", reg, reg);
                        f.locals.put(slot, new Value(Kind.BUFFER, null, slot, null));
                    }
                    case INT -> emit("ld.param.s32", reg, "[" + name + "]");
                    case LONG -> emit("ld.param.s64", reg, "[" + name + "]");
                    case FLOAT -> emit("ld.param.f32", reg, "[" + name + "]");
                    default -> throw f.error("parameter type " + p.displayName());
                }
                if (k != Kind.BUFFER) f.locals.put(slot, new Value(k));
                Integer constant = fixed.valueOf(i - 1);
                if (constant != null) { // a @Specialize parameter: the launch's value, as a helper's constant argument is
                    if (k != Kind.INT) throw f.error("@Specialize on a non-int parameter (" + p.displayName() + ")");
                    if (Frame.writesParameter(kernel, slot)) throw f.error("assigning a @Specialize parameter (slot " + slot + ")");
                    f.constantLocals.put(slot, (long) constant);
                }
                params.add(new Param(name, p, false));
                paramSlots.add(k == Kind.BUFFER ? slot : -1);
                slot += p.descriptorString().equals("J") || p.descriptorString().equals("D") ? 2 : 1;
            }
            callStack.push(owner.getName() + "." + kernel.methodName().stringValue());
            prologue = code.size();
            f.run(null, null); // bytecode never falls off a method's end: its own return emits the final ret
            return this;
        }

        /** The launch parameters, buffers flagged when the kernel writes them. */
        List<Param> params() {
            List<Param> flagged = new ArrayList<>();
            for (int i = 0; i < params.size(); i++) {
                Param p = params.get(i);
                flagged.add(new Param(p.name(), p.type(), written.contains(paramSlots.get(i))));
            }
            return flagged;
        }

        /** dst = src for a value of kind k (a 16-byte vector is four word registers). */
        void move(Kind k, String dst, String src) {
            if (k == Kind.VEC) {
                for (int w = 0; w < 4; w++) emit("mov.b32", dst + "_" + w, src + "_" + w);
            } else {
                emit("mov" + movType(k), dst, src);
            }
        }

        void emit(String opcode, Object... operands) {
            code.add(PtxInstruction.of(null, opcode, operands));
        }

        void emitGuarded(String predicate, String opcode, Object... operands) {
            code.add(PtxInstruction.of(predicate, opcode, operands));
        }

        /** A global load through a buffer parameter ({@code slot}, -1 if untraced): ReadOnlyLoads decides on .nc. */
        void emitLoad(int slot, String opcode, Object... operands) {
            code.add(PtxInstruction.of(null, opcode, operands).withBuffer(slot));
        }

        void label(String name) {
            code.add(new PtxLine.Label(name));
        }

        String temp(String type) {
            String name = "%t" + temps++;
            registers.put(name, type);
            return name;
        }

        String register(String name, Kind kind) {
            if (kind == Kind.VEC) {
                for (int w = 0; w < 4; w++) registers.putIfAbsent(name + "_" + w, kind.ptxType);
            } else {
                registers.putIfAbsent(name, kind.ptxType);
            }
            return name;
        }

        Kind kindOf(ClassDesc d, Frame f, String what) {
            return switch (d.descriptorString()) {
                case "I", "S", "B", "C", "Z" -> Kind.INT;
                case "J" -> Kind.LONG;
                case "F", "D" -> Kind.FLOAT;
                case "[F", "[I" -> Kind.SHARED;
                default -> {
                    if (d.equals(F32) || d.equals(I32) || d.equals(HALF) || d.equals(I8)) yield Kind.BUFFER;
                    if (d.equals(VEC16)) yield Kind.VEC;
                    if (d.equals(CONTEXT)) yield Kind.CONTEXT;
                    throw f.error(what + " of type " + d.displayName() + " (kernels take buffers, int, long, float)");
                }
            };
        }

        /** One method body being translated: its register prefix, locals and operand stack. */
        final class Frame {
            final Class<?> cls;
            final MethodModel method;
            final String prefix;
            final Map<Integer, Value> locals = new HashMap<>();
            final List<Value> stack = new ArrayList<>();
            final Map<Label, List<Value>> stackAtLabel = new HashMap<>();
            final Map<Label, String> labelNames = new HashMap<>();
            int line = -1;
            boolean reachable = true;
            /** Copies of the next counted loop that {@code ctx.unroll(n)} asked for (0: none). */
            int pendingUnroll;
            /** While an unrolled copy of a loop body is translated: its own names for the body's labels. */
            Map<Label, String> copyLabels;
            /** Counters of the enclosing counted loops that are widened, by local slot. */
            final Map<Integer, WideCounter> wideCounters = new HashMap<>();
            /** The loop head being translated as the widened version (so that the head is not widened twice). */
            int wideningHead = -1;
            /** Above 0 while the fallback copy of a widened loop is translated: nothing in it is widened. */
            int narrowCopies;
            /**
             * Int locals whose value is known wherever this frame reads them: a helper's parameter that the call passed
             * a constant and the helper never writes, a local the method assigns once, a constant (a helper's value
             * when all its returns return the same constant counts), and a fully unrolled loop's counter inside each
             * copy. Reading one pushes the constant, so what needs one (a {@code Vec16} element index, a division's
             * power of two) gets it through helpers and unrolled loops.
             */
            final Map<Integer, Long> constantLocals = new HashMap<>();
            /** What this frame's returns so far returned when all were the same constant (else null), and how many there were. */
            Long returned;
            int returns;

            /** {@link #writtenOnce}'s answers by slot: the method's code is read once per slot, not at every store. */
            private final Map<Integer, Boolean> writtenOnce = new HashMap<>();

            /** Whether the method stores to local {@code slot} exactly once and never increments it. */
            boolean writtenOnce(int slot) {
                return writtenOnce.computeIfAbsent(slot, s -> {
                    int writes = 0;
                    for (CodeElement e : method.code().orElseThrow().elementList()) {
                        if (e instanceof StoreInstruction store && store.slot() == s) writes++;
                        if (e instanceof IncrementInstruction inc && inc.slot() == s) return false;
                    }
                    return writes == 1;
                });
            }
            /**
             * Labels that a branch further down jumps back to (loop heads). Code after an always-taken branch or a
             * return is not translated up to the next label something jumps to; these are reached from below, so they
             * count as jumped to before their jumps are seen.
             */
            final Set<Label> backwardTargets = new HashSet<>();

            Frame(Class<?> cls, MethodModel method, String prefix) {
                this.cls = cls;
                this.method = method;
                this.prefix = prefix;
            }

            Translator translator() {
                return Translator.this;
            }

            KernelCompilationException error(String construct) {
                return new KernelCompilationException(cls.getName() + "." + method.methodName().stringValue()
                        + (line >= 0 ? " (line " + line + ")" : "") + ": unsupported in a kernel: " + construct);
            }

            String local(int slot, Kind k) {
                return register("%" + prefix + "_" + k.letter + "L" + slot, k);
            }

            String stackReg(int depth, Kind k) {
                return register("%" + prefix + "_" + k.letter + "S" + depth, k);
            }

            String label(Label l) {
                if (copyLabels != null && copyLabels.containsKey(l)) return copyLabels.get(l);
                return labelNames.computeIfAbsent(l, x -> "$L_" + prefix + "_" + labels++);
            }

            /** Pushes a value of kind k, returning the register to write it to. */
            String push(Kind k) {
                return push(new Value(k));
            }

            String push(Value v) {
                stack.add(v);
                return v.kind() == Kind.CONTEXT ? null : stackReg(stack.size() - 1, v.kind());
            }

            Value peekValue() {
                return stack.get(stack.size() - 1);
            }

            /** Pops the top value, returning its register. */
            String pop() {
                Value v = stack.remove(stack.size() - 1);
                return v.kind() == Kind.CONTEXT ? null : stackReg(stack.size(), v.kind());
            }

            Value popValue() {
                return stack.remove(stack.size() - 1);
            }

            String regOf(int depthFromTop) {
                int d = stack.size() - 1 - depthFromTop;
                return stackReg(d, stack.get(d).kind());
            }

            /**
             * Translates the body; {@code result} is the caller's register for the return value and {@code end} the
             * label to jump to on return (both null for the kernel itself).
             */
            void run(String result, String end) {
                CodeModel code = method.code().orElseThrow(() -> error("a method without code"));
                List<CodeElement> elements = code.elementList();
                Map<Label, Integer> bound = new HashMap<>();
                for (int i = 0; i < elements.size(); i++) {
                    if (elements.get(i) instanceof LabelTarget lt) bound.put(lt.label(), i);
                    if (elements.get(i) instanceof BranchInstruction b && bound.containsKey(b.target())) backwardTargets.add(b.target());
                }
                translate(elements, 0, elements.size(), result, end);
                if (pendingUnroll > 1) throw error("unroll(" + pendingUnroll + ") with no loop after it");
            }

            /**
             * For a loop head met in dead code (after a decided test or a return) that only jumps from below reach: the
             * index of its last backward jump when nothing translated so far jumps into the loop, so that its entry
             * lay in the dead code and the whole loop is dead (its body reads locals whose stores were not
             * translated); -1 when something does (a loop entered at its bottom test by a jump from above).
             */
            int deadLoopEnd(List<CodeElement> elements, int head) {
                Label h = ((LabelTarget) elements.get(head)).label();
                int last = -1;
                for (int i = head + 1; i < elements.size(); i++) {
                    if (elements.get(i) instanceof BranchInstruction b && b.target() == h) last = i;
                }
                for (int i = head; i <= last; i++) {
                    if (elements.get(i) instanceof LabelTarget inner && stackAtLabel.containsKey(inner.label())) return -1;
                }
                return last;
            }

            /** Translates {@code elements[from, to)}; a pending unroll hint unrolls the first counted loop met. */
            void translate(List<CodeElement> elements, int from, int to, String result, String end) {
                for (int at = from; at < to; at++) {
                    switch (elements.get(at)) {
                        case LineNumber ln -> line = ln.line();
                        case LabelTarget lt -> {
                            if (!reachable && !stackAtLabel.containsKey(lt.label())) {
                                if (!backwardTargets.contains(lt.label())) continue; // nothing jumps here: still the dead code
                                int deadEnd = deadLoopEnd(elements, at); // a loop head: dead too when nothing from above enters it
                                if (deadEnd >= 0 && deadEnd < to) {
                                    at = deadEnd;
                                    continue;
                                }
                            }
                            if (pendingUnroll == 0 && reachable && stack.isEmpty() && CountedLoop.startsAt(elements, at)) {
                                CountedLoop loop = known(CountedLoop.tryAt(elements, at));
                                long trips = loop == null ? -1 : loop.constantTrips(elements, at);
                                if (trips >= 1 && trips <= AUTO_UNROLL && loop.backEdge() - loop.bodyStart() <= AUTO_UNROLL_BODY) {
                                    pendingUnroll = (int) trips; // a few iterations known at compile time: straight-line code
                                    at = unroll(elements, at, result, end);
                                    continue;
                                }
                            }
                            if (at != wideningHead && narrowCopies == 0 && reachable && stack.isEmpty() && CountedLoop.startsAt(elements, at)) {
                                CountedLoop loop = known(CountedLoop.tryAt(elements, at));
                                if (loop != null && widenable(elements, loop)) {
                                    at = widenedLoop(elements, at, loop, result, end);
                                    continue;
                                }
                            }
                            if (pendingUnroll > 1 && CountedLoop.startsAt(elements, at)) {
                                int next = unroll(elements, at, result, end);
                                if (next != at) { // fully unrolled: the loop itself is never entered
                                    at = next;
                                    continue;
                                }
                            }
                            List<Value> saved = stackAtLabel.get(lt.label());
                            if (saved != null) { // jumped to: the stack they carried, met by the fall-through's if any
                                List<Value> here = reachable ? join(saved, stack) : saved;
                                stack.clear();
                                stack.addAll(here);
                            }
                            reachable = true;
                            translator().label(label(lt.label()));
                        }
                        case Instruction i -> {
                            if (!reachable) continue;
                            instruction(i, result, end);
                        }
                        default -> {
                            // local variable tables, stack maps, exception tables (none allowed: see athrow)
                        }
                    }
                }
            }

            /**
             * Emits {@code pendingUnroll} back-to-back copies of a counted loop's body (each with its own labels),
             * repeated while {@code i + (N-1)·step} passes the loop test, in front of the loop itself, which then
             * runs the remaining iterations. The test is done in 64 bits so that it cannot overflow. Returns
             * {@code head}, where the loop's translation goes on. A loop whose trip count is a constant no larger
             * than N (constant start and limit) becomes that many copies with no test at all, the counter a known
             * constant in each ({@link #constantLocals}); then the loop itself is skipped: returns its back edge.
             */
            int unroll(List<CodeElement> elements, int head, String result, String end) {
                int factor = pendingUnroll;
                pendingUnroll = 0;
                CountedLoop loop;
                try {
                    loop = known(CountedLoop.at(elements, head));
                } catch (IllegalArgumentException e) {
                    throw error("unroll(" + factor + ") before a loop that is not for (int i = ...; i < limit; i += step): "
                            + e.getMessage());
                }
                if (!stack.isEmpty()) throw error("unroll(" + factor + ") before a loop entered with values on the stack");
                long trips = loop.constantTrips(elements, head);
                if (trips >= 0 && trips <= factor) {
                    // all iterations known: that many copies straight through, no test, each knowing its counter,
                    // then on past the loop, whose own code is never translated
                    long start = loop.constantStart(elements, head);
                    Map<Label, String> outer = copyLabels;
                    for (int copy = 0; copy < trips; copy++) {
                        copyLabels = freshNames(outer, loop.internal());
                        constantLocals.put(loop.counter(), start + (long) copy * loop.step());
                        translate(elements, loop.bodyStart(), loop.backEdge(), result, end);
                    }
                    constantLocals.remove(loop.counter());
                    copyLabels = outer;
                    if (reachable) {
                        jumpTo(loop.exit());
                        emit("bra.uni", label(loop.exit()));
                    }
                    reachable = false;
                    return loop.backEdge();
                }
                String original = label(((LabelTarget) elements.get(head)).label());
                String top = "$L_" + prefix + "_" + labels++;
                translator().label(top);
                String last = temp(".s64"), limit = temp(".s64"), done = temp(".pred");
                emit("cvt.s64.s32", last, local(loop.counter(), Kind.INT));
                emit("add.s64", last, last, (long) (factor - 1) * loop.step());
                if (loop.limitSlot() >= 0) emit("cvt.s64.s32", limit, local(loop.limitSlot(), Kind.INT));
                else emit("mov.s64", limit, loop.limitConstant());
                emit("setp." + (loop.inclusive() ? "gt" : "ge") + ".s64", done, last, limit);
                emitGuarded(done, "bra", original);
                Map<Label, String> outer = copyLabels;
                for (int copy = 0; copy < factor; copy++) {
                    copyLabels = freshNames(outer, loop.internal());
                    translate(elements, loop.bodyStart(), loop.backEdge(), result, end);
                }
                copyLabels = outer;
                emit("bra.uni", top);
                reachable = false; // the original loop's head is entered only from the test above
                return head;
            }

            /**
             * {@code loop} with its limit as a constant where its limit's local holds a value known here (a
             * {@code @Specialize} parameter, a helper's constant argument): its trip count may then be known, and no
             * run-time test of the limit (nor a narrow copy for limits near {@code Integer.MAX_VALUE}) is needed.
             */
            CountedLoop known(CountedLoop loop) {
                if (loop == null || loop.limitSlot() < 0 || !constantLocals.containsKey(loop.limitSlot())) return loop;
                return loop.withLimit((int) (long) constantLocals.get(loop.limitSlot()));
            }

            /**
             * Whether widening a counted loop's counter pays and is exact: its body converts an int to long (an
             * index; nothing to gain otherwise) and a constant limit leaves room for one more step (a variable one
             * is checked at run time, see widenedLoop).
             */
            boolean widenable(List<CodeElement> elements, CountedLoop loop) {
                boolean converts = false;
                for (int i = loop.bodyStart(); i < loop.backEdge() && !converts; i++) {
                    converts = elements.get(i) instanceof ConvertInstruction c && c.opcode() == Opcode.I2L;
                }
                return converts && (loop.limitSlot() >= 0 || loop.limitConstant() <= lastWideLimit(loop));
            }

            /** The largest limit for which {@code i + step} cannot overflow while the loop test passes. */
            static long lastWideLimit(CountedLoop loop) {
                return (long) Integer.MAX_VALUE - loop.step() + (loop.inclusive() ? 0 : 1);
            }

            /**
             * Translates a counted loop with its counter also kept in 64 bits, so that {@code (long) i} and
             * {@code (long) (i + k)} inside it are 64-bit adds of the wide counter instead of sign extensions, which
             * lets ptxas turn the addresses into pointer increments (nvcc gets this from C's undefined signed
             * overflow). Exact when {@code i + step} cannot overflow while the test passes: with a constant limit
             * that is checked here; with a variable limit the loop is translated twice and a test before it picks
             * the narrow copy (Java's int arithmetic throughout) for limits within one step of
             * {@code Integer.MAX_VALUE}. Then, inside the body, {@code i ≤ limit - 1 ≤ MAX - step}, so
             * {@code i + k} for {@code 0 ≤ k < step} does not overflow either. Returns the index of the back edge.
             */
            int widenedLoop(List<CodeElement> elements, int head, CountedLoop loop, String result, String end) {
                String wide = register("%" + prefix + "_wL" + loop.counter() + "_" + labels++, Kind.LONG);
                String narrow = "$L_" + prefix + "_" + labels++;
                emit("cvt.s64.s32", wide, local(loop.counter(), Kind.INT));
                if (loop.limitSlot() >= 0) {
                    String overflows = temp(".pred");
                    emit("setp.gt.s32", overflows, local(loop.limitSlot(), Kind.INT), lastWideLimit(loop));
                    emitGuarded(overflows, "bra", narrow);
                }
                WideCounter outerCounter = wideCounters.put(loop.counter(), new WideCounter(wide, loop.step() - 1));
                int outerHead = wideningHead;
                wideningHead = head;
                translate(elements, head, loop.backEdge() + 1, result, end);
                wideningHead = outerHead;
                if (outerCounter == null) wideCounters.remove(loop.counter());
                else wideCounters.put(loop.counter(), outerCounter);
                if (loop.limitSlot() >= 0) { // the narrow copy, with its own labels; it leaves through the same exit
                    translator().label(narrow);
                    reachable = true;
                    Map<Label, String> outer = copyLabels;
                    copyLabels = freshNames(outer, loop.internal());
                    copyLabels.put(((LabelTarget) elements.get(head)).label(), "$L_" + prefix + "_" + labels++);
                    narrowCopies++;
                    translate(elements, head, loop.backEdge() + 1, result, end);
                    narrowCopies--;
                    copyLabels = outer;
                }
                return loop.backEdge();
            }

            /**
             * Label names for one more copy of a loop body: a fresh name for each of {@code internal}, an enclosing
             * copy's names ({@code outer}) standing for the rest.
             */
            Map<Label, String> freshNames(Map<Label, String> outer, java.util.Collection<Label> internal) {
                Map<Label, String> names = outer == null ? new HashMap<>() : new HashMap<>(outer);
                for (Label l : internal) {
                    names.put(l, "$L_" + prefix + "_" + labels++);
                    stackAtLabel.remove(l); // the copy's jumps are its own: what an earlier copy knew there does not hold
                }
                return names;
            }

            /** Records the stack a jump to {@code target} carries, merged with what other jumps there carried. */
            void jumpTo(Label target) {
                stackAtLabel.merge(target, List.copyOf(stack), Frame::join);
            }

            /**
             * The stack where two paths meet (a ternary's join, an if's end): each value's facts (a constant, a
             * comparison, an induction) where both paths agree, only its kind and register where they do not — a
             * constant on one path is not one at the join.
             */
            static List<Value> join(List<Value> a, List<Value> b) {
                if (a.equals(b)) return a;
                if (a.size() != b.size()) throw new IllegalStateException("paths meet with " + a.size() + " and " + b.size() + " stack values");
                List<Value> joined = new ArrayList<>(a.size());
                for (int i = 0; i < a.size(); i++) {
                    Value x = a.get(i), y = b.get(i);
                    joined.add(x.equals(y) ? x : new Value(x.kind(), null, x.origin() == y.origin() ? x.origin() : -1, null));
                }
                return List.copyOf(joined);
            }

            void instruction(Instruction i, String result, String end) {
                Opcode op = i.opcode();
                switch (i) {
                    case LoadInstruction load -> {
                        int slot = load.slot();
                        Value v = locals.get(slot);
                        if (v == null) throw error("a local variable read before it is written (slot " + slot + ")");
                        if (v.kind() == Kind.CONTEXT) {
                            push(v);
                        } else if (v.kind() == Kind.INT && constantLocals.containsKey(slot)) {
                            long constant = constantLocals.get(slot);
                            emit("mov.s32", push(new Value(Kind.INT, constant, v.origin(), null)), constant);
                        } else {
                            Induction induction = v.kind() == Kind.INT && wideCounters.containsKey(slot) ? new Induction(slot, 0) : null;
                            String dst = push(new Value(v.kind(), null, v.origin(), null, induction));
                            move(v.kind(), dst, local(slot, v.kind()));
                        }
                    }
                    case StoreInstruction store -> {
                        constantLocals.remove(store.slot());
                        Value v = peekValue();
                        String src = pop();
                        if (v.kind() == Kind.CONTEXT) {
                            locals.put(store.slot(), v);
                        } else {
                            locals.put(store.slot(), new Value(v.kind(), null, v.origin(), null));
                            move(v.kind(), local(store.slot(), v.kind()), src);
                            // a constant stored into a local written nowhere else: every read sees it (Java reads a
                            // local only where it was assigned), so it is known, as a constant parameter is
                            if (v.kind() == Kind.INT && v.constant() != null && writtenOnce(store.slot())) constantLocals.put(store.slot(), v.constant());
                        }
                    }
                    case IncrementInstruction inc -> {
                        constantLocals.computeIfPresent(inc.slot(), (slot, value) -> value + inc.constant()); // an unrolled copy's counter
                        String r = local(inc.slot(), Kind.INT);
                        emit("add.s32", r, r, inc.constant());
                        WideCounter wide = wideCounters.get(inc.slot());
                        if (wide != null) emit("add.s64", wide.register(), wide.register(), inc.constant());
                    }
                    case ConstantInstruction c -> constant(c);
                    case OperatorInstruction o -> operator(op);
                    case ConvertInstruction c -> convert(op);
                    case StackInstruction s -> stackOp(op);
                    case BranchInstruction b -> branch(b);
                    case InvokeInstruction inv -> invoke(inv);
                    case ReturnInstruction r -> {
                        if (op != Opcode.RETURN) {
                            Value v = peekValue();
                            String src = pop();
                            move(v.kind(), result, src);
                            // the same constant from every return: the call's value is that constant in the caller
                            returned = returns++ == 0 || Objects.equals(returned, v.constant()) ? v.constant() : null;
                        }
                        if (end != null) emit("bra.uni", end);
                        else emit("ret");
                        reachable = false;
                    }
                    default -> arrayOrReject(i);
                }
            }

            void constant(ConstantInstruction c) {
                if (c.opcode() == Opcode.ACONST_NULL) {
                    // a buffer argument an entry does not have, for a helper whose constants compile its use out (a live
                    // write through it is refused: it traces to no parameter)
                    emit("mov.u64", push(new Value(Kind.BUFFER, null, -1, null)), 0);
                    return;
                }
                Object v = c.constantValue();
                switch (v) {
                    case Integer n -> {
                        String dst = push(new Value(Kind.INT, (long) n, -1, null));
                        emit("mov.s32", dst, n);
                    }
                    case Long n -> {
                        String dst = push(new Value(Kind.LONG, n, -1, null));
                        emit("mov.s64", dst, n);
                    }
                    case Float x -> emit("mov.f32", push(Kind.FLOAT), floatLiteral(x));
                    case Double x -> emit("mov.f32", push(Kind.FLOAT), floatLiteral((float) (double) x));
                    default -> throw error("the constant " + v + " (" + c.opcode() + ")");
                }
            }

            void operator(Opcode op) {
                String name = op.name().toLowerCase();
                char t = name.charAt(0);
                String what = name.substring(1);
                if (name.equals("lcmp") || name.equals("fcmpl") || name.equals("fcmpg") || name.equals("dcmpl") || name.equals("dcmpg")) {
                    String b = pop(), a = pop();
                    String type = name.equals("lcmp") ? ".s64" : ".f32";
                    // a comparison result only feeds the next if<cond>: keep the operands, test there
                    stack.add(new Value(Kind.INT, null, -1, new Comparison(type, a, b, name.endsWith("g") ? 1 : -1)));
                    return;
                }
                Kind k = switch (t) {
                    case 'i' -> Kind.INT;
                    case 'l' -> Kind.LONG;
                    case 'f', 'd' -> Kind.FLOAT;
                    default -> throw error(name);
                };
                String type = k.ptxType;
                if (k == Kind.INT && !what.equals("neg") && stack.get(stack.size() - 2).constant() != null && peekValue().constant() != null) {
                    Integer folded = fold(what, (int) (long) stack.get(stack.size() - 2).constant(), (int) (long) peekValue().constant());
                    if (folded != null) { // two constants: the result is one too (an index computed from a constant parameter)
                        pop();
                        pop();
                        emit("mov.s32", push(new Value(Kind.INT, (long) folded, -1, null)), folded);
                        return;
                    }
                }
                if (what.equals("neg")) {
                    String a = pop();
                    emit("neg" + type, push(k), a);
                    return;
                }
                if (what.equals("shl") || what.equals("shr") || what.equals("ushr")) {
                    String count = pop(), a = pop();
                    String masked = temp(".b32");
                    emit("and.b32", masked, count, k == Kind.LONG ? 63 : 31);
                    String bits = k == Kind.LONG ? ".b64" : ".b32";
                    String ptx = switch (what) {
                        case "shl" -> "shl" + bits;
                        case "shr" -> "shr" + type;
                        default -> "shr" + (k == Kind.LONG ? ".u64" : ".u32");
                    };
                    emit(ptx, push(k), a, masked);
                    return;
                }
                if (k != Kind.FLOAT && (what.equals("div") || what.equals("rem")) && peekValue().constant() != null && peekValue().constant() != 0) {
                    // by a constant: an immediate that ConstantDivision turns into a multiply-high or a shift; unsigned
                    // where the dividend is known ≥ 0 and the divisor positive (the same quotient, no sign correction)
                    long divisor = popValue().constant();
                    boolean unsigned = k == Kind.INT && peekValue().nonNegative() && divisor > 0;
                    String a = pop();
                    emit(what + (unsigned ? ".u32" : type), push(unsigned ? Value.nonNegativeInt() : new Value(k)), a, divisor);
                    return;
                }
                Induction induction = k == Kind.INT ? inductionOf(what, stack.get(stack.size() - 2), peekValue()) : null;
                String b = pop(), a = pop();
                String bits = k == Kind.LONG ? ".b64" : ".b32";
                String ptx = switch (what) {
                    case "add" -> "add" + type;
                    case "sub" -> "sub" + type;
                    case "mul" -> k == Kind.FLOAT ? "mul.f32" : "mul.lo" + type;
                    case "div" -> k == Kind.FLOAT ? "div.rn.f32" : "div" + type;
                    case "rem" -> {
                        if (k == Kind.FLOAT) throw error("floating-point remainder (%)");
                        yield "rem" + type;
                    }
                    case "and" -> "and" + bits;
                    case "or" -> "or" + bits;
                    case "xor" -> "xor" + bits;
                    default -> throw error(name);
                };
                emit(ptx, push(new Value(k, null, -1, null, induction)), a, b);
            }

            /** {@code a what b} as Java computes it on ints, or null where the JVM would throw (a division by zero). */
            static Integer fold(String what, int a, int b) {
                return switch (what) {
                    case "add" -> a + b;
                    case "sub" -> a - b;
                    case "mul" -> a * b;
                    case "div" -> b == 0 ? null : a / b;
                    case "rem" -> b == 0 ? null : a % b;
                    case "and" -> a & b;
                    case "or" -> a | b;
                    case "xor" -> a ^ b;
                    case "shl" -> a << b;
                    case "shr" -> a >> b;
                    case "ushr" -> a >>> b;
                    default -> null;
                };
            }

            /** counter + k stays an induction for {@code iadd}/{@code isub} of a constant while k is within its bound. */
            Induction inductionOf(String what, Value a, Value b) {
                Induction i;
                long offset;
                if (what.equals("add") && a.induction() != null && b.constant() != null) {
                    i = a.induction();
                    offset = i.offset() + b.constant();
                } else if (what.equals("add") && b.induction() != null && a.constant() != null) {
                    i = b.induction();
                    offset = i.offset() + a.constant();
                } else if (what.equals("sub") && a.induction() != null && b.constant() != null) {
                    i = a.induction();
                    offset = i.offset() - b.constant();
                } else {
                    return null;
                }
                WideCounter wide = wideCounters.get(i.slot());
                return wide != null && offset >= 0 && offset <= wide.maxOffset() ? new Induction(i.slot(), offset) : null;
            }

            void convert(Opcode op) {
                Induction induction = peekValue().induction();
                String a = pop();
                if (op == Opcode.I2L && induction != null && wideCounters.containsKey(induction.slot())) {
                    // (long) (i + k) of a widened counter: its 64-bit register plus k (widenedLoop says why exact)
                    emit("add.s64", push(Kind.LONG), wideCounters.get(induction.slot()).register(), induction.offset());
                    return;
                }
                switch (op) {
                    case I2L -> emit("cvt.s64.s32", push(Kind.LONG), a);
                    case L2I -> emit("cvt.u32.u64", push(Kind.INT), a);
                    case I2F, I2D -> emit("cvt.rn.f32.s32", push(Kind.FLOAT), a);
                    case L2F, L2D -> emit("cvt.rn.f32.s64", push(Kind.FLOAT), a);
                    case F2I, D2I -> emit("cvt.rzi.s32.f32", push(Kind.INT), a);
                    case F2L, D2L -> emit("cvt.rzi.s64.f32", push(Kind.LONG), a);
                    case F2D, D2F -> emit("mov.f32", push(Kind.FLOAT), a);
                    case I2S -> emit("cvt.s32.s16", push(Kind.INT), a);
                    case I2B -> emit("cvt.s32.s8", push(Kind.INT), a);
                    case I2C -> emit("and.b32", push(Kind.INT), a, "65535");
                    default -> throw error(op.name().toLowerCase());
                }
            }

            void stackOp(Opcode op) {
                switch (op) {
                    case POP -> popValue();
                    case POP2 -> {
                        Value v = popValue();
                        if (v.kind() != Kind.LONG) popValue();
                    }
                    case DUP -> {
                        Value v = peekValue();
                        String src = regOf(0);
                        String dst = push(v);
                        if (v.kind() != Kind.CONTEXT) move(v.kind(), dst, src);
                    }
                    case DUP2 -> {
                        // two one-slot values (e.g. array and index of a[i] += x); a long counts as one entry here
                        if (peekValue().kind() == Kind.LONG) {
                            stackOp(Opcode.DUP);
                            return;
                        }
                        Value a = stack.get(stack.size() - 2), b = peekValue();
                        String ra = regOf(1), rb = regOf(0);
                        String da = push(a);
                        if (a.kind() != Kind.CONTEXT) move(a.kind(), da, ra);
                        String db = push(b);
                        if (b.kind() != Kind.CONTEXT) move(b.kind(), db, rb);
                    }
                    default -> throw error(op.name().toLowerCase() + " (write the expression with a local variable)");
                }
            }

            void branch(BranchInstruction b) {
                Opcode op = b.opcode();
                String target = label(b.target());
                String name = op.name().toLowerCase();
                Boolean known = op == Opcode.GOTO || op == Opcode.GOTO_W ? Boolean.TRUE : decided(name);
                if (known != null) { // a goto, or a test of constants (a helper's constant flag): no predicate
                    if (name.startsWith("if_icmp")) popValue();
                    if (name.startsWith("if")) popValue();
                    if (known) {
                        jumpTo(b.target());
                        emit("bra.uni", target);
                        reachable = false;
                    }
                    return;
                }
                String predicate = temp(".pred");
                if (name.startsWith("if_icmp")) {
                    String bReg = pop(), aReg = pop();
                    emit("setp." + condition(name.substring(7)) + ".s32", predicate, aReg, bReg);
                } else if (name.startsWith("if_acmp") || name.equals("ifnull") || name.equals("ifnonnull")) {
                    throw error("reference comparison (" + name + ")");
                } else {
                    Value v = popValue();
                    String cond = name.substring(2);
                    if (v.compare() != null) {
                        Comparison c = v.compare();
                        String ptxCond = condition(cond);
                        if (c.type().equals(".f32") && holds(cond, c.nanResult())) ptxCond = unordered(ptxCond);
                        emit("setp." + ptxCond + c.type(), predicate, c.a(), c.b());
                    } else {
                        emit("setp." + condition(cond) + ".s32", predicate, stackReg(stack.size(), v.kind()), "0");
                    }
                }
                jumpTo(b.target());
                emitGuarded(predicate, "bra", target);
            }

            /**
             * Whether the conditional branch {@code name} is taken, where its operands are constants the translator
             * knows (a helper's flag every call passes as a constant, a fully unrolled loop's counter); null otherwise.
             */
            Boolean decided(String name) {
                if (name.startsWith("if_icmp")) {
                    Long b = peekValue().constant(), a = stack.get(stack.size() - 2).constant();
                    if (a == null || b == null) return null;
                    return holds(name.substring(7), Integer.compare((int) (long) a, (int) (long) b));
                }
                if (name.startsWith("if_acmp") || name.equals("ifnull") || name.equals("ifnonnull")) return null;
                Value v = peekValue();
                if (v.compare() != null || v.constant() == null || v.kind() != Kind.INT) return null;
                return holds(name.substring(2), Long.signum(v.constant()));
            }

            void invoke(InvokeInstruction inv) {
                ClassDesc ownerDesc = inv.owner().asSymbol();
                String name = inv.name().stringValue();
                MethodTypeDesc type = inv.typeSymbol();
                if (inv.opcode() == Opcode.INVOKEDYNAMIC || inv.opcode() == Opcode.INVOKEINTERFACE) throw error(inv.opcode().name().toLowerCase());
                if (ownerDesc.equals(CONTEXT)) {
                    Intrinsics.context(this, name, type);
                } else if (ownerDesc.equals(F32) || ownerDesc.equals(I32) || ownerDesc.equals(HALF) || ownerDesc.equals(I8)) {
                    Intrinsics.buffer(this, ownerDesc, name, type);
                } else if (ownerDesc.equals(VEC16)) {
                    Intrinsics.vector(this, name, type);
                } else if (ownerDesc.descriptorString().equals("Ljava/lang/Math;") || ownerDesc.descriptorString().equals("Ljava/lang/StrictMath;")) {
                    Intrinsics.math(this, name, type);
                } else if (ownerDesc.descriptorString().equals("Ljava/lang/Float;")) {
                    Intrinsics.floats(this, name, type);
                } else if (inv.opcode() == Opcode.INVOKESTATIC) {
                    inline(ownerDesc, name, type);
                } else {
                    throw error("a call to " + ownerDesc.displayName() + "." + name + " (only static helpers and intrinsics)");
                }
            }

            /** Inlines a static helper: arguments move into a fresh frame's locals, returns jump to the end label. */
            void inline(ClassDesc ownerDesc, String name, MethodTypeDesc type) {
                String key = ownerDesc.descriptorString() + name + type.descriptorString();
                if (callStack.contains(key)) throw error("recursion (" + name + ")");
                Class<?> calleeClass;
                try {
                    String binary = ownerDesc.descriptorString().substring(1, ownerDesc.descriptorString().length() - 1).replace('/', '.');
                    calleeClass = Class.forName(binary, false, cls.getClassLoader());
                } catch (ClassNotFoundException e) {
                    throw error("a call to unknown class " + ownerDesc.displayName());
                }
                sources.add(calleeClass.getName());
                MethodModel callee = load(calleeClass).methods().stream()
                        .filter(m -> m.methodName().equalsString(name) && m.methodTypeSymbol().equals(type)).findFirst()
                        .orElseThrow(() -> error("a call to " + name + " that cannot be resolved"));
                if ((callee.flags().flagsMask() & ClassFile.ACC_NATIVE) != 0) throw error("native method " + name);
                Frame f = new Frame(calleeClass, callee, "f" + frames++);
                f.line = line;
                // arguments, last on top of the stack
                int count = type.parameterCount();
                int[] slots = new int[count];
                int slot = 0;
                for (int p = 0; p < count; p++) {
                    slots[p] = slot;
                    String d = type.parameterType(p).descriptorString();
                    slot += d.equals("J") || d.equals("D") ? 2 : 1;
                }
                for (int p = count - 1; p >= 0; p--) {
                    Value v = peekValue();
                    String src = pop();
                    if (v.kind() == Kind.CONTEXT) {
                        f.locals.put(slots[p], v);
                    } else {
                        f.locals.put(slots[p], new Value(v.kind(), null, v.origin(), null));
                        move(v.kind(), f.local(slots[p], v.kind()), src);
                        if (v.kind() == Kind.INT && v.constant() != null && !writesParameter(callee, slots[p])) {
                            f.constantLocals.put(slots[p], v.constant());
                        }
                    }
                }
                String result = null;
                if (!type.returnType().descriptorString().equals("V")) {
                    Kind k = kindOf(type.returnType(), this, "return value");
                    result = push(k);
                }
                String end = "$L_" + f.prefix + "_end";
                callStack.push(key);
                f.run(result, end);
                callStack.pop();
                if (result != null && f.returned != null && peekValue().kind() == Kind.INT) { // a helper of constants: its value is known here
                    stack.set(stack.size() - 1, new Value(Kind.INT, f.returned, -1, null));
                }
                translator().label(end);
            }

            /** Whether {@code method}'s code stores to or increments local {@code slot} (then a constant argument is not known throughout). */
            static boolean writesParameter(MethodModel method, int slot) {
                List<CodeElement> code = method.code().orElseThrow().elementList();
                return CountedLoop.writes(code, 0, code.size(), slot);
            }

            void arrayOrReject(Instruction i) {
                Opcode op = i.opcode();
                switch (op) {
                    case FALOAD, IALOAD -> {
                        String index = pop(), array = pop();
                        Kind k = op == Opcode.FALOAD ? Kind.FLOAT : Kind.INT;
                        String address = sharedAddress(array, index);
                        emit("ld.shared" + k.ptxType, push(k), "[" + address + "]");
                    }
                    case FASTORE, IASTORE -> {
                        String value = pop(), index = pop(), array = pop();
                        String address = sharedAddress(array, index);
                        emit("st.shared" + (op == Opcode.FASTORE ? ".f32" : ".s32"), "[" + address + "]", value);
                    }
                    case ATHROW -> throw error("throwing an exception");
                    case NEW, NEWARRAY, ANEWARRAY, MULTIANEWARRAY -> throw error("allocation (" + op.name().toLowerCase() + "); use ctx.sharedF32(n) for group memory");
                    case GETFIELD, PUTFIELD, GETSTATIC, PUTSTATIC -> throw error("field access (" + op.name().toLowerCase() + "); pass values as parameters");
                    case MONITORENTER, MONITOREXIT -> throw error("synchronized");
                    case ARRAYLENGTH -> throw error("array length; pass sizes as parameters");
                    default -> throw error(op.name().toLowerCase());
                }
            }

            String sharedAddress(String array, String index) {
                String address = temp(".u32");
                emit("mad.lo.s32", address, index, "4", array);
                return address;
            }
        }

        static String movType(Kind k) {
            return switch (k) {
                case INT -> ".s32";
                case LONG -> ".s64";
                case FLOAT -> ".f32";
                case BUFFER -> ".u64";
                case SHARED -> ".u32";
                case VEC -> ".b32";
                case CONTEXT -> throw new IllegalStateException("context has no register");
            };
        }

        static String condition(String javaCondition) {
            return switch (javaCondition) {
                case "eq" -> "eq";
                case "ne" -> "ne";
                case "lt" -> "lt";
                case "ge" -> "ge";
                case "gt" -> "gt";
                case "le" -> "le";
                default -> throw new IllegalArgumentException(javaCondition);
            };
        }

        /** Whether {@code r <cond> 0} holds for the comparison result r given to NaN operands. */
        static boolean holds(String cond, int r) {
            return switch (cond) {
                case "eq" -> r == 0;
                case "ne" -> r != 0;
                case "lt" -> r < 0;
                case "ge" -> r >= 0;
                case "gt" -> r > 0;
                case "le" -> r <= 0;
                default -> throw new IllegalArgumentException(cond);
            };
        }

        static String unordered(String cond) {
            return cond + "u";
        }

        static String floatLiteral(float x) {
            return String.format("0f%08X", Float.floatToRawIntBits(x));
        }
    }
}
