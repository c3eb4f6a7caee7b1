package dev.moa.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.SamplingParams;
import dev.moa.tasks.cuda.DeviceChoice;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The server's engine on a device ({@code --device emulator}: the GPU program): a long prompt that joins a decoding
 * request runs in pieces (chunks of its layers) between that request's decode steps instead of stalling it, and
 * both requests get the tokens they get alone.
 */
class DeviceEngineTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");

    @Test
    void aPromptOnTheDeviceRunsInPiecesBetweenTheOthersSteps() throws Exception {
        try (Model model = Model.load(DEMO, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""))) {
            Random random = new Random(4);
            int[] running = random.ints(20, 3, 2000).toArray(), joining = random.ints(300, 3, 2000).toArray();
            GenerationParams params = new GenerationParams(24, new SamplingParams(0, 0, 1, 0), List.of(), false,
                    AttentionMode.parse("moa:" + DEMO.resolve("moa-plan-50.json")));
            GenerationParams one = new GenerationParams(1, params.sampling(), List.of(), false, params.attention());
            int[] soloRunning = Generator.generate(model, running, params, piece -> { }).tokens();
            int[] soloJoining = Generator.generate(model, joining, one, piece -> { }).tokens();

            // pieces of 64 tokens' work: the 300-token prompt's four layers are four pieces (one chunk each)
            try (Engine engine = new Engine(model, 2, 2, 1L << 30, 64)) {
                AtomicInteger texts = new AtomicInteger();
                CompletableFuture<GenerationResult> a = new CompletableFuture<>(), b = new CompletableFuture<>();
                engine.submit(running, params, listener(a, texts));
                while (texts.get() < 3 && !a.isDone()) Thread.sleep(5);
                int before = texts.get();
                engine.submit(joining, one, listener(b, new AtomicInteger()));
                GenerationResult joined = b.get(120, TimeUnit.SECONDS);
                int during = texts.get() - before;
                GenerationResult ran = a.get(120, TimeUnit.SECONDS);
                assertArrayEquals(soloJoining, joined.tokens(), "the joining prompt's token, as alone");
                assertArrayEquals(soloRunning, ran.tokens(), "the running request's tokens, as alone");
                // in pieces the running request decodes after each of the prompt's first three pieces (4 pieces of text
                // measured); run whole, the prompt finishes in the turn it starts (0 or 1: the mutation measured 1)
                assertTrue(during >= 2, "the running request kept decoding while the prompt ran in pieces (" + during + " pieces of text)");
            }
        }
    }

    private static Engine.Listener listener(CompletableFuture<GenerationResult> done, AtomicInteger texts) {
        return new Engine.Listener() {
            @Override
            public void text(String piece) {
                texts.incrementAndGet();
            }

            @Override
            public void finished(GenerationResult result) {
                done.complete(result);
            }

            @Override
            public void failed(String message) {
                done.completeExceptionally(new AssertionError(message));
            }
        };
    }
}
