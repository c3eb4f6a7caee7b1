package dev.moa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.safetensors.DType;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.eval.LongEval;
import dev.moa.runtime.eval.Perplexity;
import dev.moa.runtime.eval.RetrievalEval;
import dev.moa.runtime.model.LlamaModel;
import dev.moa.runtime.synthetic.SyntheticModel;
import dev.moa.runtime.synthetic.SyntheticTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The evaluations' building blocks: LongEval records and scoring, per-position losses, accuracy bookkeeping. */
class EvalTest {
    @TempDir
    static Path work;
    static Path modelDir;
    static int[] tokens;

    @BeforeAll
    static void createModel() throws Exception {
        JsonObject golden = JsonParser.parseString(Files.readString(
                TestPaths.repoRoot().resolve("tests/src/test/resources/golden/llama2-mha-f32.json"))).getAsJsonObject();
        modelDir = work.resolve("model");
        JsonObject config = golden.getAsJsonObject("config");
        SyntheticModel.write(modelDir, config, DType.F32, golden.get("model_seed").getAsLong());
        SyntheticTokenizer.write(modelDir, config.get("vocab_size").getAsInt());
        tokens = ReferenceParityTest.ints(golden.getAsJsonObject("prompts").getAsJsonObject("long").getAsJsonArray("prompt_ids"));
    }

    @Test
    void longEvalRecordsHaveThePapersFormat() {
        LongEval.Item item = LongEval.item(new Random(3), 50, 17);
        assertEquals(50, item.keys().size());
        assertEquals(50, new HashSet<>(item.keys()).size(), "keys are distinct");
        for (int i = 0; i < 50; i++) {
            assertTrue(item.keys().get(i).matches("[a-z]+-[a-z]+"), item.keys().get(i));
            assertTrue(item.values()[i] >= 1 && item.values()[i] <= 50_000, "value " + item.values()[i]);
        }
        String prompt = item.prompt();
        assertTrue(prompt.startsWith("Below is a record of lines I want you to remember."), prompt);
        assertTrue(prompt.contains("Now the record start:\n\nline " + item.keys().get(0) + ": REGISTER_CONTENT is <"
                + item.values()[0] + ">\n"), prompt);
        assertTrue(prompt.endsWith(">\n\nNow the record is over. Tell me what is the <REGISTER_CONTENT> in line "
                + item.key() + "? I need the number."), prompt);
        assertEquals(item.keys().get(17), item.key());
        assertEquals(item.values()[17], item.value());
        // the record lists every line once, in order
        int at = 0;
        for (int i = 0; i < 50; i++) {
            int next = prompt.indexOf("line " + item.keys().get(i) + ": REGISTER_CONTENT is <" + item.values()[i] + ">\n", at);
            assertTrue(next > at, "line " + i + " in order");
            at = next;
        }
        LongEval.Item shorter = item.truncated(20);
        assertEquals(20, shorter.keys().size());
        assertEquals(item.value(), shorter.value());
        assertThrows(IllegalArgumentException.class, () -> item.truncated(17));
        assertThrows(IllegalArgumentException.class, () -> LongEval.item(new Random(1), 5, 5));
    }

    @Test
    void theAnswersLastIntegerIsWhatCounts() {
        assertEquals(24350, LongEval.lastInteger("The <REGISTER_CONTENT> in line brave-tiger is <24350>."));
        assertEquals(7, LongEval.lastInteger("line 3 has 12, no: 7"));
        assertEquals(-1, LongEval.lastInteger("I do not know."));
        assertEquals(-1, LongEval.lastInteger(""));
        assertEquals(-1, LongEval.lastInteger("99999999999999999999999"), "absurdly long digit runs never match");
    }

    /** Every-position logits from one prefill give the same loss as feeding tokens one by one (an independent path). */
    @Test
    void sequenceLossEqualsTokenByTokenDecoding() throws Exception {
        try (Model model = Model.load(modelDir)) {
            double oneByOne = 0;
            Session session = model.newSession(tokens.length);
            float[] logits = session.prefill(new int[] {tokens[0]});
            for (int i = 1; i < tokens.length; i++) {
                oneByOne += nll(logits, tokens[i]);
                if (i + 1 < tokens.length) logits = session.decode(tokens[i]);
            }
            double[] prefix = {0};
            model.newSession(tokens.length).prefill(tokens, (position, row) -> {
                if (position + 1 < tokens.length) prefix[0] += nll(row, tokens[position + 1]);
            });
            assertEquals(oneByOne, prefix[0], 1e-4 * Math.abs(oneByOne));

            // a sparse mode whose spans cover everything is dense, also through the every-position head
            Perplexity.Loss dense = answers(model, new AttentionMode.Dense());
            Perplexity.Loss fullSpan = answers(model, AttentionMode.parse("uniform:0,1"));
            assertEquals(dense.nll(), fullSpan.nll(), 1e-5 * dense.nll());
            Perplexity.Loss narrow = answers(model, AttentionMode.parse("window:64"));
            assertTrue(Math.abs(narrow.nll() - dense.nll()) > 1e-3, "a 64-token window over a long prompt changes the loss");
        }
    }

    private static Perplexity.Loss answers(Model model, AttentionMode mode) {
        String longPrompt = "the quick brown fox jumps over the lazy dog. ".repeat(12);
        return Perplexity.ofAnswers(model, mode, List.of(new Perplexity.Pair(longPrompt, " and then it slept")), null);
    }

    @Test
    void textPerplexityScoresWholeWindows() throws Exception {
        try (Model model = Model.load(modelDir)) {
            String text = "Once upon a time there was a little girl who lived in a village near the forest. ".repeat(30);
            Perplexity.Loss loss = Perplexity.ofText(model, new AttentionMode.Dense(), text, 100, 3, null);
            assertEquals(3, loss.sequences());
            assertEquals(3 * 99, loss.tokens());
            // a random-weight model is close to uniform over its 320 tokens
            assertTrue(loss.perplexity() > 100 && loss.perplexity() < 1000, "perplexity " + loss.perplexity());
            assertThrows(IllegalArgumentException.class,
                    () -> Perplexity.ofText(model, new AttentionMode.Dense(), "tiny", 100, 3, null));
            assertThrows(IllegalArgumentException.class,
                    () -> Perplexity.ofText(model, new AttentionMode.Dense(), text, 5000, 3, null));
        }
    }

    @Test
    void recordsFitTheirBudgetWithTheKeyInTheAskedDecile() throws Exception {
        try (Model model = Model.load(modelDir)) {
            var budget = RetrievalEval.LineBudget.measure(model, 900);
            Random random = new Random(5);
            for (int decile = 0; decile < RetrievalEval.DECILES; decile++) {
                LongEval.Item item = budget.fit(random, decile).item();
                int promptTokens = dev.moa.runtime.generate.Prompts.question(model, item.prompt()).length;
                assertTrue(promptTokens <= 900, promptTokens + " tokens");
                assertTrue(promptTokens > 700, "the budget is used: " + promptTokens + " tokens");
                int n = item.keys().size();
                assertTrue(item.asked() >= decile * n / 10 && item.asked() <= (decile + 1) * n / 10,
                        "line " + item.asked() + " of " + n + " in decile " + decile);
            }
        }
    }

    /** A wrong answer is told apart by whose value it was; a line sharing a key word counts first. */
    @Test
    void wrongAnswersAreClassifiedByWhoseValueTheyAre() {
        var item = new LongEval.Item(List.of("brave-tiger", "brave-ocean", "calm-river", "calm-stone", "loud-wolf", "quiet-river"),
                new int[] {66, 22, 33, 44, 55, 66}, 2);
        assertEquals(LongEval.Answer.RIGHT, item.classify(33));
        assertEquals(LongEval.Answer.LINE_SHARING_A_KEY_WORD, item.classify(44), "the next line, sharing 'calm'");
        assertEquals(LongEval.Answer.LINE_SHARING_A_KEY_WORD, item.classify(66), "line 0 (other) and line 5 (sharing 'river')");
        assertEquals(LongEval.Answer.NEIGHBOURING_LINE, item.classify(22));
        assertEquals(LongEval.Answer.OTHER_LINE, item.classify(55));
        assertEquals(LongEval.Answer.NOT_IN_RECORD, item.classify(77));
        assertEquals(LongEval.Answer.NOT_IN_RECORD, item.classify(LongEval.lastInteger("no number")));
    }

    @Test
    void accuracyIsTalliedByLengthAndDecile() {
        var settings = new RetrievalEval.Settings(List.of(1024, 2048), 2, new AttentionMode.Dense(), 1);
        List<RetrievalEval.Outcome> outcomes = new ArrayList<>();
        for (int length : List.of(1024, 2048)) {
            for (int d = 0; d < 10; d++) {
                for (int s = 0; s < 2; s++) {
                    boolean correct = length == 1024 || (d < 5 && s == 0);
                    LongEval.Answer kind = correct ? LongEval.Answer.RIGHT
                            : d < 3 ? LongEval.Answer.LINE_SHARING_A_KEY_WORD : LongEval.Answer.NOT_IN_RECORD;
                    outcomes.add(new RetrievalEval.Outcome(length, d, 30, length - 50, "k", 1, "a", kind, 1000, 0.1));
                }
            }
        }
        var result = new RetrievalEval.Result("m", new AttentionMode.Dense(), settings, outcomes);
        assertEquals(1.0, result.accuracy(1024));
        assertEquals(0.25, result.accuracy(2048));
        assertEquals(0.5, result.accuracy(2048, 4));
        assertEquals(0.0, result.accuracy(2048, 5));
        assertEquals(1998.0, result.meanPromptTokens(2048));
        String table = result.table();
        assertTrue(table.contains("   2048    1998   0.25 | 0.50 0.50 0.50 0.50 0.50 0.00"), table);
        assertTrue(table.contains("wrong answers: 15, the value of a line sharing a key word 3, the line before or after 0,"
                + " another line 0, no line 12"), table);
        JsonObject json = result.toJson();
        assertEquals(0.25, json.getAsJsonArray("results").get(1).getAsJsonObject().get("accuracy").getAsDouble());
        assertEquals(40, json.getAsJsonArray("items").size());
        JsonObject wrong = json.getAsJsonArray("items").get(21).getAsJsonObject();
        assertEquals("line_sharing_a_key_word", wrong.get("answer_kind").getAsString(), wrong.toString());
        assertEquals(false, wrong.get("correct").getAsBoolean());
        assertThrows(IllegalArgumentException.class, () -> new RetrievalEval.Settings(List.of(100), 1, new AttentionMode.Dense(), 1));
        assertThrows(IllegalArgumentException.class, () -> new RetrievalEval.Settings(List.of(1024), 0, new AttentionMode.Dense(), 1));
    }

    private static double nll(float[] logits, int target) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float l : logits) max = Math.max(max, l);
        for (float l : logits) sum += Math.exp(l - max);
        return Math.log(sum) + max - logits[target];
    }
}
