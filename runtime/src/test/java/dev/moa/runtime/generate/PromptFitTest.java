package dev.moa.runtime.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.ContextOverflowException;
import java.util.OptionalInt;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The prompt and budget against the context: clamp, keep the last tokens with BOS, refuse what cannot fit. */
class PromptFitTest {
    static final OptionalInt BOS = OptionalInt.of(1);

    static int[] prompt(int n) {
        return IntStream.range(0, n).map(i -> i == 0 ? 1 : 100 + i).toArray(); // BOS, then 101, 102, ...
    }

    @Test
    void aBudgetPastTheContextIsClampedAndSaidOnce() {
        PromptFit fit = PromptFit.of(prompt(10), 2_000_000_000, 64, false, BOS);
        assertEquals(54, fit.maxTokens());
        assertArrayEquals(prompt(10), fit.prompt());
        assertTrue(fit.note().contains("--max-tokens 2000000000 is more than the 54 positions"), fit.note());
        assertNull(PromptFit.of(prompt(10), 54, 64, false, BOS).note());
    }

    @Test
    void truncateKeepsBosAndTheLastTokensSoThePromptAndBudgetFit() {
        // every split of a context of 32 between prompt and budget, against the slice it must keep
        for (int length = 1; length <= 80; length++) {
            for (int max = 1; max <= 40; max++) {
                int[] p = prompt(length);
                if (length + max <= 32) {
                    assertArrayEquals(p, PromptFit.of(p, max, 32, true, BOS).prompt());
                } else if (32 - max < (length > 0 ? 2 : 1)) {
                    int m = max;
                    String e = assertThrows(ContextOverflowException.class, () -> PromptFit.of(p, m, 32, true, BOS)).getMessage();
                    assertTrue(e.contains("--max-tokens " + max + " leaves no room") && e.contains("at most 30"), e);
                } else {
                    PromptFit fit = PromptFit.of(p, max, 32, true, BOS);
                    int[] expected = new int[32 - max];
                    expected[0] = 1;
                    System.arraycopy(p, length - (expected.length - 1), expected, 1, expected.length - 1);
                    assertArrayEquals(expected, fit.prompt(), length + "+" + max);
                    assertEquals(max, fit.maxTokens());
                }
            }
        }
    }

    @Test
    void withoutBosTheLastTokensAreKeptAndAPromptThatFillsTheContextIsAnError() {
        int[] p = IntStream.range(0, 20).map(i -> 200 + i).toArray();
        assertArrayEquals(IntStream.range(12, 20).map(i -> 200 + i).toArray(), PromptFit.of(p, 8, 16, true, BOS).prompt());
        assertArrayEquals(new int[] {219}, PromptFit.of(p, 15, 16, true, OptionalInt.empty()).prompt());
        String e = assertThrows(ContextOverflowException.class, () -> PromptFit.of(p, 4, 16, false, BOS)).getMessage();
        assertTrue(e.contains("the prompt has 20 tokens") && e.contains("--truncate"), e);
    }
}
