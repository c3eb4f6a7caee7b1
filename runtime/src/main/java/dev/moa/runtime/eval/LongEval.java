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

        /**
         * What an answer's last integer was: the asked line's value, or which other line's -- one whose key shares
         * its adjective or its noun with the asked key (a model that matches the key's words one by one picks
         * these), the line just before or after (a retrieval that lands one line off), any other -- or no line's.
         */
        public Answer classify(long answered) {
            if (answered == value()) return Answer.RIGHT;
            Answer kind = Answer.NOT_IN_RECORD;
            for (int i = 0; i < values.length; i++) {
                if (values[i] != answered) continue;
                Answer k = sharesAWord(i) ? Answer.LINE_SHARING_A_KEY_WORD
                        : Math.abs(i - asked) == 1 ? Answer.NEIGHBOURING_LINE : Answer.OTHER_LINE;
                if (k.ordinal() < kind.ordinal()) kind = k;
            }
            return kind;
        }

        private boolean sharesAWord(int line) {
            String[] a = key().split("-"), b = keys.get(line).split("-");
            return a[0].equals(b[0]) || a[1].equals(b[1]);
        }

        /** The same record with the lines from {@code lines} on dropped (the asked line must stay). */
        public Item truncated(int lines) {
            if (asked >= lines) throw new IllegalArgumentException("line " + asked + " is asked; cannot keep only " + lines);
            return new Item(keys.subList(0, lines), java.util.Arrays.copyOf(values, lines), asked);
        }
    }

    /** Kinds of answer, most telling first (see {@link Item#classify}). */
    public enum Answer {
        RIGHT("the asked line"), LINE_SHARING_A_KEY_WORD("a line sharing a key word"),
        NEIGHBOURING_LINE("the line before or after"), OTHER_LINE("another line"), NOT_IN_RECORD("no line");

        /** Whose value the answer was, in words. */
        public final String whose;

        Answer(String whose) {
            this.whose = whose;
        }

        /** The name in JSON output. */
        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
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
        return item(random, lines, asked, ADJECTIVES, NOUNS);
    }

    /** The same record format with keys from other words (the profiler's calibration keeps its keys apart). */
    public static Item item(Random random, int lines, int asked, List<String> adjectives, List<String> nouns) {
        if (lines > adjectives.size() * nouns.size()) throw new IllegalArgumentException("at most "
                + adjectives.size() * nouns.size() + " distinct keys, asked for " + lines);
        if (asked < 0 || asked >= lines) throw new IllegalArgumentException("asked line " + asked + " outside 0.." + (lines - 1));
        Set<String> keys = new LinkedHashSet<>();
        while (keys.size() < lines) {
            keys.add(adjectives.get(random.nextInt(adjectives.size())) + "-" + nouns.get(random.nextInt(nouns.size())));
        }
        int[] values = new int[lines];
        for (int i = 0; i < lines; i++) values[i] = 1 + random.nextInt(MAX_VALUE);
        return new Item(List.copyOf(keys), values, asked);
    }

    /** The words keys are drawn from in {@link #item(Random, int, int)}: adjectives, then nouns. */
    public static List<List<String>> vocabulary() {
        return List.of(ADJECTIVES, NOUNS);
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
        return words(LongEval.class, resource);
    }

    /** The non-blank lines of a word-list resource beside {@code owner}. */
    public static List<String> words(Class<?> owner, String resource) {
        try (InputStream in = owner.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("missing resource " + owner.getPackageName().replace('.', '/') + "/" + resource);
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
