package dev.moa.runtime.profile;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.runtime.Model;
import dev.moa.runtime.eval.LongEval;
import dev.moa.runtime.generate.Prompts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The calibration set: apart from the evaluation's records, fitted to its lengths, answered by the model, resumable. */
class CalibrationTest {
    @TempDir
    static Path work;
    static Model demo;
    static Corpus corpus;

    @BeforeAll
    static void load() throws Exception {
        demo = Model.load(Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo"));
        StringBuilder prose = new StringBuilder(), verses = new StringBuilder();
        Random random = new Random(1);
        String[] words = {"the", "sea", "was", "calm", "and", "Elizabeth", "walked", "along", "shore", "with", "her", "sister", "whale"};
        for (int i = 0; i < 40_000; i++) prose.append(words[random.nextInt(words.length)]).append(i % 17 == 16 ? ".\n" : " ");
        for (int c = 1; c <= 30; c++) for (int v = 1; v <= 20; v++) verses.append("Ge").append(c).append(':').append(v).append(" And God saw it was good ").append(c * v).append(".\n");
        corpus = Corpus.of(List.of(new Corpus.Document("prose.txt", prose.toString(), "a"), new Corpus.Document("kjv.txt", verses.toString(), "b")));
    }

    @AfterAll
    static void close() {
        demo.close();
    }

    @Test
    void recordKeysShareNoWordWithTheEvaluationsKeys() {
        Set<String> evaluation = new HashSet<>();
        LongEval.vocabulary().forEach(evaluation::addAll);
        for (String w : CalibrationTask.ADJECTIVES) assertFalse(evaluation.contains(w), w);
        for (String w : CalibrationTask.NOUNS) assertFalse(evaluation.contains(w), w);
        Pattern key = Pattern.compile("line ([a-z]+)-([a-z]+)[:?]");
        Random random = new Random(2);
        int keys = 0;
        for (int i = 0; i < 50; i++) {
            var m = key.matcher(CalibrationTask.RECORDS.prompt(corpus, random, 40));
            while (m.find()) {
                keys++;
                assertFalse(evaluation.contains(m.group(1)) || evaluation.contains(m.group(2)), m.group());
            }
        }
        assertTrue(keys >= 50 * 41, "every line and the question were checked: " + keys);
    }

    @Test
    void everyTaskFillsItsTokenBudgetWithoutPassingIt() {
        for (CalibrationTask task : CalibrationTask.values()) {
            for (int budget : new int[] {400, 1900}) {
                int[] ids = Calibration.fit(demo, corpus, task, 7, budget);
                assertTrue(ids.length <= budget && ids.length >= 0.9 * budget, task + " at " + budget + ": " + ids.length + " tokens");
                assertArrayEquals(ids, Calibration.fit(demo, corpus, task, 7, budget), "the same seed and budget give the same prompt");
            }
        }
        String verse = CalibrationTask.VERSE.prompt(corpus, new Random(3), 30);
        assertTrue(verse.contains("Quote verse Ge") && verse.lines().filter(l -> l.startsWith("Ge")).count() == 30, verse);
    }

    @Test
    void answersAreTheModelsOwnGreedyContinuation() throws Exception {
        Calibration.Settings settings = new Calibration.Settings(List.of(CalibrationTask.PASSKEY), List.of(512), 1, 5, 24);
        Calibration.Sample s = Calibration.make(demo, corpus, settings, 512, 0);
        int[] prompt = java.util.Arrays.copyOf(s.tokens(), s.answerStart());
        assertArrayEquals(Prompts.question(demo, CalibrationTask.PASSKEY.prompt(corpus, new Random(0), 10)),
                Prompts.question(demo, CalibrationTask.PASSKEY.prompt(corpus, new Random(0), 10)));
        var greedy = dev.moa.runtime.generate.Generator.generate(demo, prompt, dev.moa.runtime.generate.GenerationParams.greedy(24), t -> { });
        assertTrue(greedy.tokens().length > 0, "the demo model answers a pass-key question");
        assertArrayEquals(greedy.tokens(), java.util.Arrays.copyOfRange(s.tokens(), s.answerStart(), s.tokens().length),
                "the stored answer is what greedy decoding writes");
        assertTrue(s.tokens().length <= 512 && s.answerTokens() <= 24);
    }

    @Test
    void anInterruptedRunResumesToTheSameSet() throws Exception {
        List<CalibrationTask> tasks = List.of(CalibrationTask.PASSKEY, CalibrationTask.VERSE, CalibrationTask.RECORDS);
        Path whole = work.resolve("whole"), resumed = work.resolve("resumed");
        Calibration.run(demo, corpus, new Calibration.Settings(tasks, List.of(384), 3, 9, 16), whole, null);
        Calibration.run(demo, corpus, new Calibration.Settings(tasks, List.of(384), 2, 9, 16), resumed, null);
        Path file = resumed.resolve("samples-384.jsonl");
        String firstLine = Files.readAllLines(file).get(0);
        Files.writeString(file, firstLine.substring(0, firstLine.length() / 2), StandardOpenOption.APPEND); // an interrupted write
        Calibration.run(demo, corpus, new Calibration.Settings(tasks, List.of(384), 3, 9, 16), resumed, null);
        assertEquals(Files.readString(whole.resolve("samples-384.jsonl")), Files.readString(file));
        List<Calibration.Sample> samples = Calibration.read(resumed, 384);
        assertEquals(3, samples.size());
        List<String> used = new ArrayList<>();
        samples.forEach(s -> used.add(s.task().label()));
        assertEquals(List.of("passkey", "verse", "records"), used);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Calibration.run(demo, corpus, new Calibration.Settings(tasks, List.of(384), 3, 10, 16), resumed, null));
        assertTrue(e.getMessage().contains("another seed"), e.getMessage());
    }
}
