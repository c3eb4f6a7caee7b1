package dev.moa.tasks.graph;

import dev.moa.tasks.emulator.Grid;
import dev.moa.tasks.kernel.DeviceBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * An ordered list of kernel launches over buffers: built once, run many times by a {@link Backend} (on the GPU,
 * captured into one CUDA graph and replayed). Buffers are arguments by identity: a backend keeps each one resident
 * on its device after the first upload, so replays move no data unless asked ({@link Backend#download}).
 *
 * <pre>{@code
 * TaskGraph step = new TaskGraph()
 *     .task("attention norm", VectorKernels.class, "rmsNorm", Grid.of(1, 256), x, norm, xb, dim, eps)
 *     .task("q projection", MatVecKernels.class, "bf16", Grid.of(rows / 8, 256), wq, xb, q, rows, dim);
 * }</pre>
 */
public final class TaskGraph {
    /** One launch: a readable name, the kernel method, its grid and its arguments after the context. */
    public record Task(String name, Class<?> owner, String method, Grid grid, List<Object> args) {
    }

    private final List<Task> tasks = new ArrayList<>();

    /** Appends a launch; arguments are buffers, Integer, Long or Float, in the kernel's parameter order. */
    public TaskGraph task(String name, Class<?> owner, String method, Grid grid, Object... args) {
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            if (!(a instanceof DeviceBuffer || a instanceof Integer
                    || a instanceof Long || a instanceof Float)) {
                throw new IllegalArgumentException("task '" + name + "': argument " + (i + 1) + " is a "
                        + (a == null ? "null" : a.getClass().getSimpleName()) + " (expected a buffer, int, long or float)");
            }
        }
        tasks.add(new Task(name, owner, method, grid, List.of(args)));
        return this;
    }

    public List<Task> tasks() {
        return List.copyOf(tasks);
    }
}
