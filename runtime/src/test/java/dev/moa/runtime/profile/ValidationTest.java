package dev.moa.runtime.profile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.plans.MoaPlan;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Validation drops losing plans early and reuses earlier rounds, and still makes the choice scoring everything would. */
class ValidationTest {
    static final int LENGTH = 384;
    @TempDir
    static Path work;
    static Model demo;
    static List<Calibration.Sample> samples;

    @BeforeAll
    static void load() throws Exception {
        demo = Model.load(Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo"));
        StringBuilder prose = new StringBuilder();
        Random random = new Random(4);
        String[] words = {"the", "sea", "was", "calm", "and", "Elizabeth", "walked", "along", "shore", "with", "her", "sister"};
        for (int i = 0; i < 20_000; i++) prose.append(words[random.nextInt(words.length)]).append(i % 13 == 12 ? ".\n" : " ");
        Corpus corpus = Corpus.of(List.of(new Corpus.Document("prose.txt", prose.toString(), "a")));
        Calibration.run(demo, corpus, new Calibration.Settings(List.of(CalibrationTask.PASSKEY, CalibrationTask.SUMMARY), List.of(LENGTH), 4, 3, 24),
                work.resolve("calibration"), null);
        samples = Calibration.read(work.resolve("calibration"), LENGTH);
    }

    @AfterAll
    static void close() {
        demo.close();
    }

    /** A plan giving every head the rule alpha + beta N, one pair per layer. */
    static Path plan(String name, double[] alpha, double[] beta) throws Exception {
        StringBuilder a = new StringBuilder("["), b = new StringBuilder("[");
        int heads = demo.config().numHeads();
        for (int l = 0; l < alpha.length; l++) {
            double[] as = new double[heads], bs = new double[heads];
            Arrays.fill(as, alpha[l]);
            Arrays.fill(bs, beta[l]);
            a.append(l > 0 ? "," : "").append(Arrays.toString(as));
            b.append(l > 0 ? "," : "").append(Arrays.toString(bs));
        }
        Path f = work.resolve("plans").resolve(name + ".json");
        Files.createDirectories(f.getParent());
        Files.writeString(f, "{\"alphas\": " + a + "], \"betas\": " + b + "]}");
        return f;
    }

    @Test
    void droppingLosingPlansEarlyChoosesWhatScoringEveryPlanWouldAndReusesWhatIsKnown() throws Exception {
        List<Path> files = new ArrayList<>();
        files.add(plan("a-narrow", new double[] {64, 64, 64, 64}, new double[] {0, 0, 0, 0}));
        files.add(plan("b-half", new double[] {0, 0, 0, 0}, new double[] {0.5, 0.5, 0.5, 0.5}));
        files.add(plan("c-wide-early", new double[] {0, 0, 64, 64}, new double[] {1, 1, 0, 0}));
        files.add(plan("d-wide-late", new double[] {64, 64, 0, 0}, new double[] {0, 0, 1, 1}));
        files.add(plan("e-same-as-b", new double[] {0, 0, 0, 0}, new double[] {0.5, 0.5, 0.5, 0.5}));
        files.add(plan("f-three-quarters", new double[] {0, 0, 0, 0}, new double[] {0.75, 0.75, 0.75, 0.75}));
        long tokens = samples.stream().mapToLong(Calibration.Sample::answerTokens).sum();

        // Brute force: every plan on every sample.
        double[] exact = new double[files.size()];
        for (int i = 0; i < files.size(); i++) {
            MoaPlan p = MoaPlan.load(files.get(i));
            exact[i] = Validation.loss(demo, new AttentionMode.Sparse("moa:" + files.get(i), c -> p), samples, tokens, new Progress(null, "", 0, 0),
                    new int[1], "");
        }
        int argmin = 0;
        for (int i = 1; i < exact.length; i++) if (exact[i] < exact[argmin]) argmin = i;
        assertEquals(exact[1], exact[4], 1e-12, "plans with the same spans have the same loss");

        Validation.Known known = new Validation.Known();
        Validation.Result r = Validation.run(demo, files, samples, LENGTH, null, null, known);
        assertEquals(files.get(argmin), r.best().file(), "the plan with the lowest loss is chosen: " + Arrays.toString(exact));
        assertEquals(exact[argmin], r.best().loss(), 1e-9);
        boolean dropped = false;
        for (int i = 0; i < files.size(); i++) {
            Validation.Scored s = r.plans().get(i);
            if (s.complete()) assertEquals(exact[i], s.loss(), 1e-9, s.name());
            else {
                dropped = true;
                assertTrue(s.loss() <= exact[i] + 1e-9 && s.loss() > r.best().loss(), s.name() + ": a lower bound above the best, " + s.loss());
            }
        }
        assertTrue(dropped, "with losses this far apart some plan is dropped early: " + Validation.table(r));
        assertTrue(Validation.table(r).contains(">"), "the table marks lower bounds");

        // A second round on the same samples scores only plans it has not seen; the choice and losses agree.
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<Path> again = List.of(files.get(argmin), files.get(4));
        Validation.Result second = Validation.run(demo, again, samples, LENGTH, null, new PrintStream(log, true, StandardCharsets.UTF_8), known);
        assertEquals(files.get(argmin), second.best().file());
        assertEquals(r.denseLoss(), second.denseLoss(), 0);
        String printed = log.toString(StandardCharsets.UTF_8);
        assertEquals(!r.plans().get(1).complete(), printed.contains("e-same-as-b"),
                "a plan is scored again only when its loss is not known yet: " + printed);
        assertFalse(printed.contains("dense:"), "dense is not scored again: " + printed);
    }
}
