package dev.moa.tasks.graph;

import dev.moa.tasks.kernel.DeviceBuffer;

/** Where task graphs run: the CPU emulator or a CUDA device. */
public interface Backend extends AutoCloseable {
    /** A short description, e.g. "emulator (the GPU program on the CPU)" or "cuda: NVIDIA H100 (sm_90)". */
    String name();

    /** Shared memory, static and dynamic, one group of a launch may have on this backend's device. */
    default int sharedBytesPerGroup() {
        return dev.moa.tasks.emulator.Grid.MAX_SHARED_BYTES;
    }

    /** Bytes of device memory free now, where the backend has a device of its own (CUDA); empty on the emulator. */
    default java.util.OptionalLong freeBytes() {
        return java.util.OptionalLong.empty();
    }

    /** Copies the buffer's host content to the device now (buffers are otherwise uploaded at first use). */
    void upload(DeviceBuffer buffer);

    /**
     * Copies {@code bytes} of the buffer's host content from byte {@code fromByte} to the same bytes of its device copy,
     * which is made where it has none, without the rest of the host content (that part of the device copy is then
     * undefined until written): what fills part of a buffer whose other parts come from elsewhere on the device.
     */
    void upload(DeviceBuffer buffer, long fromByte, long bytes);

    /**
     * Sets {@code bytes} of the buffer from byte {@code fromByte} to zero on the device (its device copy made where it has
     * none), after the work already given to it: memory a device allocates holds anything, and kernels that read
     * slots no one wrote (weighted by zero) need finite numbers there. This default zeroes the host range and uploads it.
     */
    default void zero(DeviceBuffer buffer, long fromByte, long bytes) {
        buffer.memory().asSlice(fromByte, bytes).fill((byte) 0);
        upload(buffer, fromByte, bytes);
    }

    /** Copies the device copy of the buffer back into its host memory. */
    void download(DeviceBuffer buffer);

    /**
     * Copies {@code bytes} of the buffer's device copy from byte {@code fromByte} into the same bytes of its host memory,
     * after the work given to the device so far: what reads back the rows of a batched step's output that are wanted
     * (a sampled session's logits) and not the others. This default reads back the whole buffer.
     */
    default void download(DeviceBuffer buffer, long fromByte, long bytes) {
        requireRange(buffer, fromByte, bytes, "a download");
        download(buffer);
    }

    /** Refuses a range of {@code bytes} from byte {@code fromByte} that is not inside the buffer, naming {@code what} was asked. */
    static void requireRange(DeviceBuffer buffer, long fromByte, long bytes, String what) {
        long size = buffer.memory().byteSize();
        if (fromByte < 0 || bytes < 0 || fromByte > size - bytes) {
            throw new IndexOutOfBoundsException(what + " of " + bytes + " bytes from byte " + fromByte + " of " + size);
        }
    }

    /**
     * Copies {@code bytes} from byte {@code fromByte} of one buffer's device copy to byte {@code toByte} of another's,
     * on the device, after the work already given to it (each buffer uploaded first where it has no device copy; the
     * host copies are left as they were): what moves a session's cache from one device step to the next without a
     * round trip through the host.
     */
    void copy(DeviceBuffer from, long fromByte, DeviceBuffer to, long toByte, long bytes);

    /** Returns when the work given to the device so far (runs, copies) is done. */
    default void synchronize() {
    }

    /** Runs every task of the graph in order; returns when the results are complete on the device. */
    void run(TaskGraph graph);

    /**
     * Uploads {@code uploads}, runs {@code graph}, then reads {@code result} back: a decode step's scalars up, the step,
     * its tokens down. A backend that can queue all three waits once, for the last, where one after another each waits
     * for the device (on a GPU a few microseconds each, of a step of one or two milliseconds). This default does them one
     * after another.
     */
    default void run(TaskGraph graph, java.util.List<? extends DeviceBuffer> uploads, DeviceBuffer result) {
        for (DeviceBuffer b : uploads) upload(b);
        run(graph);
        download(result);
    }

    /**
     * As {@link #run(TaskGraph, List, DeviceBuffer)}, returning once the uploads, the graph and the read-back are queued:
     * {@code result}'s host copy holds what the graph wrote once the handle is awaited ({@link Pending#await}). Work given
     * to this backend later runs after it, so a decode step can queue the next step (whose inputs the device has already)
     * before it waits for this one's tokens, and the device never waits for the host between them. This default runs
     * it all now.
     */
    default Pending enqueue(TaskGraph graph, java.util.List<? extends DeviceBuffer> uploads, DeviceBuffer result) {
        run(graph, uploads, result);
        return Pending.DONE;
    }

    /**
     * Whether work given to {@link #enqueue} runs while the host goes on (a GPU), rather than before it returns (this
     * default, and the emulator, which runs on the host's own cores): only then does queuing a step ahead gain anything.
     */
    default boolean runsApart() {
        return false;
    }

    /**
     * Runs a graph that will not run again (a prompt's forward, a one-off check): as {@link #run}, without keeping
     * anything for a replay — on a CUDA device the tasks are launched directly instead of captured into a graph.
     */
    default void runOnce(TaskGraph graph) {
        run(graph);
        forget(graph);
    }

    /**
     * As {@link #runOnce}, returning once the tasks are given to the device rather than done: what lets the host prepare
     * the next piece of work while the device runs this one. Work given to this backend later runs after it; the
     * handle waits for it ({@link Pending#await}, before reading what it wrote or freeing what it uses). This default runs
     * it now.
     */
    default Pending enqueueOnce(TaskGraph graph) {
        runOnce(graph);
        return Pending.DONE;
    }

    /** Work given to a backend that may not be done yet ({@link #enqueueOnce}). */
    interface Pending {
        /** Work that is done. */
        Pending DONE = () -> { };

        /** Returns when the work is done; at once after the first time. */
        void await();
    }

    /** Frees the device copy of the buffer (nothing when it has none); a later use uploads it again. */
    void free(DeviceBuffer buffer);

    /** Drops what the backend keeps for the graph (its captured replay); a later run captures it again. */
    void forget(TaskGraph graph);

    @Override
    void close();
}
