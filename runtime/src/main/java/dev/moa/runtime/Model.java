package dev.moa.runtime;

import dev.moa.loader.chat.ChatTemplate;
import dev.moa.loader.config.ConfigException;
import dev.moa.loader.config.GenerationConfig;
import dev.moa.loader.config.ModelConfig;
import dev.moa.loader.io.InputFiles;
import dev.moa.loader.safetensors.WeightFiles;
import dev.moa.loader.tokenizer.Tokenizer;
import dev.moa.runtime.model.LlamaModel;
import dev.moa.runtime.model.LlamaWeights;
import dev.moa.runtime.device.Accelerator;
import dev.moa.runtime.model.KvFormat;
import dev.moa.tasks.cuda.DeviceChoice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A Hugging Face model directory loaded for inference: configuration, memory-mapped weights, tokenizer and
 * chat template. Immutable after loading and safe to share between threads; each conversation gets its own
 * {@link Session}. Close it to unmap the weight files.
 *
 * <pre>{@code
 * try (Model model = Model.load(Path.of("models/llama"))) {
 *     Session session = model.newSession(4096);
 *     int[] prompt = model.tokenizer().orElseThrow().encode("Once upon a time", true);
 *     float[] logits = session.prefill(prompt);
 * }
 * }</pre>
 */
public final class Model implements AutoCloseable {
    private final Path directory;
    private final ModelConfig config;
    private final GenerationConfig generationConfig;
    private final WeightFiles files;
    private final LlamaModel llama;
    private final Tokenizer tokenizer;
    private final ChatTemplate chatTemplate;
    /** Where decode steps run when not on the CPU; null on the CPU. */
    private final Accelerator accelerator;
    /** How every session's KV cache stores keys and values. */
    private final KvFormat kvFormat;

    private Model(Path directory, ModelConfig config, GenerationConfig generationConfig, WeightFiles files,
                  LlamaModel llama, Tokenizer tokenizer, ChatTemplate chatTemplate, Accelerator accelerator, KvFormat kvFormat) {
        this.accelerator = accelerator;
        this.kvFormat = kvFormat;
        this.directory = directory;
        this.config = config;
        this.generationConfig = generationConfig;
        this.files = files;
        this.llama = llama;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
    }

    /** Loads a model that runs on the CPU. */
    public static Model load(Path directory) throws IOException {
        return load(directory, new DeviceChoice(DeviceChoice.Kind.CPU, ""));
    }

    /**
     * Loads a model whose decode steps run on {@code device} ({@link DeviceChoice#choose} turns {@code --device}
     * into one): the CPU, a CUDA GPU, or the GPU program in the kernel emulator. Prefill runs on the CPU.
     */
    public static Model load(Path directory, DeviceChoice device) throws IOException {
        return load(directory, device, KvFormat.F32);
    }

    /**
     * As {@link #load(Path, DeviceChoice)}, with every session's KV cache stored in {@code kvFormat}: BF16 holds twice
     * the positions (or sessions) in the same memory and halves what decode's attention reads, at BF16's rounding of
     * each key and value.
     */
    public static Model load(Path directory, DeviceChoice device, KvFormat kvFormat) throws IOException {
        return load(directory, (config, weights) -> Accelerator.open(device, config, weights), kvFormat);
    }

    /**
     * Loads a model whose decode steps run on {@code backend}, which the model then owns and closes: a
     * {@code CudaBackend} over a chosen device or driver, an {@code EmulatorBackend}. Prefill runs on the CPU.
     */
    public static Model load(Path directory, dev.moa.tasks.graph.Backend backend) throws IOException {
        return load(directory, backend, KvFormat.F32);
    }

    /** As {@link #load(Path, dev.moa.tasks.graph.Backend)} with KV caches in {@code kvFormat}. */
    public static Model load(Path directory, dev.moa.tasks.graph.Backend backend, KvFormat kvFormat) throws IOException {
        return load(directory, (config, weights) -> Accelerator.of(backend, config, weights), kvFormat);
    }

    private static Model load(Path directory, java.util.function.BiFunction<ModelConfig, LlamaWeights, Accelerator> accelerate,
                              KvFormat kvFormat) throws IOException {
        if (!Files.isDirectory(directory)) throw new IOException(directory + ": model directory not found");
        ModelConfig config = ModelConfig.load(directory);
        GenerationConfig generation = GenerationConfig.load(directory, config.vocabSize()).orElse(GenerationConfig.none());
        Path tokenizerFile = directory.resolve("tokenizer.json");
        // present (even as a broken link or a pipe) means read it, so a bad file is reported rather than ignored
        Tokenizer tokenizer = present(tokenizerFile) ? Tokenizer.load(tokenizerFile) : null;
        if (tokenizer != null) checkFits(tokenizer, tokenizerFile, config);
        Path tokenizerConfig = directory.resolve("tokenizer_config.json");
        ChatTemplate chat = present(tokenizerConfig) ? ChatTemplate.fromTokenizerConfig(tokenizerConfig).orElse(null) : null;
        WeightFiles files = WeightFiles.open(directory);
        try {
            LlamaWeights weights = LlamaWeights.bind(config, files);
            LlamaModel llama = new LlamaModel(config, weights);
            llama.warmUp();
            Accelerator accelerator = accelerate.apply(config, weights);
            return new Model(directory, config, generation, files, llama, tokenizer, chat, accelerator, kvFormat);
        } catch (RuntimeException e) {
            files.close();
            throw e;
        }
    }

    private static boolean present(Path file) {
        return InputFiles.present(file);
    }

    /** Every id the tokenizer can produce must have an embedding row; past it the model would read outside its weights. */
    private static void checkFits(Tokenizer tokenizer, Path file, ModelConfig config) {
        int largest = tokenizer.largestId();
        if (largest < config.vocabSize()) return;
        String token = tokenizer.token(largest);
        throw new ConfigException(file + ": token id " + largest + (token == null ? "" : " ('" + token + "')")
                + " is outside the model's vocabulary of " + config.vocabSize() + " tokens (vocab_size in config.json)");
    }

    /** A new conversation whose KV cache holds {@code contextLength} positions (at most max_position_embeddings). */
    public Session newSession(int contextLength) {
        return newSession(contextLength, LlamaModel.DEFAULT_CHUNK);
    }

    public Session newSession(int contextLength, int prefillChunk) {
        return newSession(contextLength, prefillChunk, new AttentionMode.Dense(), AttentionMode.DEFAULT_ALLOWANCE);
    }

    /**
     * A session with the given attention. For sparse modes, {@code allowance} is the generation budget that,
     * added to the prompt length, gives the N every head's span is computed for.
     */
    public Session newSession(int contextLength, int prefillChunk, AttentionMode attention, int allowance) {
        if (contextLength < 1 || contextLength > config.maxPositions()) {
            throw new ContextOverflowException("context length " + contextLength + " must be between 1 and the model's "
                    + "max_position_embeddings " + config.maxPositions());
        }
        var plan = attention instanceof AttentionMode.Sparse sparse ? sparse.planFor(config, directory.toString()) : null;
        return new Session(llama, accelerator, contextLength, prefillChunk, plan, allowance, kvFormat);
    }

    /**
     * Bytes of the KV cache a session of {@code promptTokens + allowance} positions keeps under {@code attention}, by
     * the span rule, before it is made: a dense cache of every position, or each KV group's sink and ring for the
     * plan's spans at N = prompt + allowance (what a server admits requests by).
     */
    public long kvCacheBytes(AttentionMode attention, int promptTokens, int allowance) {
        int n = (int) Math.min(config.maxPositions(), (long) promptTokens + allowance);
        if (attention instanceof AttentionMode.Sparse sparse) {
            return dev.moa.runtime.model.MoaKvCache.byteSize(config, dev.moa.plans.HeadSpans.of(sparse.planFor(config, directory.toString()), n), kvFormat);
        }
        return dev.moa.runtime.model.DenseKvCache.byteSize(config, n, kvFormat);
    }

    /** How this model's sessions store their keys and values. */
    public KvFormat kvFormat() {
        return kvFormat;
    }

    /** Where decode steps run off the CPU, if anywhere (benchmarks build device steps over their own caches). */
    public java.util.Optional<Accelerator> accelerator() {
        return java.util.Optional.ofNullable(accelerator);
    }

    /** Where decode steps run: "cpu", or the accelerator's name. */
    public String device() {
        return accelerator == null ? "cpu" : accelerator.name();
    }

    public Path directory() {
        return directory;
    }

    public ModelConfig config() {
        return config;
    }

    public LlamaModel llama() {
        return llama;
    }

    public Optional<Tokenizer> tokenizer() {
        return Optional.ofNullable(tokenizer);
    }

    /** The tokenizer, or a clear error when the directory has none. */
    public Tokenizer requireTokenizer() {
        if (tokenizer == null) throw new IllegalStateException(directory + ": no tokenizer.json, so text cannot be encoded (use token ids)");
        return tokenizer;
    }

    public Optional<ChatTemplate> chatTemplate() {
        return Optional.ofNullable(chatTemplate);
    }

    public GenerationConfig generationConfig() {
        return generationConfig;
    }

    /** Tokens that end generation: generation_config.json's eos ids if it has any, else config.json's. */
    public Set<Integer> eosTokenIds() {
        List<Integer> ids = generationConfig.eosTokenIds().isEmpty() ? config.eosTokenIds() : generationConfig.eosTokenIds();
        return new LinkedHashSet<>(ids);
    }

    /** Token to put before a prompt when the tokenizer's post-processor does not already add one; empty if none. */
    public Optional<Integer> bosTokenId() {
        List<Integer> ids = config.bosTokenIds().isEmpty() ? generationConfig.bosTokenIds() : config.bosTokenIds();
        return ids.isEmpty() ? Optional.empty() : Optional.of(ids.get(0));
    }

    /** Parameters that run: vocabulary embedding, all layers and the output head (tied counted once). */
    public long parameterCount() {
        return llama.weights().parameterCount();
    }

    public WeightFiles weightFiles() {
        return files;
    }

    @Override
    public void close() {
        if (accelerator != null) accelerator.close();
        files.close();
    }
}
