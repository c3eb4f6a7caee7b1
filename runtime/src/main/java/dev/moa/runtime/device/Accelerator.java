package dev.moa.runtime.device;

import dev.moa.loader.config.ModelConfig;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.LlamaWeights;
import dev.moa.tasks.cuda.CudaContext;
import dev.moa.tasks.cuda.DeviceChoice;
import dev.moa.tasks.graph.Backend;
import dev.moa.tasks.graph.CudaBackend;
import dev.moa.tasks.graph.EmulatorBackend;
import java.lang.foreign.Arena;
import java.util.List;

/**
 * Where a model's prompts and decode steps run when not on the CPU: a CUDA device, or the kernel emulator running the
 * same GPU program on the CPU. Holds the backend and the model's device weights (uploaded at first use).
 */
public final class Accelerator implements AutoCloseable {
    private final Backend backend;
    /** The CUDA context this accelerator opened (released after its backend), or null. */
    private final CudaContext context;
    private final Arena arena = Arena.ofShared();
    private final ModelConfig config;
    private final LlamaWeights weights;
    private DeviceWeights deviceWeights;
    /** Whether the device's tensor cores passed {@link dev.moa.tasks.kernels.TensorCoreCheck}; null before the first prompt. */
    private Boolean tensorCores;
    /** Most prompt tokens a device prefill runs at once ({@link DevicePrefill#CHUNK}; tests take smaller chunks). */
    private int prefillChunk = DevicePrefill.CHUNK;
    /**
     * The fewest sessions whose decode step multiplies on the tensor cores ({@link #tensorProductsFrom}): from five,
     * where the batched matvec (four sessions per weight read) would read each weight twice or more.
     */
    private int tensorProductsFrom = dev.moa.tasks.kernels.MatVecKernels.BATCH_PASS + 1;

    private Accelerator(Backend backend, CudaContext context, ModelConfig config, LlamaWeights weights) {
        this.backend = backend;
        this.context = context;
        this.config = config;
        this.weights = weights;
    }

    /** The accelerator for {@code choice}, or null for the CPU. */
    public static Accelerator open(DeviceChoice choice, ModelConfig config, LlamaWeights weights) {
        return switch (choice.kind()) {
            case CPU -> null;
            case EMULATOR -> new Accelerator(new EmulatorBackend(), null, config, weights);
            case CUDA -> {
                CudaContext context = CudaContext.open();
                yield new Accelerator(new CudaBackend(context), context, config, weights);
            }
        };
    }

    /** The accelerator running decode steps on {@code backend} (which it then owns and closes). */
    public static Accelerator of(Backend backend, ModelConfig config, LlamaWeights weights) {
        return new Accelerator(backend, null, config, weights);
    }

    public String name() {
        return backend.name();
    }

    /** A session's decode program over its prefilled {@code cache} ({@code cached} positions, up to {@code capacity}). */
    public DeviceDecoder decoder(KvCache cache, int cached, int capacity) {
        return decoder(List.of(new DeviceDecoder.Row(cache, cached, capacity)));
    }

    /** The decode program of several prefilled sessions stepped together, one row each. */
    public synchronized DeviceDecoder decoder(List<DeviceDecoder.Row> rows) {
        if (deviceWeights == null) deviceWeights = new DeviceWeights(config, weights, arena);
        boolean tensorProducts = tensorProductsFrom > 0 && rows.size() >= tensorProductsFrom && tensorCores();
        return new DeviceDecoder(config, deviceWeights, backend, rows, tensorProducts);
    }

    /**
     * Decode steps of at least {@code sessions} sessions multiply BF16 weights on the tensor cores (a GEMM over the
     * sessions, each weight read once), fewer by the batched matvec; 0 keeps the matvec for every batch. For
     * benchmarks that compare the two; the default is {@link dev.moa.tasks.kernels.MatVecKernels#BATCH_PASS} + 1.
     */
    public synchronized void tensorProductsFrom(int sessions) {
        if (sessions < 0) throw new IllegalArgumentException("tensor products from " + sessions + " sessions: expected 0 (never) or more");
        tensorProductsFrom = sessions;
    }

    /**
     * Whether GEMMs may use the tensor cores: always on the emulator; on a CUDA device once {@link
     * dev.moa.tasks.kernels.TensorCoreCheck} found its fragment layout to be the one the kernels assume (checked at
     * first use: the layout is the hardware's to define), else the FFMA kernels and matvecs run, with one line why.
     */
    private boolean tensorCores() {
        if (tensorCores == null) {
            tensorCores = !(backend instanceof CudaBackend) || dev.moa.tasks.kernels.TensorCoreCheck.wrongElements(backend) == 0;
            if (!tensorCores) System.err.println("moa: " + backend.name() + ": the tensor-core check failed; products use the FFMA GEMM and matvecs");
        }
        return tensorCores;
    }

    /**
     * Runs a fresh session's prompt on the device into its {@code cache} (laid out for the prompt) and returns the
     * logits after the last token, or null when this model's weights or heads are ones the device prefill does not
     * take ({@link DevicePrefill#supports}) or the prompt does not fit the device's memory: the caller prefills on
     * the CPU then.
     */
    public synchronized float[] prefill(KvCache cache, int[] tokens) {
        return prefill(cache, tokens, null);
    }

    /**
     * As {@link #prefill(KvCache, int[])}, and when {@code everyPosition} is not null, also hands it the logits of
     * every position from its first wanted one on (perplexity, answer loss), computed on the device.
     */
    public synchronized float[] prefill(KvCache cache, int[] tokens, dev.moa.runtime.model.LlamaModel.PositionLogits everyPosition) {
        if (deviceWeights == null) deviceWeights = new DeviceWeights(config, weights, arena);
        if (!DevicePrefill.supports(config, deviceWeights)) return null;
        try {
            return DevicePrefill.run(config, deviceWeights, backend, cache, tokens, tensorCores(), prefillChunk, everyPosition);
        } catch (dev.moa.tasks.cuda.CudaException e) {
            // a prompt whose stream and keys do not fit the device's free memory runs on the CPU (nothing reached the
            // session's cache: it is read back only after the whole prompt ran)
            if (!"CUDA_ERROR_OUT_OF_MEMORY".equals(e.errorName())) throw e;
            System.err.println("moa: a prompt of " + tokens.length + " tokens does not fit " + backend.name()
                    + "'s free memory for a prefill there; it runs on the CPU");
            return null;
        }
    }

    /** Runs device prompts in chunks of at most {@code tokens} (a multiple of 64): what the tests use to chunk short prompts. */
    synchronized void prefillChunk(int tokens) {
        prefillChunk = tokens;
    }

    @Override
    public void close() {
        backend.close();
        if (context != null) context.close();
        arena.close();
    }
}
