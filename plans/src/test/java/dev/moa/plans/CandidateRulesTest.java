package dev.moa.plans;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** moa.md §5's candidate grid: 48 rules at the reference's lengths, stretched with the lengths otherwise. */
class CandidateRulesTest {
    @Test
    void theReferenceGridHas48RulesAndOnlyThoseTheThreeConditionsKeep() {
        List<ElasticRule> rules = CandidateRules.reference();
        assertEquals(48, rules.size());
        int kept = 0;
        for (int alpha = -2048; alpha <= 8192; alpha += 1024) {
            for (int b = 0; b <= 8; b++) {
                double beta = b / 8.0;
                boolean keep = alpha + beta * 8192 <= 8192 && alpha + beta * 16384 <= 16384 && alpha + beta * 2048 > 0;
                assertEquals(keep, rules.contains(new ElasticRule(alpha, beta)), alpha + ", " + beta);
                if (keep) kept++;
            }
        }
        assertEquals(48, kept);
        assertTrue(rules.contains(new ElasticRule(0, 1)), "dense (0, 1) is a candidate");
        assertTrue(rules.contains(new ElasticRule(-1024, 0.625)));
        assertTrue(rules.stream().noneMatch(r -> r.alpha() == -2048), "alpha -2048 would need beta > 1 to pass alpha + beta*2048 > 0");
    }

    @Test
    void aStretchedGridScalesAlphaWithTheShortestLength() {
        List<ElasticRule> rules = CandidateRules.grid(512, 2048, 4096);
        assertEquals(48, rules.size(), "the same shape at a quarter of the lengths");
        for (ElasticRule r : CandidateRules.reference()) {
            assertTrue(rules.contains(new ElasticRule(r.alpha() / 4, r.beta())), r.toString());
        }
    }

    @Test
    void badLengthsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> CandidateRules.grid(100, 2048, 4096));
        assertThrows(IllegalArgumentException.class, () -> CandidateRules.grid(1024, 512, 4096));
        assertThrows(IllegalArgumentException.class, () -> CandidateRules.grid(1024, 2048, 1024));
    }
}
