package dev.moa.runtime.eval;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * LongEval's key-value "lines" retrieval task (the MoA paper's retrieval benchmark): a fixed instruction, a
 * record of lines {@code line <adjective-noun>: REGISTER_CONTENT is <NNNNN>}, then a question about one key.
 * The demo model's training data (scripts/train-demo-model/data.py) writes exactly this text.
 */
public final class LongEval {
    static final String HEAD = "Below is a record of lines I want you to remember. Each line begins with 'line <line index>' "
            + "and contains a '<REGISTER_CONTENT>' at the end of the line as a numerical value. For each line "
            + "index, memorize its corresponding <REGISTER_CONTENT>. At the end of the record, I will ask you to "
            + "retrieve the corresponding <REGISTER_CONTENT> of a certain line index. Now the record start:\n\n";
    static final int MAX_VALUE = 50_000;

    private static final List<String> ADJECTIVES = words("longeval-adjectives.txt");
    private static final List<String> NOUNS = words("longeval-nouns.txt");

    /** One record and the line it asks about. */
    public record Item(List<String> keys, int[] values, int asked) {
        public String key() {
            return keys.get(asked);
        }

        public int value() {
            return values[asked];
        }

        /** The user's message: instruction, record, question. */
        public String prompt() {
            StringBuilder text = new StringBuilder(HEAD);
            for (int i = 0; i < keys.size(); i++) text.append(line(keys.get(i), values[i]));
            return text.append("\nNow the record is over. ").append(question(key())).toString();
        }

        /** The same record with the lines from {@code lines} on dropped (the asked line must stay). */
        public Item truncated(int lines) {
            if (asked >= lines) throw new IllegalArgumentException("line " + asked + " is asked; cannot keep only " + lines);
            return new Item(keys.subList(0, lines), java.util.Arrays.copyOf(values, lines), asked);
        }
    }

    private LongEval() {
    }

    static String line(String key, int value) {
        return "line " + key + ": REGISTER_CONTENT is <" + value + ">\n";
    }

    static String question(String key) {
        return "Tell me what is the <REGISTER_CONTENT> in line " + key + "? I need the number.";
    }

    /** A record of {@code lines} distinct random keys with values in 1..50000, asking about line {@code asked}. */
    public static Item item(Random random, int lines, int asked) {
        if (lines > ADJECTIVES.size() * NOUNS.size()) throw new IllegalArgumentException("at most "
                + ADJECTIVES.size() * NOUNS.size() + " distinct keys, asked for " + lines);
        if (asked < 0 || asked >= lines) throw new IllegalArgumentException("asked line " + asked + " outside 0.." + (lines - 1));
        Set<String> keys = new LinkedHashSet<>();
        while (keys.size() < lines) {
            keys.add(ADJECTIVES.get(random.nextInt(ADJECTIVES.size())) + "-" + NOUNS.get(random.nextInt(NOUNS.size())));
        }
        int[] values = new int[lines];
        for (int i = 0; i < lines; i++) values[i] = 1 + random.nextInt(MAX_VALUE);
        return new Item(List.copyOf(keys), values, asked);
    }

    /** The last integer in a model's answer, or -1 if it wrote none: the paper's scoring rule. */
    public static long lastInteger(String answer) {
        var m = java.util.regex.Pattern.compile("\\d+").matcher(answer);
        String last = null;
        while (m.find()) last = m.group();
        if (last == null) return -1;
        return last.length() > 18 ? -1 : Long.parseLong(last);
    }

    private static List<String> words(String resource) {
        try (InputStream in = LongEval.class.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("missing resource dev/moa/runtime/eval/" + resource);
            List<String> words = new ArrayList<>();
            for (String w : new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).lines().toList()) {
                if (!w.isBlank()) words.add(w.strip());
            }
            return List.copyOf(words);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
