package dev.moa.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.file.Path;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * A generation allowance as large as an int: N = prompt + allowance used to wrap to a negative cache size. Now the
 * sum is taken in long and a ring never holds more slots than the context, so half of an enormous N is the whole
 * context, which is dense attention.
 */
class SessionLimitsTest {
    @Test
    void anAllowanceOfTwoBillionTokensIsDenseAttentionNotANegativeArraySize() throws Exception {
        Path demo = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");
        int[] prompt = IntStream.range(0, 300).map(i -> 40 + i % 500).toArray();
        try (Model model = Model.load(demo)) {
            float[] dense = model.newSession(prompt.length).prefill(prompt);
            float[] huge = model.newSession(prompt.length, 64, AttentionMode.parse("uniform:0,0.5"), Integer.MAX_VALUE - 1).prefill(prompt);
            assertArrayEquals(dense, huge, 1e-4f);
        }
    }
}
