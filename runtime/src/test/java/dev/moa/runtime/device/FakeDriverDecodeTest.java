package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.BatchDecoder;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.generate.SamplingParams;
import dev.moa.tasks.cuda.CudaContext;
import dev.moa.tasks.cuda.FakeCuda;
import dev.moa.tasks.graph.CudaBackend;
import dev.moa.tasks.jit.KernelCache;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend's whole decode path through the real driver binding, on the fake driver whose launches compute
 * (each kernel of a launch or a graph replay runs over the fake's device memory): weights uploaded, the step
 * captured once, then replayed per token with only the step buffer rewritten, logits downloaded. It must decode the
 * demo model as the CPU does, with one graph launch per token, no capture after the first token and no device
 * allocation after it; and a batch of sessions likewise.
 */
class FakeDriverDecodeTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");

    @Test
    void freeMemoryAfterTheWeightsIsTheDevicesLessWhatTheWeightsTake() throws Exception {
        var driver = FakeCuda.freshDriver();
        try (Model gpu = Model.load(DEMO, new CudaBackend(CudaContext.open(driver, 0), new KernelCache(null)));
             java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            long weights = 0;
            for (var buffer : new DeviceWeights(gpu.config(), gpu.llama().weights(), arena).buffers()) weights += buffer.memory().byteSize();
            assertTrue(weights > 0);
            long uploaded = FakeCuda.hostToDeviceBytes();
            long free = gpu.accelerator().orElseThrow().freeBytesAfterWeights().orElseThrow();
            assertEquals((24L << 30) - weights, free, "the fake's 24 GiB less every weight buffer, uploaded now");
            long weightUpload = FakeCuda.hostToDeviceBytes() - uploaded;
            assertTrue(weightUpload >= weights, weightUpload + " bytes uploaded for " + weights + " bytes of weights");
            assertEquals(free, gpu.accelerator().orElseThrow().freeBytesAfterWeights().orElseThrow());
            assertEquals(uploaded + weightUpload, FakeCuda.hostToDeviceBytes(), "the weights uploaded once: nothing sent the second time");
            // a server's KV budget reserved as the pool: keys, values and a position per slot, made now on the device
            Accelerator accelerator = gpu.accelerator().orElseThrow();
            long slotBytes = (long) gpu.config().headDim() * Float.BYTES, slots = (256L << 20) / (2 * slotBytes);
            accelerator.reserveKv(256L << 20, dev.moa.runtime.model.KvFormat.F32);
            long placeholders = 2 * 8 * 2; // the BF16 buffers an F32 pool passes its kernels, one vector each
            assertEquals(free - slots * (2 * slotBytes + Integer.BYTES) - placeholders, accelerator.freeBytesAfterWeights().orElseThrow());
            // a budget past the device's memory reserves what it has, less 1 GiB (a device of the weights, the F32 pool
            // above and 1.25 GiB here: the fake zeroes a new pool for real)
            long taken = (24L << 30) - accelerator.freeBytesAfterWeights().orElseThrow();
            FakeCuda.setTotalMemory(taken + (1L << 30) + (256L << 20));
            accelerator.reserveKv(100L << 30, dev.moa.runtime.model.KvFormat.BF16);
            long left = accelerator.freeBytesAfterWeights().orElseThrow();
            assertTrue(left > (1L << 30) - 1024 && left < (1L << 30) + (20L << 20), left + " bytes left"); // (rounding: bytes)
        }
        try (Model emulator = Model.load(DEMO, new dev.moa.tasks.cuda.DeviceChoice(dev.moa.tasks.cuda.DeviceChoice.Kind.EMULATOR, ""))) {
            assertTrue(emulator.accelerator().orElseThrow().freeBytesAfterWeights().isEmpty(), "the emulator has no memory of its own");
        }
    }

    @Test
    void aCapturedStepReplaysEveryTokenAndDecodesAsTheCpuDoes() throws Exception {
        var driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        Random random = new Random(5);
        try (Model cpu = Model.load(DEMO);
             Model gpu = Model.load(DEMO, new CudaBackend(CudaContext.open(driver, 0), new KernelCache(null)))) {
            assertTrue(gpu.device().startsWith("cuda: "), gpu.device());
            int[] prompt = random.ints(70, 3, 2000).toArray();
            int steps = 6;
            AttentionMode plan = AttentionMode.parse("moa:" + DEMO.resolve("moa-plan-50.json"));
            try (Session a = cpu.newSession(200, 64, plan, steps + 5); Session b = gpu.newSession(200, 64, plan, steps + 5)) {
                long beforePrefill = FakeCuda.captureCount();
                float[] expected = a.prefill(prompt), actual = b.prefill(prompt); // the prompt too runs on the device: one graph
                // the prompt (and the first prompt's tensor-core check) run once: launched directly, nothing captured
                assertEquals(beforePrefill, FakeCuda.captureCount(), "a prompt is not captured into a graph");
                EmulatorDecodeTest.assertClose(expected, actual, "the prompt's last logits");
                long prefillCaptures = FakeCuda.captureCount();
                long graphs = 0, captures = 0, allocations = 0, launches = 0;
                for (int t = 0; t < steps; t++) {
                    float[][] next = greedyStep(a, b, expected, actual, t);
                    expected = next[0];
                    actual = next[1];
                    if (t == 0) {
                        graphs = FakeCuda.graphLaunchCount();
                        captures = FakeCuda.captureCount();
                        allocations = FakeCuda.allocationCount();
                        launches = FakeCuda.launchCount();
                        assertEquals(prefillCaptures + 1, captures, "the step is captured at the first token");
                        continue;
                    }
                    assertEquals(graphs + t, FakeCuda.graphLaunchCount(), "one graph launch per token");
                    assertEquals(captures, FakeCuda.captureCount(), "no capture after the first token");
                    assertEquals(allocations, FakeCuda.allocationCount(), "no device allocation after the first token");
                    assertEquals(launches + t * b.deviceStep().orElseThrow().tasks().size(), FakeCuda.launchCount(),
                            "each replay runs every kernel of the step (the argmax too: it says whether every logit is finite)");
                }
                // sampled tokens: drawn on the device by a second graph, captured at the first of them, the host's draws
                SamplingParams sampling = new SamplingParams(0.9, 0, 0.95, 8);
                Sampler onHost = new Sampler(sampling), onDevice = new Sampler(sampling);
                int token = Sampler.argmax(expected);
                long beforeDraws = FakeCuda.captureCount();
                for (int t = 0; t < 3; t++) {
                    long waits = FakeCuda.waitCount();
                    int drawn = b.decodeDrawing(token, onDevice);
                    if (t > 0) assertEquals(waits + 1, FakeCuda.waitCount(), "the step's scalars up, the step and its tokens down: one wait");
                    assertEquals(FakeCuda.graphLaunchCount(), FakeCuda.graphLaunchesAtWait(), "sampled token " + t + ": the next step queued before the wait");
                    assertNull(FakeCuda.launchFailure(), "every kernel ran");
                    assertEquals(onHost.next(a.decode(token)), drawn, "sampled token " + t);
                    token = drawn;
                }
                assertEquals(beforeDraws + 1, FakeCuda.captureCount(), "the drawing step is captured once");
            }

            // two sessions stepped together: the batched step through the same driver
            BatchDecoder batch = new BatchDecoder(gpu, 2), batch3 = new BatchDecoder(gpu, 3);
            try (Session x = gpu.newSession(120, 64, AttentionMode.parse("window:16"), 8); Session y = gpu.newSession(120, 64, AttentionMode.parse("dense"), 8);
                 Session x0 = cpu.newSession(120, 64, AttentionMode.parse("window:16"), 8); Session y0 = cpu.newSession(120, 64, AttentionMode.parse("dense"), 8)) {
                int[] px = random.ints(40, 3, 2000).toArray(), py = random.ints(23, 3, 2000).toArray();
                int[] tokens = {Sampler.argmax(x.prefill(px)), Sampler.argmax(y.prefill(py))};
                float[] ex = x0.prefill(px), ey = y0.prefill(py);
                for (int t = 0; t < 4; t++) {
                    float[][] rows = batch.step(List.of(x, y), tokens);
                    assertNull(FakeCuda.launchFailure(), "every kernel ran");
                    ex = x0.decode(tokens[0]);
                    ey = y0.decode(tokens[1]);
                    EmulatorDecodeTest.assertClose(ex, rows[0], "batched row 0, step " + t);
                    EmulatorDecodeTest.assertClose(ey, rows[1], "batched row 1, step " + t);
                    tokens = new int[] {Sampler.argmax(ex), Sampler.argmax(ey)};
                }
                // x alone, y alone, then both again in the other order: each time a new step over the same regions of
                // the KV pool, nothing copied (the CPU caches hold the prompts only: a cache rebuilt from them would
                // lose the decoded tokens), and a step left empty closes
                int sharedStepAllocations = FakeCuda.liveAllocations();
                long copies = FakeCuda.deviceCopyCount();
                EmulatorDecodeTest.assertClose(x0.decode(tokens[0]), x.decode(tokens[0]), "x alone, out of the batch");
                assertTrue(FakeCuda.liveAllocations() > sharedStepAllocations, "the batch's step stays while y is in it");
                EmulatorDecodeTest.assertClose(y0.decode(tokens[1]), y.decode(tokens[1]), "y alone, out of the batch");
                ex = x0.decode(tokens[0] + 1);
                ey = y0.decode(tokens[1] + 1);
                float[][] rows = batch.step(List.of(y, x), new int[] {tokens[1] + 1, tokens[0] + 1});
                EmulatorDecodeTest.assertClose(ey, rows[0], "together again, row 0");
                EmulatorDecodeTest.assertClose(ex, rows[1], "together again, row 1");
                assertEquals(copies, FakeCuda.deviceCopyCount(), "no cache copied when the batch changes");
                // a new session joins between them: its region filled from its prompt's keys and values on the device
                int nextX;
                try (Session z = gpu.newSession(120, 64, AttentionMode.parse("dense"), 8); Session z0 = cpu.newSession(120, 64, AttentionMode.parse("dense"), 8)) {
                    int[] pz = random.ints(30, 3, 2000).toArray();
                    int tz = Sampler.argmax(z.prefill(pz));
                    z0.prefill(pz);
                    int[] next = {Sampler.argmax(ex), tz, Sampler.argmax(ey)};
                    rows = batch3.step(List.of(x, z, y), next);
                    float[] expectedX = x0.decode(next[0]);
                    EmulatorDecodeTest.assertClose(expectedX, rows[0], "three, row 0");
                    nextX = Sampler.argmax(expectedX);
                    EmulatorDecodeTest.assertClose(z0.decode(next[1]), rows[1], "three, row 1 (new to the device)");
                    EmulatorDecodeTest.assertClose(y0.decode(next[2]), rows[2], "three, row 2");
                }
                // a session whose region needs the pool to grow when the device has no memory for it: its prompt runs on
                // the device all the same and comes back to its CPU cache, the pool stays as it was (nothing copied,
                // nothing left behind) and the others decode on; at its first token the pool grows, the steps built over
                // its old buffers are rebuilt, and every session decodes on where it was
                try (Session big = gpu.newSession(400, 64, AttentionMode.parse("dense"), 8); Session big0 = cpu.newSession(400, 64, AttentionMode.parse("dense"), 8)) {
                    int[] pb = random.ints(30, 3, 2000).toArray();
                    int live = FakeCuda.liveAllocations();
                    copies = FakeCuda.deviceCopyCount();
                    FakeCuda.failNext("cuMemAlloc_v2", 2); // CUDA_ERROR_OUT_OF_MEMORY for the grown pool's first buffer
                    float[] promptLogits = big.prefill(pb);
                    EmulatorDecodeTest.assertClose(big0.prefill(pb), promptLogits, "the prompt without a region");
                    int tb = Sampler.argmax(promptLogits);
                    assertEquals(live, FakeCuda.liveAllocations(), "the failed growth's memory freed, the prompt's too");
                    assertEquals(copies, FakeCuda.deviceCopyCount(), "nothing copied");
                    float[] expectedX = x0.decode(nextX);
                    EmulatorDecodeTest.assertClose(expectedX, x.decode(nextX), "x after a failed growth");
                    DeviceDecoder before = x.deviceStep().orElseThrow();
                    EmulatorDecodeTest.assertClose(big0.decode(tb), big.decode(tb), "the session that needed the growth");
                    assertTrue(before.stale(), "x's step was built over the pool's old buffers");
                    int again = Sampler.argmax(expectedX);
                    EmulatorDecodeTest.assertClose(x0.decode(again), x.decode(again), "x in a step rebuilt over the grown pool");
                }
                assertNull(FakeCuda.launchFailure(), "every kernel ran");
            }
        }
        assertEquals(0, FakeCuda.liveAllocations(), "closing the model frees its device memory");
    }

    /**
     * The JIT's PTX itself, as the driver received it, run by the PTX interpreter over the fake device's memory
     * (the other tests run each kernel's Java source in the emulator): after a prompt prefilled on the device (its
     * kernels in the emulator: the interpreter needs a minute for the prompt's GEMMs, whose PTX
     * TranslationFidelityTest checks), the captured decode step and its replay with a rewritten step buffer, under a
     * MoA plan, compute what the CPU computes. The device is a Hopper (compute capability 9.0), as the GPUs moa is
     * measured on: each kernel of the step is launched to overlap the one before it, and its PTX is checked to wait
     * for it before touching global memory.
     */
    @Test
    void theJitsOwnPtxDecodesAsTheCpuDoes() throws Exception {
        var driver = FakeCuda.freshDriver();
        FakeCuda.setDevices(1, 9, 0); // Hopper, as the lent GPUs: every kernel of the step waits for the one before it
        FakeCuda.executeLaunches(FakeCuda.Execution.EMULATOR);
        try (Model cpu = Model.load(DEMO);
             Model gpu = Model.load(DEMO, new CudaBackend(CudaContext.open(driver, 0), new KernelCache(null)))) {
            int[] prompt = new Random(11).ints(37, 3, 2000).toArray();
            AttentionMode plan = AttentionMode.parse("moa:" + DEMO.resolve("moa-plan-50.json"));
            try (Session a = cpu.newSession(64, 64, plan, 4); Session b = gpu.newSession(64, 64, plan, 4)) {
                float[] expected = a.prefill(prompt), actual = b.prefill(prompt);
                EmulatorDecodeTest.assertClose(expected, actual, "the prompt's last logits");
                FakeCuda.executeLaunches(FakeCuda.Execution.PTX);
                long graphs = FakeCuda.graphLaunchCount(), interpreted = FakeCuda.interpretedLaunchCount(),
                        overlapping = FakeCuda.programmaticLaunchCount();
                for (int t = 0; t < 2; t++) {
                    float[][] next = greedyStep(a, b, expected, actual, t);
                    expected = next[0];
                    actual = next[1];
                }
                assertEquals(graphs + 2, FakeCuda.graphLaunchCount(), "both steps were graph replays");
                int tasks = b.deviceStep().orElseThrow().tasks().size(); // (the argmax too: it says whether every logit is finite)
                assertEquals(interpreted + 2L * tasks, FakeCuda.interpretedLaunchCount(), "every kernel of both steps ran as PTX");
                // each overlapping the one before it (programmatic dependent launch), its PTX touching no global memory
                // before its wait (the interpreter refuses that)
                assertEquals(overlapping + 2L * tasks, FakeCuda.programmaticLaunchCount(), "every kernel of the step launched to overlap");
            }
        } finally {
            FakeCuda.executeLaunches(FakeCuda.Execution.EMULATOR);
        }
    }

    /**
     * A prompt the device has no memory for runs on the CPU (one line says so); the session then decodes on the device
     * from its region of the KV pool (reserved first here, as a server does, so the prompt's own buffers are the first
     * memory it asks for).
     */
    @Test
    void aPromptTheDeviceCannotHoldRunsOnTheCpu() throws Exception {
        var driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        int[] prompt = new Random(8).ints(90, 3, 2000).toArray();
        try (Model cpu = Model.load(DEMO);
             Model gpu = Model.load(DEMO, new CudaBackend(CudaContext.open(driver, 0), new KernelCache(null)));
             Session a = cpu.newSession(200); Session b = gpu.newSession(200)) {
            gpu.accelerator().orElseThrow().reserveKv(64L << 20, gpu.kvFormat());
            int liveBefore = FakeCuda.liveAllocations();
            FakeCuda.failNext("cuMemAlloc_v2", 2); // CUDA_ERROR_OUT_OF_MEMORY at the prompt's first allocation
            float[] expected = a.prefill(prompt), actual = b.prefill(prompt);
            EmulatorDecodeTest.assertClose(expected, actual, "the prompt's last logits, prefilled on the CPU");
            assertEquals(liveBefore, FakeCuda.liveAllocations(), "the failed attempt left no device memory behind");
            int token = Sampler.argmax(expected);
            EmulatorDecodeTest.assertClose(a.decode(token), b.decode(token), "the next token, decoded on the device");
            assertNull(FakeCuda.launchFailure(), "every kernel ran");
        }
    }

    /**
     * A prompt run in pieces (as the server runs it) whose device memory runs out after its first piece: given up on
     * the device (its memory freed), run on the CPU from its start, the same logits; decoding then goes on on the device.
     * (A prompt's keys and values go into its session's region of the KV pool: nothing else of the prompt stays.)
     */
    @Test
    void aPromptInPiecesThatRunsOutOfDeviceMemoryFinishesOnTheCpu() throws Exception {
        var driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        int[] prompt = new Random(12).ints(90, 3, 2000).toArray();
        AttentionMode plan = AttentionMode.parse("moa:" + DEMO.resolve("moa-plan-50.json"));
        try (Model cpu = Model.load(DEMO);
             Model gpu = Model.load(DEMO, new CudaBackend(CudaContext.open(driver, 0), new KernelCache(null)));
             Session a = cpu.newSession(200, 64, plan, 8); Session b = gpu.newSession(200, 64, plan, 8)) {
            try (Session warm = gpu.newSession(16)) {
                warm.prefill(new int[] {5, 6}); // the first prompt checks the tensor cores: done before counting memory
            }
            gpu.accelerator().orElseThrow().reserveKv(64L << 20, gpu.kvFormat()); // as a server does: regions take no new memory
            int liveBefore = FakeCuda.liveAllocations();
            try (Session unused = gpu.newSession(200, 64, plan, 8)) {
                unused.prefill(prompt); // its keys and values wait in its region for a first decode step that never comes
                assertEquals(liveBefore, FakeCuda.liveAllocations(), "the prompt's keys and values are in the pool; nothing else stays");
            }
            float[] expected = a.prefill(prompt);
            assertNull(b.prefillStep(prompt, 1), "one chunk of the first layer");
            assertTrue(b.promptTokensDone() > 0 && FakeCuda.liveAllocations() > liveBefore, "the prompt holds device memory");
            FakeCuda.failNext("cuMemAlloc_v2", 2); // CUDA_ERROR_OUT_OF_MEMORY at the next layer's cache tables
            float[] actual = null;
            while (actual == null) actual = b.prefillStep(prompt, 1);
            assertEquals(liveBefore, FakeCuda.liveAllocations(), "the given-up prompt left no device memory behind");
            assertEquals(prompt.length, b.promptTokensDone());
            EmulatorDecodeTest.assertClose(expected, actual, "the prompt's last logits, finished on the CPU");
            int token = Sampler.argmax(expected);
            EmulatorDecodeTest.assertClose(a.decode(token), b.decode(token), "the next token, decoded on the device");
            assertNull(FakeCuda.launchFailure(), "every kernel ran");
        }
    }

    /** Sessions on different threads share the model's backend: their steps take turns and each decodes as alone. */
    @Test
    void sessionsOnSeveralThreadsShareTheDevice() throws Exception {
        var driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        try (Model cpu = Model.load(DEMO);
             Model gpu = Model.load(DEMO, new CudaBackend(CudaContext.open(driver, 0), new KernelCache(null)))) {
            int threads = 3, steps = 4;
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
            try {
                List<java.util.concurrent.Future<int[][]>> runs = new java.util.ArrayList<>();
                for (int k = 0; k < threads; k++) {
                    int[] prompt = new Random(k).ints(30 + 11 * k, 3, 2000).toArray();
                    runs.add(pool.submit(() -> new int[][] {greedy(gpu, prompt, steps), greedy(cpu, prompt, steps)}));
                }
                for (var run : runs) {
                    int[][] tokens = run.get();
                    org.junit.jupiter.api.Assertions.assertArrayEquals(tokens[1], tokens[0], "a thread's session decodes as on the CPU");
                }
            } finally {
                pool.shutdown();
            }
            assertNull(FakeCuda.launchFailure(), "every kernel ran");
        }
    }

    /**
     * One greedy token through both sessions: both logits pick the same token, every kernel ran, and the next logits
     * agree. Returns {CPU's, device's} next logits.
     */
    /**
     * On a CUDA device a greedy step queues the next one before the host reads its tokens: after the first token, each
     * token is one graph replay, queued before the host waited for the one before it, with nothing uploaded (the argmax
     * moved the step buffer on, on the device), its tokens read through page-locked memory (two blocks, reused: the
     * fake delivers such a copy only when the host waits); the tokens are the CPU's, also when the host feeds another
     * token than the one queued; nothing is queued past the session's last position; and closing frees it all.
     */
    @Test
    void greedyStepsQueueTheNextBeforeTheHostReadsTheirTokens() throws Exception {
        var driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        int[] prompt = new Random(9).ints(40, 3, 2000).toArray();
        int steps = 7, other = 4; // (at step `other` the host feeds a token of its own)
        try (Model cpu = Model.load(DEMO); Model gpu = Model.load(DEMO, new CudaBackend(CudaContext.open(driver, 0), new KernelCache(null)))) {
            try (Session a = cpu.newSession(prompt.length + steps); Session b = gpu.newSession(prompt.length + steps)) {
                int token = Sampler.argmax(a.prefill(prompt));
                assertEquals(token, Sampler.argmax(b.prefill(prompt)));
                for (int t = 0; t < steps; t++) {
                    int fed = t == other ? (token + 5) % 2000 : token;
                    long graphs = FakeCuda.graphLaunchCount(), sent = FakeCuda.hostToDeviceBytes();
                    token = Sampler.argmax(a.decode(fed));
                    assertEquals(token, b.decodeGreedy(fed), "step " + t);
                    assertNull(FakeCuda.launchFailure(), "every kernel ran");
                    boolean last = t == steps - 1;
                    if (t > 0 && t != other) {
                        assertEquals(graphs + (last ? 0 : 1), FakeCuda.graphLaunchCount(), "step " + t + ": "
                                + (last ? "the step queued ahead taken, none queued past the last position" : "one replay a token"));
                        assertEquals(sent, FakeCuda.hostToDeviceBytes(), "step " + t + ": nothing uploaded");
                    }
                    if (!last) {
                        assertEquals(FakeCuda.graphLaunchCount(), FakeCuda.graphLaunchesAtWait(), "step " + t + ": the next step queued before the wait");
                    }
                    assertTrue(FakeCuda.livePinned() <= 2, FakeCuda.livePinned() + " blocks of page-locked memory");
                }
            }
        }
        assertEquals(0, FakeCuda.livePinned(), "the page-locked memory freed with the model");
        assertEquals(0, FakeCuda.liveAllocations(), "and its device memory");
    }

    /**
     * Profiling a step (bench decode --profile) replays one step over and over, and leaves every cache as it was: it
     * replays the step queued ahead (the host's next, which it writes again), not a step moved on by each replay's
     * argmax, which here would pass the session's end and wrap onto the dense cache's first slot past the sink. The
     * session decodes on as the CPU does. (Replaying an older step of the chain would overwrite a ring slot only once
     * the ring had wrapped, 64 steps past the sink at least: too slow for the emulated kernels; so is the in-graph
     * profile, a replay of every prefix. Both profiles take the same graph.)
     */
    @Test
    void profilingAStepLeavesTheSessionWhereItWas() throws Exception {
        var driver = FakeCuda.freshDriver();
        FakeCuda.executeLaunches();
        int[] prompt = new Random(10).ints(20, 3, 2000).toArray();
        try (Model cpu = Model.load(DEMO); Model gpu = Model.load(DEMO, new CudaBackend(CudaContext.open(driver, 0), new KernelCache(null)))) {
            try (Session a = cpu.newSession(prompt.length + 2); Session b = gpu.newSession(prompt.length + 2)) {
                int token = Sampler.argmax(a.prefill(prompt));
                b.prefill(prompt);
                int next = Sampler.argmax(a.decode(token));
                assertEquals(next, b.decodeGreedy(token)); // (the last position's step queued ahead)
                var step = b.deviceStep().orElseThrow();
                assertEquals(step.tasks().size(), step.profile(1).length);
                EmulatorDecodeTest.assertClose(a.decode(next), b.decode(next), "the last step, after the profile");
                assertNull(FakeCuda.launchFailure(), "every kernel ran");
            }
        }
    }

    private static float[][] greedyStep(Session cpu, Session device, float[] expected, float[] actual, int t) {
        int token = Sampler.argmax(expected);
        assertEquals(token, Sampler.argmax(actual), "greedy token " + t);
        float[] e = cpu.decode(token), a = device.decode(token);
        assertNull(FakeCuda.launchFailure(), "every kernel ran");
        EmulatorDecodeTest.assertClose(e, a, "step " + t);
        return new float[][] {e, a};
    }

    private static int[] greedy(Model model, int[] prompt, int steps) {
        try (Session s = model.newSession(prompt.length + steps + 1)) {
            int[] tokens = new int[steps];
            int token = Sampler.argmax(s.prefill(prompt));
            for (int t = 0; t < steps; t++) tokens[t] = token = s.decodeGreedy(token);
            return tokens;
        }
    }
}
