package dev.moa.tasks.jit;

/** A line of a kernel body in the JIT's intermediate form: an instruction or a label. */
public sealed interface PtxLine permits PtxInstruction, PtxLine.Label {
    /** A branch target. */
    record Label(String name) implements PtxLine {
    }
}
