package dev.moa.runtime.profile;

import dev.moa.runtime.eval.LongEval;
import java.util.List;
import java.util.Random;

/**
 * The long-context tasks calibration prompts are drawn from. Each builds one user message of a requested size
 * (characters, verses or record lines) from a random state, so the same state at another size gives the same
 * prompt, only longer or shorter; the model's own answer to it is what the profile scores.
 *
 * <p>None of them contains an evaluation record: {@link #RECORDS} uses LongEval's line format with keys from
 * word lists disjoint from {@code moa eval retrieval}'s (checked by a test), and the others are not records.
 */
public enum CalibrationTask {
    /** A five-digit pass key hidden at a random depth in running text (the passkey-retrieval test). */
    PASSKEY("passkey") {
        @Override
        String prompt(Corpus corpus, Random random, int size) {
            int key = 10_000 + random.nextInt(90_000);
            double depth = random.nextDouble();
            String filler = corpus.passage(random, size);
            int cut = Math.max(0, filler.lastIndexOf(' ', (int) (depth * filler.length())));
            String needle = " The pass key is " + key + ". Remember it. " + key + " is the pass key. ";
            return "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
                    + "I will quiz you about the important information there.\n\n"
                    + filler.substring(0, cut) + needle + filler.substring(cut) + "\n\nWhat is the pass key?";
        }
    },
    /** Consecutive verses of the King James Bible, then "Quote verse Ge1:3." about one of them. */
    VERSE("verse") {
        @Override
        String prompt(Corpus corpus, Random random, int size) {
            List<Corpus.Verse> verses = corpus.verses();
            int count = Math.max(2, Math.min(size, verses.size()));
            int start = (int) (random.nextDouble() * (verses.size() - count));
            int asked = start + (int) (random.nextDouble() * count);
            StringBuilder text = new StringBuilder("Below are verses of the King James Bible.\n\n");
            for (int i = start; i < start + count; i++) text.append(verses.get(i).reference()).append(' ').append(verses.get(i).text()).append('\n');
            return text.append("\nQuote verse ").append(verses.get(asked).reference()).append('.').toString();
        }

        @Override
        boolean applies(Corpus corpus) {
            return corpus.verses().size() >= 100;
        }
    },
    /** A LongEval-style record of key-value lines, asked about one key; keys from calibration-only words. */
    RECORDS("records") {
        @Override
        String prompt(Corpus corpus, Random random, int size) {
            int lines = Math.max(2, size);
            int asked = random.nextInt(lines);
            return LongEval.item(random, lines, asked, ADJECTIVES, NOUNS).prompt();
        }
    },
    /** A passage of running text to summarise. */
    SUMMARY("summary") {
        @Override
        String prompt(Corpus corpus, Random random, int size) {
            return "Summarize the following passage in a few sentences.\n\n" + corpus.passage(random, size);
        }
    };

    /** Key words of {@link #RECORDS}: none of them is a word of the evaluation's keys. */
    static final List<String> ADJECTIVES = LongEval.words(CalibrationTask.class, "calibration-adjectives.txt");
    static final List<String> NOUNS = LongEval.words(CalibrationTask.class, "calibration-nouns.txt");

    private final String label;

    CalibrationTask(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    /** The user message at a size: characters of text (passkey, summary), verses (verse) or record lines (records). */
    abstract String prompt(Corpus corpus, Random random, int size);

    /** Whether the corpus has what the task needs. */
    boolean applies(Corpus corpus) {
        return true;
    }

    /** A first guess of the size that fills {@code tokens}, refined by measuring. */
    int initialSize(int tokens) {
        return switch (this) {
            case PASSKEY, SUMMARY -> 3 * tokens;
            case VERSE -> Math.max(2, tokens / 40);
            case RECORDS -> Math.max(2, tokens / 16);
        };
    }

    public static CalibrationTask parse(String label) {
        for (CalibrationTask t : values()) if (t.label.equals(label)) return t;
        throw new IllegalArgumentException("unknown calibration task '" + label + "' (tasks: passkey, verse, records, summary)");
    }
}
