package dev.moa.plans;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** The span rule of moa.md §1, case by case. */
class ElasticRuleTest {
    @ParameterizedTest(name = "alpha={0} beta={1} N={2} -> S={3}")
    @CsvSource({
            // the two worked examples of the reference: prompt 3072 + allowance 1024, prompt 100 + 1024
            "0, 0.5, 4096, 2048",
            "-1024, 1.0, 1124, 128",
            // trunc toward zero, then at least 128, then up to a multiple of 64
            "0, 0.5, 301, 192",        // 150.5 -> 150 -> 192
            "-1024, 0.125, 4096, 128", // -512 -> 128
            "-0.9, 0, 500, 128",       // trunc(-0.9) = 0 -> 128
            "100.7, 0, 5000, 128",     // 100 -> 128
            "129, 0, 5000, 192",
            "192, 0, 5000, 192",
            "1024, 1.0, 1500, 1536",   // min(2524, 1500) = 1500 -> rounded up past N
            "8192, 0, 100, 128",       // min(8192, 100) = 100 -> 128
            "0, 1.0, 2048, 2048"})
    void spanFollowsTheReferenceRule(double alpha, double beta, int n, int expected) {
        assertEquals(expected, new ElasticRule(alpha, beta).span(n));
    }

    @Test
    void sinkAndLocalSplitTheSpan() {
        ElasticRule r = new ElasticRule(0, 0.5);
        assertEquals(64, r.sink(4096));
        assertEquals(2048 - 64, r.local(4096));
    }

    @Test
    void rejectsInvalidParameters() {
        assertThrows(IllegalArgumentException.class, () -> new ElasticRule(Double.NaN, 0.5));
        assertThrows(IllegalArgumentException.class, () -> new ElasticRule(0, 1.5));
        assertThrows(IllegalArgumentException.class, () -> new ElasticRule(0, -0.1));
    }
}
