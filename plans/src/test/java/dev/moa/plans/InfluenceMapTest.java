package dev.moa.plans;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The loss table's one sum: influence outside the blocks a rule computes, against moa.md §2 written literally. */
class InfluenceMapTest {
    @Test
    void bandKeepsTheSinkBlockAndTheBlocksEndingAtTheDiagonal() {
        BlockBand band = new BlockBand(2);
        for (int j = 0; j <= 5; j++) assertEquals(j == 0 || j == 4 || j == 5, band.keeps(5, j), "block " + j);
        assertFalse(band.keeps(5, 6), "never above the diagonal");
        assertTrue(new BlockBand(1).keeps(0, 0));
        assertEquals(1, new BlockBand(10).firstBandBlock(3), "the band never reaches into the sink block");
        assertEquals(new BlockBand(31), BlockBand.of(new ElasticRule(0, 0.5), 4096), "span 2048: 64 sink + 31 blocks");
    }

    @Test
    void lossOutsideSumsExactlyTheBlocksTheRuleSkips() {
        Random random = new Random(3);
        int layers = 2, heads = 3, length = 1024, blocks = length / 64;
        float[] values = new float[layers * heads * blocks * blocks];
        for (int i = 0; i < values.length; i++) values[i] = random.nextFloat();
        InfluenceMap map = new InfluenceMap(layers, heads, length, 5, values);
        for (ElasticRule rule : CandidateRules.grid(256, 1024, 2048)) {
            for (int l = 0; l < layers; l++) {
                for (int h = 0; h < heads; h++) {
                    int span = rule.span(length), band = (span - Math.min(span, 64)) / 64;
                    double expected = 0, total = 0;
                    for (int m = 0; m < blocks; m++) {
                        for (int j = 0; j <= m; j++) {
                            double v = values[((l * heads + h) * blocks + m) * blocks + j];
                            total += v;
                            boolean computed = j == 0 || (m - band + 1 <= j && j <= m);
                            if (!computed) expected += v;
                        }
                    }
                    assertEquals(expected, map.lossOutside(l, h, rule), 1e-9 * total, rule + " layer " + l + " head " + h);
                    assertEquals(total, map.total(l, h), 1e-9 * total);
                }
            }
        }
        assertEquals(0, map.lossOutside(0, 0, new ElasticRule(0, 1)), "a dense head loses nothing");
    }

    @Test
    void shapesAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> new InfluenceMap(1, 1, 100, 1, new float[4]));
        assertThrows(IllegalArgumentException.class, () -> new InfluenceMap(1, 1, 128, 1, new float[3]));
    }
}
