package dev.moa.runtime.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code moa bench sampling} times every setting it names, greedy's argmax (the floor it reports against) first. */
class SamplingBenchmarkTest {
    @Test
    void timesEverySettingGreedyFirst() {
        var rows = SamplingBenchmark.run(3000, 5);
        assertEquals(SamplingBenchmark.SETTINGS.size(), rows.size());
        assertEquals("greedy (argmax)", rows.getFirst().name());
        assertEquals("temperature 0.7, top-k 40, top-p 0.95", rows.get(3).name());
        for (var r : rows) assertTrue(r.micros() > 0 && Double.isFinite(r.micros()), r.toString());
    }
}
