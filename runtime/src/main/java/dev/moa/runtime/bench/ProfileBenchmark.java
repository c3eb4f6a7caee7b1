package dev.moa.runtime.bench;

import dev.moa.loader.config.ModelConfig;
import dev.moa.runtime.Model;
import dev.moa.runtime.model.InfluenceSum;
import dev.moa.runtime.model.LlamaBackward;
import dev.moa.runtime.model.LlamaModel;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.Random;

/**
 * {@code moa bench --profile}: one profiling pass (forward, then backward with the influence maps) on a sequence of
 * random tokens whose last 128 are the answer, against one plain forward pass of the same sequence through the
 * runtime (dense prefill) in the same run; heap measured as the heap pools' peak during the pass and as the buffers
 * the pass holds by construction.
 */
public final class ProfileBenchmark {
    /**
     * @param profileSeconds  one forward + backward with influence
     * @param forwardSeconds  one dense prefill of the same tokens
     * @param peakHeapBytes   heap pools' peak during the profiling pass (garbage included: an upper bound)
     * @param bufferBytes     what the pass allocates by construction: layer inputs, one layer's activations, gradients
     */
    public record Result(int length, double profileSeconds, double forwardSeconds, long peakHeapBytes, long bufferBytes) {
    }

    private ProfileBenchmark() {
    }

    public static Result run(Model model, int length, PrintStream progress) {
        ModelConfig c = model.config();
        int[] tokens = new Random(3).ints(length, 3, c.vocabSize()).toArray();
        int answerStart = length - Math.min(128, length / 4);
        LlamaBackward backward = new LlamaBackward(model.llama());
        double[][][] influence = new double[c.numLayers()][c.numHeads()][(length / 64) * (length / 64)];
        if (progress != null) progress.printf("profile pass at %d tokens ...%n", length);
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) if (p.getType() == MemoryType.HEAP) p.resetPeakUsage();
        long t0 = System.nanoTime();
        backward.influence(tokens, answerStart, InfluenceSum.BLOCKS, influence);
        double profile = (System.nanoTime() - t0) / 1e9;
        long peak = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) if (p.getType() == MemoryType.HEAP) peak += p.getPeakUsage().getUsed();
        if (progress != null) progress.printf("forward pass at %d tokens ...%n", length);
        var session = model.newSession(length, LlamaModel.DEFAULT_CHUNK);
        long t1 = System.nanoTime();
        session.prefill(tokens);
        double forward = (System.nanoTime() - t1) / 1e9;
        return new Result(length, profile, forward, peak, bufferBytes(c, length));
    }

    /** Floats the profiling pass holds: (layers + 1)·N·hidden layer inputs, one layer's state and gradients, the maps. */
    static long bufferBytes(ModelConfig c, int n) {
        long hidden = c.hiddenSize(), q = c.queryDim(), kv = c.kvDim(), inter = c.intermediateSize();
        long inputs = (c.numLayers() + 1L) * n * hidden;
        long state = n * (4 * hidden + 3 * q + 2 * kv + 3 * inter); // x, xb, projected, xMid / q, attention, dO / k, v / gate, up, preGate
        long gradients = n * (3 * hidden + inter + q + 2 * kv);     // dx, dh, tmp / da / dq / dk, dv
        long attention = c.numHeads() * (long) n + 2L * kv * n + 2L * c.numHeads() * c.headDim() * n; // log-sum-exp, K/V transposed, per-head dK/dV
        long maps = 2L * c.numLayers() * c.numHeads() * (n / 64L) * (n / 64L) * 2; // running and per-sample sums, doubles
        return 4 * (inputs + state + gradients + attention) + 4 * maps;
    }
}
