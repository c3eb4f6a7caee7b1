package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import dev.moa.tasks.cuda.DeviceChoice;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The prompt on the device ({@code --device emulator}: the prefill GEMM, RoPE into the MoA cache and block-sparse
 * attention, as a CUDA device runs them) against the CPU's block-sparse prefill on the demo model, in every
 * attention mode: prompts shorter than one 64-token block, not a multiple of it, and past the plans' bands — the
 * last logits within 1e-4 of the largest, and the cache it leaves decodes the same greedy continuation. The same
 * prompts run in 64-token chunks (layer by layer, chunk by chunk) give exactly the logits and the cache of one run.
 */
class DevicePrefillTest {
    static final Path DEMO = EmulatorDecodeTest.DEMO;

    @Test
    void thePromptOnTheDeviceEqualsTheCpusPrefillInEveryMode() throws Exception {
        Random random = new Random(17);
        String plan50 = "moa:" + DEMO.resolve("moa-plan-50.json"), plan25 = "moa:" + DEMO.resolve("moa-plan-25.json");
        // (mode, prompt length): inside one block, across a few, past the plans' bands
        Object[][] cases = {{"dense", 37}, {"dense", 150}, {plan50, 260}, {plan25, 150}, {"uniform:0,0.5", 150}, {"window:16", 260}};
        try (Model cpu = Model.load(DEMO); Model device = Model.load(DEMO, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""));
             Model chunked = Model.load(DEMO, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""))) {
            chunked.accelerator().orElseThrow().prefillChunk(64);
            for (Object[] c : cases) {
                String mode = (String) c[0];
                int length = (Integer) c[1];
                {
                    int[] prompt = random.ints(length, 3, 2000).toArray();
                    int steps = 4;
                    try (Session a = cpu.newSession(length + steps + 1, 64, AttentionMode.parse(mode), steps + 1);
                         Session b = device.newSession(length + steps + 1, 64, AttentionMode.parse(mode), steps + 1);
                         Session s = chunked.newSession(length + steps + 1, 64, AttentionMode.parse(mode), steps + 1)) {
                        String what = mode + ", " + length + "-token prompt";
                        float[] la = a.prefill(prompt), lb = b.prefill(prompt), lc = s.prefill(prompt);
                        EmulatorDecodeTest.assertClose(la, lb, what + ": last logits");
                        assertArrayEquals(lb, lc, what + ": in 64-token chunks, the same last logits");
                        assertEquals(a.kvCacheBytes(), b.kvCacheBytes(), what + ": the same cache");
                        for (int t = 0; t < steps; t++) {
                            int token = Sampler.argmax(la);
                            assertEquals(token, Sampler.argmax(lb), what + ": greedy token " + t);
                            la = a.decode(token);
                            lb = b.decode(token);
                            lc = s.decode(token);
                            EmulatorDecodeTest.assertClose(la, lb, what + ", step " + t);
                            assertArrayEquals(lb, lc, what + ": in 64-token chunks, the same cache (step " + t + ")");
                        }
                    }
                }
            }
        }
    }

    /**
     * A float32 checkpoint's prompt runs on the device too (its GEMMs on the FFMA tiles for F32 weights), where it
     * ran on the CPU: the device reports each layer of a short prompt (the CPU reports none below its chunk), and the
     * last logits and the greedy continuation are the CPU's.
     */
    @Test
    void f32WeightsPrefillOnTheDevice(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path golden = Path.of(System.getProperty("moa.repo.root", "..")).resolve("tests/src/test/resources/golden/llama-linear-f32.json");
        var g = com.google.gson.JsonParser.parseString(java.nio.file.Files.readString(golden)).getAsJsonObject();
        dev.moa.runtime.synthetic.SyntheticModel.write(dir, g.getAsJsonObject("config"), dev.moa.loader.safetensors.DType.F32, g.get("model_seed").getAsLong());
        int[] prompt = new Random(8).ints(45, 3, 200).toArray();
        try (Model cpu = Model.load(dir); Model device = Model.load(dir, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""));
             Session a = cpu.newSession(prompt.length + 4, 64); Session b = device.newSession(prompt.length + 4, 64)) {
            int[] reports = {0};
            b.onPrefillProgress(done -> reports[0]++);
            float[] la = a.prefill(prompt), lb = b.prefill(prompt);
            assertEquals(cpu.config().numLayers(), reports[0], "a report per layer: the prompt ran on the device");
            for (int t = 0; t < 3; t++) {
                EmulatorDecodeTest.assertClose(la, lb, "F32 weights, step " + t);
                int token = Sampler.argmax(la);
                assertEquals(token, Sampler.argmax(lb), "greedy token " + t);
                la = a.decode(token);
                lb = b.decode(token);
            }
        }
    }

    /**
     * A prompt run a piece at a time on the device ({@code Session.prefillStep}, as the server interleaves it with other
     * sessions' decode steps: chunks of layers, as many as the piece's work) gives bit for bit what one prefill gives,
     * whatever the piece, and then decodes the same; a prefill's progress on the device is reported after each chunk
     * of each layer, rising to the prompt's length; and the piece-wise prompt reports its progress in the same units.
     */
    @Test
    void aPromptInPiecesOnTheDeviceEqualsOnePrefill() throws Exception {
        int[] prompt = new Random(23).ints(150, 3, 2000).toArray();
        AttentionMode plan = AttentionMode.parse("moa:" + DEMO.resolve("moa-plan-50.json"));
        try (Model device = Model.load(DEMO, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""))) {
            device.accelerator().orElseThrow().prefillChunk(64); // three chunks a layer
            int layers = device.config().numLayers();
            float[] whole, next;
            java.util.List<Integer> reported = new java.util.ArrayList<>();
            try (Session s = device.newSession(200, 64, plan, 8)) {
                s.onPrefillProgress(reported::add);
                whole = s.prefill(prompt);
                next = s.decode(Sampler.argmax(whole));
            }
            assertEquals(3 * layers, reported.size(), "one report per chunk of each layer: " + reported);
            assertEquals(64 / layers, reported.getFirst(), "the first chunk of the first layer stands for 64 / layers tokens");
            assertEquals(prompt.length, reported.getLast());
            for (int i = 1; i < reported.size(); i++) assertEquals(true, reported.get(i) > reported.get(i - 1), "rising: " + reported);
            // one chunk a call; chunks across layers until 100 tokens' work; all in one call
            for (int piece : new int[] {1, 100, 10_000}) {
                try (Session s = device.newSession(200, 64, plan, 8)) {
                    float[] logits = null;
                    int calls = 0, done = 0;
                    while (logits == null) {
                        logits = s.prefillStep(prompt, piece);
                        calls++;
                        assertEquals(true, s.promptTokensDone() >= done, "progress never falls");
                        done = s.promptTokensDone();
                    }
                    assertEquals(prompt.length, done);
                    int expectedCalls = switch (piece) {
                        case 1 -> 3 * layers;
                        case 100 -> 2; // 100 tokens' work a call: eight chunks (to 107 tokens), then the last four
                        default -> 1;
                    };
                    assertEquals(expectedCalls, calls, "pieces of " + piece + ": calls");
                    assertArrayEquals(whole, logits, "pieces of " + piece + ": the same last logits");
                    assertArrayEquals(next, s.decode(Sampler.argmax(logits)), "pieces of " + piece + ": the same cache");
                }
            }
        }
    }

    /**
     * Every position's logits (perplexity, answer loss, a plan's validation) come from the device too: the same
     * positions from the first wanted one on, in order, each within 1e-4 of the CPU's largest logit, whether the head
     * runs in one pass or (64-token chunks) in several; and the answer loss of {@code Perplexity.sequenceLoss} agrees.
     */
    @Test
    void everyPositionsLogitsComeFromTheDevice() throws Exception {
        int[] tokens = new Random(9).ints(150, 3, 2000).toArray();
        int first = 57;
        String plan = "moa:" + DEMO.resolve("moa-plan-50.json");
        Recording once = new Recording(dev.moa.tasks.emulator.Grid.MAX_SHARED_BYTES), passes = new Recording(dev.moa.tasks.emulator.Grid.MAX_SHARED_BYTES);
        try (Model cpu = Model.load(DEMO); Model device = Model.load(DEMO, once); Model chunked = Model.load(DEMO, passes)) {
            chunked.accelerator().orElseThrow().prefillChunk(64);
            Object[][] cases = {{"dense", device, once, 1}, {plan, chunked, passes, 2}}; // 93 positions: one pass, or passes of 64
            for (Object[] c : cases) {
                String mode = (String) c[0];
                java.util.List<float[]> expected = positionLogits(cpu, mode, tokens, first), actual = positionLogits((Model) c[1], mode, tokens, first);
                assertEquals(tokens.length - first, expected.size(), "the CPU hands every position from the first wanted one");
                assertEquals(expected.size(), actual.size(), mode + ": positions handed over");
                for (int i = 0; i < expected.size(); i++) EmulatorDecodeTest.assertClose(expected.get(i), actual.get(i), mode + ", position " + (first + i));
                assertEquals((int) c[3], ((Recording) c[2]).names.stream().filter(n -> n.startsWith("positions ")).count(),
                        mode + ": the output head's passes ran on the device");
            }
            double a = dev.moa.runtime.eval.Perplexity.sequenceLoss(cpu, AttentionMode.parse("dense"), tokens, first);
            double b = dev.moa.runtime.eval.Perplexity.sequenceLoss(device, AttentionMode.parse("dense"), tokens, first);
            assertEquals(a, b, 1e-4 * Math.abs(a), "answer loss");
        }
    }

    /** The logits of positions first.. of one prefill, in the order handed over (positions checked consecutive). */
    static java.util.List<float[]> positionLogits(Model model, String mode, int[] tokens, int first) {
        java.util.List<float[]> rows = new java.util.ArrayList<>();
        try (Session s = model.newSession(tokens.length, 64, AttentionMode.parse(mode), 0)) {
            s.prefill(tokens, new dev.moa.runtime.model.LlamaModel.PositionLogits() {
                public void accept(int position, float[] logits) {
                    assertEquals(first + rows.size(), position, "positions in order");
                    rows.add(logits.clone());
                }

                public int firstPosition() {
                    return first;
                }
            });
        }
        return rows;
    }

    /**
     * A device whose groups have less shared memory than the tensor-core attention's tiles (head_dim 24 needs 30 KB;
     * sm_86 has 99 KB, too little for head_dim 128's 102 KB) prefills with the FFMA attention, to the same logits; one
     * with enough takes the tensor cores.
     */
    @Test
    void tilesPastTheDevicesSharedMemoryFallBackToTheFfmaAttention() throws Exception {
        int[] prompt = new Random(5).ints(100, 3, 2000).toArray();
        float[] expected = cpuPrefill(prompt, 128, 64);
        for (int shared : new int[] {16 * 1024, dev.moa.tasks.emulator.Grid.MAX_SHARED_BYTES}) {
            Recording backend = new Recording(shared);
            try (Model device = Model.load(DEMO, backend); Session s = device.newSession(128, 64)) {
                EmulatorDecodeTest.assertClose(expected, s.prefill(prompt), shared + " bytes of shared memory");
            }
            // the prompt's pieces given to the device while the one before may still run, never more, all waited for once it is in
            assertTrue(backend.enqueued >= 4, backend.enqueued + " pieces"); // (a piece a layer: the demo model has four)
            assertEquals(2, backend.mostOutstanding, "pieces the device may hold at once: the one running and the next");
            assertEquals(0, backend.outstanding, "pieces not waited for after the prompt");
            boolean tensor = shared > 64 * 1024;
            // the tensor-core attention writes the output projection's parts itself (16 KB groups take no parts at all)
            assertEquals(tensor, backend.methods.contains("blockSparseTensorParts"), shared + " bytes: the tensor-core attention");
            assertEquals(!tensor, backend.methods.contains("blockSparse"), shared + " bytes: the FFMA attention");
            if (tensor) assertFalse(backend.methods.contains("splitRows"), shared + " bytes: the attention's floats split");
            // and RoPE stages the prompt's keys and values as the tensor cores' parts itself, no float copy split after it
            assertEquals(tensor, backend.methods.contains("ropeSplit"), shared + " bytes: keys and values staged as parts");
            assertEquals(!tensor, backend.methods.contains("rope"), shared + " bytes: keys and values staged as floats");
            assertFalse(backend.methods.contains("splitKeysValues"), shared + " bytes: a split pass");
        }
    }

    /**
     * {@code --prompt-precision bf16} ({@link PromptPrecision#BF16}): the prompt's GEMMs and attention take their
     * rounded kernels, and its last logits are the CPU's within what rounding every operand to BF16 costs (a few
     * hundredths of the largest) — not within 1e-4 as the split's, so the rounding is in effect — with the same greedy
     * token; the default stays the split.
     */
    @Test
    void bf16PromptsRoundEachOperandOnce() throws Exception {
        int[] prompt = new Random(9).ints(150, 3, 2000).toArray();
        float[] expected = cpuPrefill(prompt, 160, 8);
        float[][] logits = new float[2][];
        for (PromptPrecision precision : PromptPrecision.values()) {
            Recording backend = new Recording(dev.moa.tasks.emulator.Grid.MAX_SHARED_BYTES);
            try (Model device = Model.load(DEMO, backend); Session s = device.newSession(160, 8)) {
                device.accelerator().orElseThrow().promptPrecision(precision);
                logits[precision.ordinal()] = s.prefill(prompt);
            }
            boolean rounded = precision == PromptPrecision.BF16;
            assertEquals(rounded, backend.methods.contains("blockSparseTensorRoundedParts"), precision + ": the rounded attention");
            assertEquals(!rounded, backend.methods.contains("blockSparseTensorParts"), precision + ": the split attention");
            assertFalse(backend.methods.contains("splitRows"), precision + ": the attention writes its output's parts itself");
            // the layers' products on the pipelined GEMM, its activations in one BF16 part or two (none staged as floats)
            assertEquals(rounded, backend.methods.contains("tile parts 1"), precision + ": products of rounded activations");
            assertEquals(!rounded, backend.methods.contains("tile parts 2"), precision + ": products of split activations");
            assertFalse(backend.methods.contains("bf16Tensor") || backend.methods.contains("bf16TensorRounded"), precision + ": " + backend.methods);
        }
        EmulatorDecodeTest.assertClose(expected, logits[0], "f32 prompt");
        EmulatorDecodeTest.assertClose(expected, logits[1], 3e-2, "bf16 prompt");
        double largest = 0, off = 0;
        for (int i = 0; i < expected.length; i++) {
            largest = Math.max(largest, Math.abs(expected[i]));
            off = Math.max(off, Math.abs(expected[i] - logits[1][i]));
        }
        assertTrue(off > 1e-4 * largest, "bf16 prompt as close as the split's: " + off + " of " + largest);
        assertEquals(Sampler.argmax(expected), Sampler.argmax(logits[1]), "greedy token after a bf16 prompt");
    }

    /** The demo model's last logits after {@code prompt} on the CPU, in a session of {@code context} positions prefilled in chunks of {@code chunk}. */
    static float[] cpuPrefill(int[] prompt, int context, int chunk) throws java.io.IOException {
        try (Model cpu = Model.load(DEMO); Session s = cpu.newSession(context, chunk)) {
            return s.prefill(prompt);
        }
    }

    /** The emulator, reporting {@code shared} bytes per group and noting which kernels ran. */
    static final class Recording implements dev.moa.tasks.graph.Backend {
        final dev.moa.tasks.graph.EmulatorBackend emulator = new dev.moa.tasks.graph.EmulatorBackend();
        final java.util.Set<String> methods = java.util.concurrent.ConcurrentHashMap.newKeySet();
        final java.util.List<String> names = new java.util.concurrent.CopyOnWriteArrayList<>();
        final int shared;

        Recording(int shared) {
            this.shared = shared;
        }

        public String name() {
            return "emulator reporting " + shared + " bytes of shared memory";
        }

        public int sharedBytesPerGroup() {
            return shared;
        }

        public void upload(dev.moa.tasks.kernel.DeviceBuffer buffer) {
            emulator.upload(buffer);
        }

        public void download(dev.moa.tasks.kernel.DeviceBuffer buffer) {
            emulator.download(buffer);
        }

        public void upload(dev.moa.tasks.kernel.DeviceBuffer buffer, long fromByte, long bytes) {
            emulator.upload(buffer, fromByte, bytes);
        }

        public void copy(dev.moa.tasks.kernel.DeviceBuffer from, long fromByte, dev.moa.tasks.kernel.DeviceBuffer to, long toByte, long bytes) {
            emulator.copy(from, fromByte, to, toByte, bytes);
        }

        public void run(dev.moa.tasks.graph.TaskGraph graph) {
            for (dev.moa.tasks.graph.TaskGraph.Task t : graph.tasks()) {
                methods.add(t.method());
                if (t.owner() == dev.moa.tasks.kernels.PipelinedGemm.class && (t.method().equals("tile") || t.method().equals("large"))) {
                    methods.add(t.method() + " parts " + t.args().get(8)); // (w, xh, xl, bias, out, tokens, rows, cols, parts, epilogue)
                }
                names.add(t.name());
            }
            emulator.run(graph);
        }

        /** Pieces given with {@link #enqueueOnce} and not yet waited for; the most at one time; all of them. */
        int outstanding, mostOutstanding, enqueued;

        /** Runs the graph now (the emulator's way) and hands back a handle that counts itself outstanding until waited for. */
        @Override
        public synchronized Pending enqueueOnce(dev.moa.tasks.graph.TaskGraph graph) {
            runOnce(graph);
            enqueued++;
            mostOutstanding = Math.max(mostOutstanding, ++outstanding);
            return new Pending() {
                private boolean waited;

                @Override
                public void await() {
                    synchronized (Recording.this) {
                        if (!waited) outstanding--;
                        waited = true;
                    }
                }
            };
        }

        public void free(dev.moa.tasks.kernel.DeviceBuffer buffer) {
            emulator.free(buffer);
        }

        public void forget(dev.moa.tasks.graph.TaskGraph graph) {
            emulator.forget(graph);
        }

        public void close() {
            emulator.close();
        }
    }

    /** The server's engine over a device model: prompts run on the device, decoding batched there, the CPU's text. */
    @Test
    void theServersEngineOnTheDeviceWritesWhatTheCpuWrites() throws Exception {
        try (Model cpu = Model.load(DEMO); Model device = Model.load(DEMO, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""));
             dev.moa.runtime.serve.Engine engine = new dev.moa.runtime.serve.Engine(device, 4, 4, 1L << 30, 64)) {
            Random random = new Random(23);
            int[][] prompts = {random.ints(40, 3, 2000).toArray(), random.ints(70, 3, 2000).toArray()};
            String[] modes = {"dense", "moa:" + DEMO.resolve("moa-plan-50.json")};
            java.util.List<java.util.concurrent.CompletableFuture<String>> texts = new java.util.ArrayList<>();
            for (int i = 0; i < prompts.length; i++) {
                var text = new java.util.concurrent.CompletableFuture<String>();
                texts.add(text);
                var params = new dev.moa.runtime.generate.GenerationParams(6, dev.moa.runtime.generate.SamplingParams.greedy(), java.util.List.of(), false,
                        AttentionMode.parse(modes[i]));
                engine.submit(prompts[i], params, new dev.moa.runtime.serve.Engine.Listener() {
                    public void text(String piece) {
                    }

                    public void finished(dev.moa.runtime.generate.GenerationResult result) {
                        text.complete(result.text());
                    }

                    public void failed(String message) {
                        text.completeExceptionally(new AssertionError(message));
                    }
                });
            }
            for (int i = 0; i < prompts.length; i++) {
                var params = new dev.moa.runtime.generate.GenerationParams(6, dev.moa.runtime.generate.SamplingParams.greedy(), java.util.List.of(), false,
                        AttentionMode.parse(modes[i]));
                String expected = dev.moa.runtime.generate.Generator.generate(cpu, prompts[i], params, piece -> { }).text();
                assertEquals(expected, texts.get(i).get(120, java.util.concurrent.TimeUnit.SECONDS), modes[i] + ": the CPU's text");
            }
        }
    }

    /**
     * A prompt running in pieces while another session's prompt grows the KV pool under it (a server interleaving
     * them): the pieces after the growth write into the pool's new buffers (the ones before were copied there), so the
     * prompt's logits and its decoding equal the CPU's, and so do the other session's. Where the prefill kept writing
     * into the old buffers, freed by the growth, the emulator would fail on their closed memory.
     */
    @Test
    void aPromptInPiecesFollowsThePoolWhenItGrows() throws Exception {
        Random random = new Random(23);
        AttentionMode plan = AttentionMode.parse("moa:" + DEMO.resolve("moa-plan-50.json")), dense = AttentionMode.parse("dense");
        int[] pa = random.ints(150, 3, 2000).toArray(), pb = random.ints(90, 3, 2000).toArray();
        try (Model cpu = Model.load(DEMO); Model device = Model.load(DEMO, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""));
             Session a0 = cpu.newSession(160, 64, plan, 8); Session b0 = cpu.newSession(300, 64, dense, 8);
             Session a = device.newSession(160, 64, plan, 8); Session b = device.newSession(300, 64, dense, 8)) {
            Accelerator accelerator = device.accelerator().orElseThrow();
            accelerator.prefillChunk(64);
            assertNull(a.prefillStep(pa, 64), "the first piece");
            KvPool pool = accelerator.pool(device.kvFormat());
            int generation = pool.generation();
            float[] lb = b.prefill(pb); // its region does not fit beside a's: the pool grows
            assertTrue(pool.generation() > generation, "the pool grew under a's prompt");
            float[] la = null;
            while (la == null) la = a.prefillStep(pa, 64);
            float[] ea = a0.prefill(pa), eb = b0.prefill(pb);
            EmulatorDecodeTest.assertClose(ea, la, "the prompt the pool grew under");
            EmulatorDecodeTest.assertClose(eb, lb, "the prompt that grew it");
            for (int t = 0; t < 3; t++) {
                int ta = Sampler.argmax(ea), tb = Sampler.argmax(eb);
                ea = a0.decode(ta);
                eb = b0.decode(tb);
                EmulatorDecodeTest.assertClose(ea, a.decode(ta), "a, step " + t);
                EmulatorDecodeTest.assertClose(eb, b.decode(tb), "b, step " + t);
            }
        }
    }
}
