package dev.moa.runtime.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopStringsTest {
    @Test
    void holdsBackPossibleStartOfAStopStringAndCutsAtIt() {
        StopStrings s = new StopStrings(List.of("<|end|>", "\n\n"));
        assertEquals("Hello", s.accept("Hello"));
        assertEquals(" world", s.accept(" world<|"));
        assertFalse(s.stopped());
        assertEquals("", s.accept("en"));
        assertEquals("", s.accept("d|> trailing"));
        assertTrue(s.stopped());
        assertEquals("", s.accept("more"));
        assertEquals("", s.flush());
    }

    @Test
    void releasesHeldTextWhenItTurnsOutNotToBeAStop() {
        StopStrings s = new StopStrings(List.of("STOP"));
        assertEquals("ab", s.accept("abST"));
        assertEquals("STx", s.accept("x"));
        assertEquals("", s.accept("S"));
        assertEquals("S", s.flush());
    }

    @Test
    void earliestOfSeveralStopsWins() {
        StopStrings s = new StopStrings(List.of("cd", "b"));
        assertEquals("a", s.accept("abcd"));
        assertTrue(s.stopped());
    }

    @Test
    void noStopsPassesEverything() {
        StopStrings s = new StopStrings(List.of());
        assertEquals("abc", s.accept("abc"));
        assertEquals("", s.flush());
    }
}
