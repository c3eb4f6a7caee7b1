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

    /**
     * The device's draw (dev.moa.tasks.kernels.SamplingKernels, here in the kernel emulator) takes the token the host's
     * takes for the same logits and uniform, in every way of drawing (nuclei too wide for {@code sample}'s shared memory
     * included, which {@code sampleWide} draws): the two walk the distribution in the same order.
     */
    @Test
    void theDeviceDrawsTheTokenTheHostDraws() {
        java.util.Random random = new java.util.Random(5);
        int n = 4001, rows = 24;
        float[] logits = new float[n];
        for (int i = 0; i < n; i++) logits[i] = (float) (random.nextGaussian() * 2.5);
        for (int i = 0; i < 20; i++) logits[random.nextInt(n)] = 7 + (float) random.nextGaussian();
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            dev.moa.tasks.kernel.F32Buffer rowsOfLogits = dev.moa.tasks.kernel.F32Buffer.allocate(arena, (long) rows * n);
            for (int b = 0; b < rows; b++) for (int i = 0; i < n; i++) rowsOfLogits.set((long) b * n + i, logits[i]);
            for (SamplingParams params : java.util.List.of(new SamplingParams(0.7, 0, 0.9, 1), new SamplingParams(1.0, 0, 1.0, 2),
                    new SamplingParams(0.8, 40, 0.95, 3), new SamplingParams(1.2, 30, 1.0, 4), new SamplingParams(1.0, n, 1.0, 5),
                    // nuclei too wide for sample's shared memory, drawn by sampleWide
                    new SamplingParams(1.3, 0, 0.99, 6), new SamplingParams(1.0, 2000, 1.0, 7), new SamplingParams(1.5, 1800, 0.97, 8))) {
                Sampler sampler = new Sampler(params);
                dev.moa.tasks.kernel.I32Buffer draws = dev.moa.tasks.kernel.I32Buffer.allocate(arena, (long) rows * dev.moa.tasks.kernels.SamplingKernels.DRAW_SIZE);
                dev.moa.tasks.kernel.I32Buffer chosen = dev.moa.tasks.kernel.I32Buffer.allocate(arena, 2L * rows);
                int[] uniforms = new int[rows];
                for (int b = 0; b < rows; b++) {
                    uniforms[b] = sampler.uniform();
                    dev.moa.tasks.kernels.SamplingKernels.setDraw(draws, b, (float) params.temperature(), params.topK(), (float) params.topP(), uniforms[b]);
                    chosen.set(2L * b, Sampler.argmax(logits));
                }
                dev.moa.tasks.emulator.Emulator.launch(dev.moa.tasks.kernels.SamplingKernels.class, "sample",
                        dev.moa.tasks.emulator.Grid.of(rows, dev.moa.tasks.kernels.SamplingKernels.GROUP), rowsOfLogits, draws, chosen, n);
                dev.moa.tasks.emulator.Emulator.launch(dev.moa.tasks.kernels.SamplingKernels.class, "sampleWide",
                        dev.moa.tasks.emulator.Grid.of(rows, dev.moa.tasks.kernels.SamplingKernels.WIDE), rowsOfLogits, draws, chosen, n);
                java.util.Set<Integer> distinct = new java.util.HashSet<>();
                for (int b = 0; b < rows; b++) {
                    assertEquals(sampler.sample(logits, uniforms[b]), chosen.get(2L * b), params + ", uniform " + uniforms[b]);
                    distinct.add(chosen.get(2L * b));
                }
                assertTrue(distinct.size() > 3, "the uniforms draw different tokens: " + distinct);
            }
        }
    }

    @Test
    void sameSeedSameTokens() {
        Sampler a = new Sampler(new SamplingParams(1.0, 0, 0.95, 99)), b = new Sampler(new SamplingParams(1.0, 0, 0.95, 99));
        for (int i = 0; i < 100; i++) assertEquals(a.next(LOGITS), b.next(LOGITS));
    }

    /** Peeking at the next uniform (a step queued ahead draws with it) leaves the sequence as it was, peeked once or often. */
    @Test
    void peekingLeavesTheSequenceAsItWas() {
        Sampler a = new Sampler(new SamplingParams(1.0, 0, 0.95, 7)), b = new Sampler(new SamplingParams(1.0, 0, 0.95, 7));
        java.util.Random random = new java.util.Random(3);
        for (int i = 0; i < 200; i++) {
            int peeks = random.nextInt(3), peeked = 0;
            for (int p = 0; p < peeks; p++) {
                int u = b.peekUniform();
                if (p > 0) assertEquals(peeked, u, "a second peek sees the same uniform");
                peeked = u;
            }
            int expected = a.uniform();
            if (peeks > 0) assertEquals(expected, peeked, "the peeked uniform is the next one");
            assertEquals(expected, b.uniform(), "uniform " + i);
        }
    }

    /**
     * On a vocabulary of Llama-3's size, the distribution the sampler draws from ({@code probabilities}) is the filtered
     * softmax computed directly: every token weighed in double precision, all of them sorted (likelier first, equal
     * logits in id order), the first k kept, then the shortest prefix reaching top-p of their mass, renormalised.
     */
    @Test
    void aLargeVocabularysDistributionIsTheDirectFilteredSoftmax() {
        java.util.Random random = new java.util.Random(31);
        float[] logits = new float[128_256];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) (random.nextGaussian() * 2.5);
        for (int i = 0; i < 40; i++) logits[random.nextInt(logits.length)] = 9 + (float) random.nextGaussian(); // a peak, as a model's
        logits[5] = 14f;
        logits[78] = logits[77] = 13.5f; // equal second likeliest: top-k 2 keeps 5 and 77 (id order)
        SamplingParams[] cases = {new SamplingParams(1.0, 0, 1.0, 1), new SamplingParams(0.7, 0, 0.9, 1), new SamplingParams(1.0, 40, 1.0, 1),
                new SamplingParams(0.8, 50, 0.95, 1), new SamplingParams(1.3, 0, 0.99, 1), new SamplingParams(2.0, 0, 0.5, 1),
                new SamplingParams(1.0, 1000, 0.9, 1), new SamplingParams(0.5, 2, 1.0, 1)};
        for (SamplingParams params : cases) {
            double[] expected = direct(logits, params), actual = new Sampler(params).probabilities(logits);
            int support = 0;
            for (int i = 0; i < logits.length; i++) {
                assertEquals(expected[i] > 0, actual[i] > 0, params + ": token " + i + " kept or not");
                assertEquals(expected[i], actual[i], 1e-6 * expected[i] + 1e-12, params + ": token " + i);
                if (expected[i] > 0) support++;
            }
            assertTrue(support >= 2, params + " keeps " + support); // (cases that filter something and leave a choice)
        }
    }

    /** Draws from a vocabulary of several of the sampler's blocks follow its distribution, with and without filters. */
    @Test
    void drawsAcrossBlocksFollowTheDistribution() {
        float[] logits = new float[1500];
        java.util.Arrays.fill(logits, -4f);
        logits[3] = 2f;
        logits[700] = 2.5f;
        logits[1023] = 1f;
        logits[1499] = 2.2f;
        for (SamplingParams params : new SamplingParams[] {new SamplingParams(1.0, 0, 1.0, 7), new SamplingParams(0.9, 0, 0.8, 8),
                new SamplingParams(1.0, 3, 1.0, 9)}) {
            assertFrequencies(params, logits, new Sampler(params).probabilities(logits), 50_000);
        }
    }

    /** A top-p below one token's share of a flat distribution keeps the likeliest token (the candidates' cutoff once left none). */
    @Test
    void aTinyTopPKeepsTheLikeliestToken() {
        Sampler sampler = new Sampler(new SamplingParams(1.0, 0, 0.1, 3));
        for (int i = 0; i < 20; i++) assertEquals(0, sampler.next(new float[] {1f, 1f}));
        assertEquals(0, new Sampler(new SamplingParams(1.0, 0, 0.5, 3)).next(new float[] {4f}), "one token");
    }

    /** A temperature so small that 1 / T overflows a float samples the likeliest token, as the limit does (it drew NaN weights). */
    @Test
    void aVanishingTemperatureIsGreedy() {
        for (SamplingParams p : new SamplingParams[] {new SamplingParams(1e-40, 0, 0.9, 1), new SamplingParams(1e-40, 0, 1, 2),
                new SamplingParams(1e-40, 3, 1, 3), new SamplingParams(1e-40, 3, 0.5, 4)}) {
            Sampler sampler = new Sampler(p);
            for (int i = 0; i < 50; i++) assertEquals(1, sampler.next(LOGITS), p.toString());
        }
    }

    /** -0 and +0 are equal logits: id order between them, as between any equal logits. */
    @Test
    void signedZerosAreEqualLogits() {
        Sampler nucleus = new Sampler(new SamplingParams(1.0, 0, 0.5, 5));
        for (int i = 0; i < 20; i++) assertEquals(0, nucleus.next(new float[] {-0.0f, 0.0f}));
        double[] p = new Sampler(new SamplingParams(1.0, 2, 1.0, 6)).probabilities(new float[] {-0.0f, 0.0f, 0.0f});
        assertTrue(p[0] > 0 && p[1] > 0 && p[2] == 0, java.util.Arrays.toString(p));
    }

    /**
     * A draw that lands in the sliver by which a block's sum (rounded in float lanes) exceeds its weights added one by one
     * returns that block's last token with weight, never one of weight 0 from the next block.
     */
    @Test
    void aDrawPastABlocksWeightsStaysInTheBlock() {
        Sampler.Work w = new Sampler.Work();
        float[] logits = new float[1024];
        java.util.Arrays.fill(logits, 512, 1024, -200f); // the second block's weights underflow to 0
        w.weigh(logits, 0f, 1f);
        double exact = 0;
        for (int i = 0; i < 512; i++) exact += w.weights[i];
        assertEquals(0, w.blockSums[1]);
        w.blockSums[0] = exact + 1e-6; // as a rounding up of the block's sum would leave it
        assertEquals(511, w.draw(1024, exact + 5e-7));
        assertEquals(3, w.draw(1024, 3.5));
    }

    /** The filtered softmax the plain way, in double precision over every token. */
    private static double[] direct(float[] logits, SamplingParams params) {
        int n = logits.length;
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double[] weight = new double[n];
        for (int i = 0; i < n; i++) weight[i] = Math.exp((logits[i] - max) / params.temperature());
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
        int keep = params.topK() > 0 ? Math.min(params.topK(), n) : n;
        double kept = 0;
        for (int i = 0; i < keep; i++) kept += weight[order[i]];
        int nucleus = keep;
        double cumulative = 0;
        for (int i = 0; i < keep; i++) {
            cumulative += weight[order[i]];
            if (cumulative >= params.topP() * kept) {
                nucleus = i + 1;
                break;
            }
        }
        double mass = 0;
        for (int i = 0; i < nucleus; i++) mass += weight[order[i]];
        double[] p = new double[n];
        for (int i = 0; i < nucleus; i++) p[order[i]] = weight[order[i]] / mass;
        return p;
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
        assertFrequencies(params, LOGITS, expected, 200_000);
    }

    private static void assertFrequencies(SamplingParams params, float[] logits, double[] expected, int n) {
        Sampler sampler = new Sampler(params);
        int[] counts = new int[expected.length];
        for (int i = 0; i < n; i++) counts[sampler.next(logits)]++;
        for (int i = 0; i < expected.length; i++) {
            double observed = counts[i] / (double) n;
            // 5 standard deviations of a binomial proportion, plus exact zeros where filtered out
            double sigma = Math.sqrt(expected[i] * (1 - expected[i]) / n);
            assertTrue(Math.abs(observed - expected[i]) <= 5 * sigma + 1e-12,
                    params + " id " + i + ": observed " + observed + ", expected " + expected[i]);
        }
    }
}
