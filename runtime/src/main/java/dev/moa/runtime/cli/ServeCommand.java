package dev.moa.runtime.cli;

import dev.moa.runtime.Model;
import dev.moa.runtime.serve.OpenAiServer;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code moa serve}: the OpenAI-compatible HTTP API over one model, with continuous batching. */
@Command(name = "serve", description = "Serve the model over OpenAI's HTTP API (chat and text completions, streaming) with continuous batching "
        + "of concurrent requests, admitted by KV-cache bytes.")
final class ServeCommand implements Callable<Integer> {
    @Mixin
    Options.ModelDir model;

    @Mixin
    Options.Attention attention;

    @Mixin
    Options.Device device;

    @Option(names = "--host", paramLabel = "ADDRESS", defaultValue = "127.0.0.1", description = "address to listen on (default: ${DEFAULT-VALUE}, this machine only)")
    String host;

    @Option(names = "--port", paramLabel = "N", defaultValue = "8080", description = "port (default: ${DEFAULT-VALUE}; 0 = any free one)")
    int port;

    @Option(names = "--max-batch", paramLabel = "B", defaultValue = "16", description = "most requests decoding together (default: ${DEFAULT-VALUE})")
    int maxBatch;

    @Option(names = "--max-queue", paramLabel = "Q", defaultValue = "64", description = "most requests waiting; past it a request gets 429 (default: ${DEFAULT-VALUE})")
    int maxQueue;

    @Option(names = "--kv-budget", paramLabel = "BYTES", description = "KV-cache bytes the admitted requests may hold together, e.g. 2G "
            + "(default: on a GPU its memory free after the weights less a tenth for prompts and steps, reserved at startup; on the CPU a quarter of the JVM's heap)")
    String kvBudget;

    @Option(names = "--prefill-chunk", paramLabel = "TOKENS",
            description = "prompt tokens run between two decode steps, so a long prompt does not stall the others; on a device, that much "
                    + "work (the prompt runs there layer by layer) (default: 256 on the CPU, 2048 on a device)")
    Integer prefillChunk;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "256", description = "new tokens of a request that names no max_tokens (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--max-body", paramLabel = "BYTES", defaultValue = "4M", description = "largest request body; larger ones get 413 (default: ${DEFAULT-VALUE})")
    String maxBody;

    @Option(names = "--api-key", paramLabel = "KEY", description = "require 'Authorization: Bearer KEY' (default: the MOA_API_KEY environment variable, else none)")
    String apiKey;

    @Option(names = "--model-name", paramLabel = "ID", description = "the model's id in the API (default: the model directory's name)")
    String modelName;

    @Override
    public Integer call() throws Exception {
        Options.require(port >= 0 && port <= 65535, "--port must be in 0..65535, got " + port);
        Options.require(maxBatch >= 1 && maxBatch <= 1024, "--max-batch must be in 1..1024, got " + maxBatch);
        Options.require(maxQueue >= 0 && maxQueue <= 1_000_000, "--max-queue must be in 0..1000000, got " + maxQueue);
        Options.require(prefillChunk == null || prefillChunk >= 1, "--prefill-chunk must be at least 1, got " + prefillChunk);
        Options.require(maxTokens >= 1, "--max-tokens must be at least 1, got " + maxTokens);
        long body = bytes(maxBody, "--max-body");
        String key = apiKey != null ? apiKey : System.getenv("MOA_API_KEY");
        try (Model loaded = ModelLoading.load(model.dir, device)) {
            long budget = kvBudget != null ? bytes(kvBudget, "--kv-budget")
                    : defaultKvBudget(loaded.accelerator().map(a -> a.freeBytesAfterWeights()).orElse(java.util.OptionalLong.empty()),
                            Runtime.getRuntime().maxMemory());
            String id = modelName != null ? modelName : loaded.directory().toAbsolutePath().normalize().getFileName().toString();
            // a device runs prompts far faster than the CPU: larger pieces keep its prefill efficient at little cost to the others
            int piece = prefillChunk != null ? prefillChunk : loaded.accelerator().isPresent() ? 2048 : 256;
            var config = new OpenAiServer.Config(host, port, maxBatch, maxQueue, budget, piece, maxTokens, body,
                    key == null || key.isEmpty() ? null : key, id, attention.mode);
            try (OpenAiServer server = new OpenAiServer(loaded, config)) {
                System.err.printf("serving %s as '%s' on http://%s:%d/v1 (%s attention; batch up to %d, queue %d, KV budget %s%s)%n", loaded.directory(), id,
                        host, server.port(), attention.mode, maxBatch, maxQueue, InfoCommand.bytes(budget), config.apiKey() == null ? "" : ", API key required");
                CountDownLatch stop = new CountDownLatch(1);
                Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
                stop.await();
            }
        }
        return 0;
    }

    /**
     * The KV budget when {@code --kv-budget} is not given. On a device with {@code deviceFree} bytes free after the
     * weights: that less a tenth (at least 1 GiB) kept for prompts and steps' activations; the budget is the device's
     * KV pool, reserved at startup, where every session's cache stays while the batch changes around it (the heap
     * holds none of it). Elsewhere (the CPU, the emulator): a quarter of the heap, where caches live.
     */
    static long defaultKvBudget(java.util.OptionalLong deviceFree, long maxHeap) {
        if (deviceFree.isEmpty()) return maxHeap / 4;
        long free = deviceFree.getAsLong(), budget = free - Math.max(1L << 30, free / 10);
        if (budget < 1L << 20) {
            throw new UsageException("the device has " + InfoCommand.bytes(free) + " free after the model's weights, too little for KV caches by default; "
                    + "give --kv-budget to use it anyway");
        }
        return budget;
    }

    /** A byte count with an optional K, M or G suffix (powers of 1024). */
    static long bytes(String text, String option) {
        String t = text.trim().toUpperCase();
        long unit = 1;
        if (t.endsWith("B")) t = t.substring(0, t.length() - 1);
        if (t.endsWith("K")) unit = 1L << 10;
        else if (t.endsWith("M")) unit = 1L << 20;
        else if (t.endsWith("G")) unit = 1L << 30;
        if (unit > 1) t = t.substring(0, t.length() - 1);
        try {
            double value = Double.parseDouble(t);
            Options.require(value > 0 && value * unit < Long.MAX_VALUE, option + " must be a positive number of bytes, got " + text);
            return (long) (value * unit);
        } catch (NumberFormatException e) {
            throw new UsageException(option + " must be a number of bytes like 512M or 2G, got " + text);
        }
    }
}
