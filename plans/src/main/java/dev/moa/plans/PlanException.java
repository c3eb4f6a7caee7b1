package dev.moa.plans;

/** A plan file that cannot be used; names the file, the layer/head and what was expected. */
public final class PlanException extends RuntimeException {
    public PlanException(String message) {
        super(message);
    }
}
