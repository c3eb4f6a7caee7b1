package dev.moa.runtime.cli;

import dev.moa.loader.config.ModelConfig;
import dev.moa.loader.safetensors.DType;
import dev.moa.loader.safetensors.Tensor;
import dev.moa.runtime.Model;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code moa info}: what a model is and what running it costs in memory. */
@Command(name = "info", description = "Architecture, parameter count, dtypes, memory needed.")
final class InfoCommand implements Callable<Integer> {
    @Mixin
    Options.ModelDir dir;

    @Override
    public Integer call() throws Exception {
        try (Model model = Model.load(dir.dir)) {
            ModelConfig c = model.config();
            Map<DType, long[]> byType = new TreeMap<>();
            for (String name : model.llama().weights().tensors()) { // what runs, not buffers the file also holds
                Tensor t = model.weightFiles().tensor(name);
                long[] acc = byType.computeIfAbsent(t.dtype(), k -> new long[2]);
                acc[0]++;
                acc[1] += t.elementCount();
            }
            long weightBytes = model.weightFiles().totalBytes();
            long kvPerToken = 2L * c.numLayers() * c.kvDim() * Float.BYTES;
            System.out.printf("model:         %s (%s)%n", model.directory(), c.modelType());
            System.out.printf("layers:        %d, hidden %d, intermediate %d%n", c.numLayers(), c.hiddenSize(), c.intermediateSize());
            System.out.printf("attention:     %d query heads, %d KV heads (%s), head_dim %d%s%n", c.numHeads(), c.numKvHeads(),
                    c.numHeads() == c.numKvHeads() ? "MHA" : "GQA x" + c.groupSize(), c.headDim(),
                    c.qkvBias() ? ", q/k/v bias" : "");
            System.out.printf("rope:          theta %.0f, scaling %s%n", c.ropeTheta(), c.ropeScaling());
            System.out.printf("vocabulary:    %d, embeddings %s%n", c.vocabSize(), c.tieWordEmbeddings() ? "tied" : "untied");
            System.out.printf("context:       %d positions (max_position_embeddings)%n", c.maxPositions());
            System.out.printf("parameters:    %,d%n", model.parameterCount());
            byType.forEach((t, acc) -> System.out.printf("  %-5s        %d tensors, %,d parameters%n", t, acc[0], acc[1]));
            System.out.printf("weights:       %s (memory-mapped)%n", bytes(weightBytes));
            System.out.printf("KV cache:      %s per token (dense, F32); %s at 4096 tokens; %s at the full context%n",
                    bytes(kvPerToken), bytes(kvPerToken * Math.min(4096, c.maxPositions())), bytes(kvPerToken * c.maxPositions()));
            System.out.printf("memory needed: %s for a 4096-token session%n", bytes(weightBytes + kvPerToken * Math.min(4096, c.maxPositions())));
            System.out.printf("tokenizer:     %s; chat template: %s%n",
                    model.tokenizer().map(t -> "tokenizer.json, " + t.vocabSize() + " tokens").orElse("none"),
                    model.chatTemplate().isPresent() ? "yes" : "none");
        }
        return 0;
    }

    static String bytes(long n) {
        if (n >= 1L << 30) return String.format("%.2f GiB", n / (double) (1L << 30));
        if (n >= 1L << 20) return String.format("%.1f MiB", n / (double) (1L << 20));
        if (n >= 1L << 10) return String.format("%.1f KiB", n / 1024.0);
        return n + " B";
    }
}
