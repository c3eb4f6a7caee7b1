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
    /** Whether {@link #freeBytesAfterWeights} uploaded them already. */
    private boolean weightsUploaded;
    /** Every device session's keys and values, one pool per cache format. */
    private final java.util.EnumMap<dev.moa.runtime.model.KvFormat, KvPool> pools = new java.util.EnumMap<>(dev.moa.runtime.model.KvFormat.class);
    /** Whether the device's tensor cores passed {@link dev.moa.tasks.kernels.TensorCoreCheck}; null before the first prompt. */
    private Boolean tensorCores;
    /** Most prompt tokens a device prefill runs at once ({@link DevicePrefill#CHUNK}; tests take smaller chunks). */
    private int prefillChunk = DevicePrefill.CHUNK;
    /**
     * The fewest sessions whose decode step multiplies on the tensor cores ({@link #tensorProductsFrom}): from five,
     * where the batched matvec (four sessions per weight read) would read each weight twice or more.
     */
    private int tensorProductsFrom = dev.moa.tasks.kernels.MatVecKernels.BATCH_PASS + 1;
    /** Whether the grouped decode attention stages its keys and values ({@link #stagedAttention}). */
    private boolean stagedAttention = true;
    /** Whether decode steps' matvecs over few rows share each row's columns among warps ({@link #sharedRows}). */
    private boolean sharedRows = true;
    /** Whether greedy decode steps queue the next step before reading their tokens ({@link #stepAhead}). */
    private boolean stepAhead;
    /** How prompts multiply on the tensor cores ({@link #promptPrecision}). */
    private PromptPrecision promptPrecision = PromptPrecision.F32;

    private Accelerator(Backend backend, CudaContext context, ModelConfig config, LlamaWeights weights) {
        this.backend = backend;
        this.context = context;
        this.config = config;
        this.weights = weights;
        this.stepAhead = backend.runsApart();
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

    /**
     * Device memory free once the model's weights are there (they are uploaded now, where they would be at the first
     * prompt or step): what KV caches, prompts and steps may use. Empty on the emulator, which has no memory of its own.
     */
    public synchronized java.util.OptionalLong freeBytesAfterWeights() {
        if (!weightsUploaded) { // once: serve asks here and again when it reserves the pool (an upload copies every byte)
            for (var buffer : deviceWeights().buffers()) backend.upload(buffer);
            weightsUploaded = true;
        }
        return backend.freeBytes();
    }

    private DeviceWeights deviceWeights() {
        if (deviceWeights == null) deviceWeights = new DeviceWeights(config, weights, arena);
        return deviceWeights;
    }

    /**
     * The decode program of several prefilled sessions stepped together, one row each, over their regions of the KV
     * pool of their caches' format (made for rows without one).
     */
    public synchronized DeviceDecoder decoder(List<DeviceDecoder.Row> rows) {
        deviceWeights();
        boolean tensorProducts = tensorProductsFrom > 0 && rows.size() >= tensorProductsFrom && tensorCores();
        return new DeviceDecoder(config, deviceWeights, backend, pool(rows.getFirst().cache().format()), rows, tensorProducts, stagedAttention, sharedRows, stepAhead);
    }

    /**
     * A session's place on the device for its whole life there: a region of the KV pool of its cache's format, as
     * many slots as its cache's layout has. Close it to give them back.
     */
    public synchronized KvPool.Region kvRegion(KvCache cache) {
        return kvRegions(List.of(cache))[0];
    }

    /** {@link #kvRegion} for several sessions' caches of one format at once: the pool grows at most once for all of them. */
    public synchronized KvPool.Region[] kvRegions(List<KvCache> caches) {
        return pool(caches.getFirst().format()).allocate(caches.stream().mapToLong(c -> c.layout().slots()).toArray());
    }

    /**
     * Makes the KV pool of {@code format} hold {@code bytes} of keys and values now and keep them (a server's KV
     * budget): sessions joining then never grow it, which would copy every cache. At most what the device has free
     * after the weights, less 1 GiB for prompts and activations; nothing on the emulator, which has no memory of its
     * own (its pool grows as sessions come).
     */
    public synchronized void reserveKv(long bytes, dev.moa.runtime.model.KvFormat format) {
        var free = freeBytesAfterWeights();
        if (free.isEmpty()) return;
        KvPool pool = pool(format);
        // (a pool that grows holds its old buffers meanwhile; each slot's position takes 4 bytes besides its keys and values)
        double kvShare = 2.0 * pool.slotBytes() / (2 * pool.slotBytes() + Integer.BYTES);
        long most = (long) ((free.getAsLong() - (1L << 30)) * kvShare);
        if (most > 0) pool.reserve(Math.min(bytes, most));
    }

    /** The KV pool of {@code format}'s caches (made empty at first use). */
    KvPool pool(dev.moa.runtime.model.KvFormat format) {
        return pools.computeIfAbsent(format, f -> new KvPool(backend, f, config.headDim()));
    }

    /**
     * Whether decode steps' grouped attention stages keys and values in shared memory ({@link
     * dev.moa.tasks.kernels.AttentionKernels#decodeStaged}, the default) or reads them as it uses them ({@link
     * dev.moa.tasks.kernels.AttentionKernels#decodeGrouped}): for benchmarks that compare the two. Steps built later.
     */
    public synchronized void stagedAttention(boolean staged) {
        stagedAttention = staged;
    }

    /**
     * Whether the matvecs of decode steps built later (one session's, and the batched ones below the tensor cores)
     * over 16-bit matrices of few rows (a 1B model's q/k/v, output and down projections) share each row's columns
     * among warps ({@link dev.moa.tasks.kernels.MatVecKernels#parts}, {@link dev.moa.tasks.kernels.MatVecKernels#batchParts},
     * {@link dev.moa.tasks.kernels.NormedMatVecKernels#parts}; the default), small ones also asked of the L2 whole
     * before they wait ({@link dev.moa.tasks.kernels.MatVecKernels#PREFETCH_WHOLE}) and the one-session q/k/v product
     * asking the L2 for the attention's keys and values ({@link dev.moa.tasks.kernels.NormedMatVecKernels#PREFETCH_KV}),
     * or take a warp a row (a row pair in the normed products) asking for each row's first kilobyte, as before all
     * three: for benchmarks that compare the two.
     * A prompt's output head over its last token chooses by its rows either way.
     */
    public synchronized void sharedRows(boolean shared) {
        sharedRows = shared;
    }

    /**
     * Whether the greedy decode steps of steps built later queue the next step before they read their tokens ({@link
     * DeviceDecoder#decodeGreedy}), so the device does not wait for the host between tokens: on by default where the
     * device runs apart from the host (a GPU, {@link Backend#runsApart}), off on the emulator, where the step queued
     * ahead would run before the host could go on (tests turn it on there to check it).
     */
    public synchronized void stepAhead(boolean on) {
        stepAhead = on;
    }

    /**
     * How prompts started later multiply on the tensor cores: {@link PromptPrecision#F32} (the default: the CPU's
     * results within 1e-4) or {@link PromptPrecision#BF16} (PyTorch's bf16 arithmetic, a fraction of the tensor-core
     * work). Where the device's tensor cores failed their check, prompts take the FFMA kernels either way.
     */
    public synchronized void promptPrecision(PromptPrecision precision) {
        promptPrecision = java.util.Objects.requireNonNull(precision);
    }

    /**
     * Whether the kernels of steps built later overlap the kernel before each on a CUDA device from sm_90 on
     * (programmatic dependent launch, {@link CudaBackend#dependentLaunch(boolean)}; the default) or run one after
     * another: for benchmarks that compare the two. Nothing on the emulator.
     */
    public synchronized void dependentLaunch(boolean on) {
        if (backend instanceof CudaBackend cuda) cuda.dependentLaunch(on);
    }

    /** Whether steps' kernels are launched overlapping their predecessors (a CUDA device from sm_90 on, {@link #dependentLaunch} on). */
    public boolean overlapsLaunches() {
        return backend instanceof CudaBackend cuda && cuda.overlapsLaunches();
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

    /** How this accelerator's prompts multiply: on the tensor cores where they passed their check, at {@link #promptPrecision}. */
    private TensorProducts promptProducts() {
        return TensorProducts.of(tensorCores(), promptPrecision);
    }

    /**
     * Whether GEMMs may use the tensor cores: always on the emulator; on a CUDA device once {@link
     * dev.moa.tasks.kernels.TensorCoreCheck} found its fragment layout to be the one the kernels assume (checked at
     * first use: the layout is the hardware's to define), else the FFMA kernels and matvecs run, with one line why.
     */
    private boolean tensorCores() {
        if (tensorCores == null) {
            // (every device the JIT targets, sm_80 on, has BF16 mma; CudaAvailability refuses older ones)
            tensorCores = !(backend instanceof CudaBackend) || dev.moa.tasks.kernels.TensorCoreCheck.wrongElements(backend) == 0;
            if (!tensorCores) System.err.println("moa: " + backend.name() + ": the tensor-core check failed; products use the FFMA GEMM and matvecs");
        }
        return tensorCores;
    }

    /**
     * Runs a fresh session's prompt on the device into its {@code cache} (laid out for the prompt; its keys and values
     * read back into it) and returns the logits after the last token, or null when this model's weights or heads are
     * ones the device prefill does not take ({@link DevicePrefill#supports}) or the prompt does not fit the device's
     * memory: the caller prefills on the CPU then.
     */
    public synchronized float[] prefill(KvCache cache, int[] tokens) {
        return prefill(cache, tokens, null, null, null);
    }

    /**
     * As {@link #prefill(KvCache, int[])}, and when {@code everyPosition} is not null, also hands it the logits of
     * every position from its first wanted one on (perplexity, answer loss), computed on the device; {@code progress}
     * (or null) hears after each chunk of each layer how far the prompt got ({@link DevicePrefill#tokensDone}). With a
     * region ({@link #kvRegion}) the prompt's keys and values go straight into it, where the session's decode steps
     * read them (its CPU cache then does not hold the prompt), instead of coming back into {@code cache}. Null when the
     * device does not take the prompt.
     */
    public synchronized float[] prefill(KvCache cache, int[] tokens, dev.moa.runtime.model.LlamaModel.PositionLogits everyPosition,
                                        java.util.function.IntConsumer progress, KvPool.Region into) {
        deviceWeights();
        if (!DevicePrefill.supports(config)) return null;
        try {
            return DevicePrefill.run(config, deviceWeights, backend, cache, tokens, promptProducts(), prefillChunk, everyPosition, progress, into);
        } catch (dev.moa.tasks.cuda.CudaException e) {
            if (!outOfMemory(e, tokens.length)) throw e;
            return null;
        }
    }

    /**
     * {@link #kvRegion}, or null (said in one line) when the device has no memory for it: the session's prompt then
     * comes back to its CPU cache.
     */
    public synchronized KvPool.Region kvRegionIfRoom(KvCache cache) {
        try {
            return kvRegion(cache);
        } catch (dev.moa.tasks.cuda.CudaException e) {
            if (!"CUDA_ERROR_OUT_OF_MEMORY".equals(e.errorName())) throw e;
            System.err.println("moa: " + backend.name() + " has no room for a session's " + cache.byteSize() + "-byte KV cache now");
            return null;
        }
    }

    /**
     * Whether {@code e} is the device running out of memory for a prompt of {@code tokens} tokens, said in one line:
     * such a prompt runs on the CPU (nothing reached the session's CPU cache: it is read back only after the whole
     * prompt ran; a region the prompt was filling is filled from the CPU cache at the first decode step).
     */
    private boolean outOfMemory(dev.moa.tasks.cuda.CudaException e, int tokens) {
        if (!"CUDA_ERROR_OUT_OF_MEMORY".equals(e.errorName())) return false;
        System.err.println("moa: a prompt of " + tokens + " tokens does not fit " + backend.name() + "'s free memory for a prefill there; it runs on the CPU");
        return true;
    }

    /**
     * A fresh session's prompt on the device run a piece at a time (a server interleaving it with other sessions'
     * decode steps), or null when this model's weights or heads are ones the device prefill does not take: run it on
     * the CPU then. Each piece is the next chunk of the next layer; the pieces together compute what
     * {@link #prefill(KvCache, int[])} does, bit for bit.
     */
    public synchronized Prompt startPrompt(KvCache cache, int[] tokens, KvPool.Region into) {
        deviceWeights();
        if (!DevicePrefill.supports(config)) return null;
        TensorProducts products;
        try {
            products = promptProducts(); // the tensor cores are checked at the first prompt: it runs kernels, which need memory too
        } catch (dev.moa.tasks.cuda.CudaException e) {
            if (!outOfMemory(e, tokens.length)) throw e;
            return null;
        }
        return new Prompt(new DevicePrefill(config, deviceWeights, backend, cache, tokens, products, prefillChunk, null, into), tokens.length);
    }

    /** A prompt running on this accelerator a piece at a time ({@link #startPrompt}); close it to give it up and free its memory. */
    public final class Prompt implements AutoCloseable {
        private final DevicePrefill prefill;
        private final int tokens;
        private boolean closed;

        private Prompt(DevicePrefill prefill, int tokens) {
            this.prefill = prefill;
            this.tokens = tokens;
        }

        /**
         * Runs the next piece and says whether the device still has the prompt: false when it ran out of memory for
         * it (said in one line; the prompt is given up, its session's cache untouched: run it on the CPU).
         */
        public boolean advance() {
            synchronized (Accelerator.this) {
                try {
                    prefill.advance();
                    return true;
                } catch (dev.moa.tasks.cuda.CudaException e) {
                    if (!outOfMemory(e, tokens)) throw e;
                    close();
                    return false;
                }
            }
        }

        /** Whether every piece has run: {@link #finish} is next. */
        public boolean piecesDone() {
            return prefill.layersDone();
        }

        /** How far the prompt got, as tokens through the whole model ({@link DevicePrefill#tokensDone}). */
        public int tokensDone() {
            return prefill.tokensDone();
        }

        /**
         * After the last piece: the logits after the prompt, its keys and values in the region it was given (else read
         * back into the session's cache). Frees the rest of the prompt's device memory.
         */
        public float[] finish() {
            synchronized (Accelerator.this) {
                try {
                    return prefill.finish();
                } finally {
                    close();
                }
            }
        }

        @Override
        public void close() {
            synchronized (Accelerator.this) {
                if (closed) return;
                closed = true;
                prefill.close();
            }
        }
    }

    /** Runs device prompts in chunks of at most {@code tokens} (a multiple of 64): what the tests use to chunk short prompts. */
    synchronized void prefillChunk(int tokens) {
        prefillChunk = tokens;
    }

    @Override
    public synchronized void close() {
        pools.values().forEach(KvPool::close);
        backend.close();
        if (context != null) context.close();
        arena.close();
    }
}
