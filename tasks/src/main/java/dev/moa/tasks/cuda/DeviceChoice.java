package dev.moa.tasks.cuda;

import java.util.function.Supplier;

/**
 * Where to run, as the CLI's {@code --device auto|cpu|cuda|emulator} asks:
 * <ul>
 *   <li>{@code cpu}: the CPU; CUDA is not even probed.</li>
 *   <li>{@code emulator}: the GPU program (same task graphs, same kernels) run by the kernel emulator on the CPU,
 *       to check a kernel change without a GPU; slow by design.</li>
 *   <li>{@code cuda}: the first GPU; when CUDA cannot be used, a {@link CudaException} whose message is
 *       {@link CudaAvailability#reason()}, the one sentence saying why.</li>
 *   <li>{@code auto}: the first GPU when CUDA can be used, else the CPU with that sentence as {@link #note}, to
 *       be printed as the one line explaining the fallback.</li>
 * </ul>
 *
 * @param note empty, or why {@code auto} fell back to the CPU
 */
public record DeviceChoice(Kind kind, String note) {
    /** The backends a choice can land on. */
    public enum Kind { CPU, CUDA, EMULATOR }

    /** The option's values, as the CLI spells them. */
    public static final String AUTO = "auto", CPU = "cpu", CUDA = "cuda", EMULATOR = "emulator";

    /** Chooses for {@code option}, probing the system driver when needed. */
    public static DeviceChoice choose(String option) {
        return choose(option, CudaAvailability::probe);
    }

    /** Chooses for {@code option} with {@code availability} asked only when the option needs it. */
    public static DeviceChoice choose(String option, Supplier<CudaAvailability> availability) {
        String value = option == null ? AUTO : option.trim().toLowerCase(java.util.Locale.ROOT);
        return switch (value) {
            case CPU -> new DeviceChoice(Kind.CPU, "");
            case EMULATOR -> new DeviceChoice(Kind.EMULATOR, "");
            case CUDA -> {
                CudaAvailability cuda = availability.get();
                if (!cuda.available()) throw new CudaException(cuda.reason());
                yield new DeviceChoice(Kind.CUDA, "");
            }
            case AUTO -> {
                CudaAvailability cuda = availability.get();
                yield cuda.available() ? new DeviceChoice(Kind.CUDA, "") : new DeviceChoice(Kind.CPU, cuda.reason());
            }
            default -> throw new IllegalArgumentException("--device must be auto, cpu, cuda or emulator, got '" + option + "'");
        };
    }

    public boolean cuda() {
        return kind == Kind.CUDA;
    }
}
