package dev.moa.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** A long prompt's progress: the session reports whole chunks as it goes without changing a number; the line is quiet, then rate-limited. */
class PrefillProgressTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");

    @Test
    void aReportedPrefillComputesWhatOneForwardDoes() throws Exception {
        int[] prompt = new Random(4).ints(300, 3, 2000).toArray();
        try (Model model = Model.load(DEMO)) {
            for (String mode : new String[] {"dense", "moa:" + DEMO.resolve("moa-plan-50.json")}) {
                float[] quiet, reported;
                try (Session s = model.newSession(301, 64, AttentionMode.parse(mode), 1)) {
                    quiet = s.prefill(prompt).clone();
                }
                List<Integer> done = new ArrayList<>();
                try (Session s = model.newSession(301, 64, AttentionMode.parse(mode), 1)) {
                    s.onPrefillProgress(done::add);
                    reported = s.prefill(prompt);
                }
                // the same computation; the JVM's vector sums may take another order once compiled, so the last bit may move
                float largest = 0;
                for (float v : quiet) largest = Math.max(largest, Math.abs(v));
                assertArrayEquals(quiet, reported, 1e-5f * largest, mode + ": the same logits");
                assertEquals(List.of(64, 128, 192, 256, 300), done, mode + ": whole chunks, then the rest");
            }
        }
    }

    @Test
    void theLineWaitsTwoSecondsThenComesEveryTwoSeconds() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        long[] now = {0};
        PrefillProgress progress = new PrefillProgress(new PrintStream(bytes, true, StandardCharsets.UTF_8), 1000, () -> now[0]);
        now[0] = 1_000_000_000L;
        progress.accept(100); // 1 s: quiet
        now[0] = 2_500_000_000L;
        progress.accept(250); // 2.5 s: the first line
        now[0] = 3_500_000_000L;
        progress.accept(350); // 1 s after it: quiet
        now[0] = 4_600_000_000L;
        progress.accept(460); // 2.1 s after it: a line
        now[0] = 9_000_000_000L;
        progress.accept(1000); // done: the caller's summary says the rest
        String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(2, lines.length, bytes.toString(StandardCharsets.UTF_8));
        assertEquals("prefill 250/1000 tokens, 100 tokens/s, ETA 8 s", lines[0]);
        assertTrue(lines[1].startsWith("prefill 460/1000 tokens, 100 tokens/s, ETA 5 s"), lines[1]);
    }
}
