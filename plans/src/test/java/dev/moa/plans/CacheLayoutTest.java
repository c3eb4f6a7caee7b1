package dev.moa.plans;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The layout and the visibility rule against a brute-force replay of a decode: every visible key is still in its slot. */
class CacheLayoutTest {
    @Test
    void everyVisibleKeyIsInItsSlotAfterAnyNumberOfRingWraps() {
        Random random = new Random(5);
        for (int trial = 0; trial < 60; trial++) {
            int context = 1 + random.nextInt(300), groupSize = 1 + random.nextInt(3), groups = 1 + random.nextInt(3), layers = 1 + random.nextInt(2);
            int heads = groupSize * groups;
            int[][] sink = new int[layers][heads], local = new int[layers][heads];
            for (int l = 0; l < layers; l++) {
                for (int h = 0; h < heads; h++) {
                    sink[l][h] = random.nextInt(4) == 0 ? 0 : Math.min(ElasticRule.SINK, random.nextInt(80));
                    local[l][h] = random.nextInt(5) == 0 ? 0 : random.nextInt(context + 40); // some wider than the context
                }
            }
            CacheLayout layout = new CacheLayout(new HeadSpans(context, sink, local), groupSize, context);
            long[] filled = new long[context]; // slots holding a key after q + 1 tokens, all layers
            for (int l = 0; l < layers; l++) {
                int[] stored = new int[layout.layerSlots(l)];
                Arrays.fill(stored, -1);
                for (int q = 0; q < context; q++) {
                    for (int g = 0; g < groups; g++) { // the new token's key is written, then attended to
                        int slot = layout.slot(l, g, q);
                        if (slot >= 0) {
                            assertTrue(slot < layout.groupSlots(l, g));
                            stored[layout.offset(l, g) + slot] = q;
                        }
                    }
                    filled[q] += Arrays.stream(stored).filter(p -> p >= 0).count();
                    for (int g = 0; g < groups; g++) {
                        for (int slot = 0; slot < layout.groupSlots(l, g); slot++) {
                            assertEquals(stored[layout.offset(l, g) + slot], layout.positionAt(l, g, slot, q + 1), "what slot " + slot + " holds after " + (q + 1));
                        }
                    }
                    for (int h = 0; h < heads; h++) {
                        int g = h / groupSize;
                        int sinkEnd = CacheLayout.sinkEnd(q, sink[l][h]), windowStart = CacheLayout.windowStart(q, sink[l][h], local[l][h]);
                        for (int k = 0; k <= q; k++) {
                            boolean visible = CacheLayout.visible(k, q, sink[l][h], local[l][h]);
                            assertEquals(visible, k < sinkEnd || k >= windowStart, "the range form is the rule");
                            // the brute-force rule, written independently: a sink of the first tokens and the last `local` ones
                            assertEquals(k < sink[l][h] || q - k < local[l][h], visible);
                            if (visible) {
                                int slot = layout.slot(l, g, k);
                                assertTrue(slot >= 0, "a visible key has a slot");
                                assertEquals(k, stored[layout.offset(l, g) + slot], "trial " + trial + " layer " + l + " head " + h + " q " + q + " k " + k);
                            }
                        }
                    }
                }
            }
            for (int q = 0; q < context; q++) assertEquals(filled[q], layout.slotsInUse(q + 1), "slots in use after " + (q + 1) + " tokens");
        }
    }

    @Test
    void slotsAreTheSinkPlusTheWidestWindowOfEachGroupNeverMoreThanTheContext() {
        // two groups of two heads; the sink is shared (the widest head's), each ring is its group's widest window
        int[][] sink = {{64, 10, 64, 64}}, local = {{100, 300, 50, 5000}};
        CacheLayout layout = new CacheLayout(new HeadSpans(4096, sink, local), 2, 1024);
        assertEquals(64, layout.sinkSlots());
        assertEquals(300, layout.ringSlots(0, 0));
        assertEquals(1024, layout.ringSlots(0, 1), "a window wider than the context is the context");
        assertEquals(0, layout.offset(0, 0));
        assertEquals(364, layout.offset(0, 1));
        assertEquals(364 + 1088, layout.layerSlots(0));
        assertEquals(2L * (364 + 1088) * 64 * 4, layout.byteSize(64, 4));
        assertEquals(-1, CacheLayout.slotOf(70, 64, 0), "a sink-only group keeps nothing past its sink");
    }
}
