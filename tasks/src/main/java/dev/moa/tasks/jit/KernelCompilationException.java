package dev.moa.tasks.jit;

/** A kernel uses something the PTX JIT cannot translate; the message names class, method, line and construct. */
public final class KernelCompilationException extends RuntimeException {
    public KernelCompilationException(String message) {
        super(message);
    }
}
