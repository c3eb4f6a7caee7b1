package dev.moa.runtime.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SamplerTest {
    private static final float[] LOGITS = {1.0f, 3.0f, 2.0f, 0.5f, 2.9f};

    @Test
    void greedyTakesArgmaxLowestIdOnTies() {
        assertEquals(1, new Sampler(SamplingParams.greedy()).next(LOGITS));
        assertEquals(0, Sampler.argmax(new float[] {2, 2, 1}));
        assertEquals(1, new Sampler(new SamplingParams(1.0, 1, 1.0, 5)).next(LOGITS), "top-k 1 is greedy");
    }

    /** Empirical frequencies of many draws against the exact filtered softmax. */
    @Test
    void samplingFollowsTemperatureTopKAndTopP() {
        assertFrequencies(new SamplingParams(1.0, 0, 1.0, 1), softmax(LOGITS, 1.0, new boolean[] {true, true, true, true, true}));
        assertFrequencies(new SamplingParams(0.5, 0, 1.0, 2), softmax(LOGITS, 0.5, new boolean[] {true, true, true, true, true}));
        // top-k 2 keeps ids 1 and 4
        assertFrequencies(new SamplingParams(1.0, 2, 1.0, 3), softmax(LOGITS, 1.0, new boolean[] {false, true, false, false, true}));
        // probabilities at T=1: id1 .394, id4 .357, id2 .145, id0 .053, id3 .032; top-p 0.8 keeps 1, 4, 2
        assertFrequencies(new SamplingParams(1.0, 0, 0.8, 4), softmax(LOGITS, 1.0, new boolean[] {false, true, true, false, true}));
        // top-k 3 keeps 1, 4, 2 (renormalised .440, .398, .162); then top-p 0.7 keeps 1 and 4
        assertFrequencies(new SamplingParams(1.0, 3, 0.7, 5), softmax(LOGITS, 1.0, new boolean[] {false, true, false, false, true}));
    }

    @Test
    void sameSeedSameTokens() {
        Sampler a = new Sampler(new SamplingParams(1.0, 0, 0.95, 99)), b = new Sampler(new SamplingParams(1.0, 0, 0.95, 99));
        for (int i = 0; i < 100; i++) assertEquals(a.next(LOGITS), b.next(LOGITS));
    }

    @Test
    void invalidParameters() {
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(-1, 0, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1, -1, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1, 0, 1.5, 0));
    }

    private static double[] softmax(float[] logits, double temperature, boolean[] keep) {
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) if (keep[i]) sum += p[i] = Math.exp(logits[i] / temperature);
        for (int i = 0; i < p.length; i++) p[i] /= sum;
        return p;
    }

    private static void assertFrequencies(SamplingParams params, double[] expected) {
        Sampler sampler = new Sampler(params);
        int n = 200_000;
        int[] counts = new int[expected.length];
        for (int i = 0; i < n; i++) counts[sampler.next(LOGITS)]++;
        for (int i = 0; i < expected.length; i++) {
            double observed = counts[i] / (double) n;
            // 5 standard deviations of a binomial proportion, plus exact zeros where filtered out
            double sigma = Math.sqrt(expected[i] * (1 - expected[i]) / n);
            assertTrue(Math.abs(observed - expected[i]) <= 5 * sigma + 1e-12,
                    params + " id " + i + ": observed " + observed + ", expected " + expected[i]);
        }
    }
}
