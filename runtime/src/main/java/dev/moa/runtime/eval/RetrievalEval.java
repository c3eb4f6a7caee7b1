package dev.moa.runtime.eval;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.Prompts;
import dev.moa.runtime.generate.SamplingParams;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * LongEval retrieval accuracy by prompt length and by the asked key's position (decile of the record), the
 * way the MoA paper measures it: greedy answers, correct when the answer's last integer is the key's value.
 */
public final class RetrievalEval {
    /**
     * Tokens kept free after the prompt for the answer: the demo model restates the record's line ("The
     * &lt;REGISTER_CONTENT&gt; in line k: REGISTER_CONTENT is &lt;v&gt;.", 50-58 of its tokens).
     */
    public static final int ANSWER_TOKENS = 64;
    public static final int DECILES = 10;

    /**
     * @param lengths       prompt lengths in tokens (each prompt plus its answer budget fits in the length)
     * @param samplesPerBin records per (length, key-position decile)
     */
    public record Settings(List<Integer> lengths, int samplesPerBin, AttentionMode attention, long seed) {
        public Settings {
            lengths = List.copyOf(lengths);
            if (lengths.isEmpty()) throw new IllegalArgumentException("no lengths to evaluate");
            for (int l : lengths) {
                if (l < 256) throw new IllegalArgumentException("length " + l + " is too short for a LongEval record (>= 256 tokens)");
            }
            if (samplesPerBin < 1) throw new IllegalArgumentException("samples per bin must be >= 1, got " + samplesPerBin);
        }
    }

    /** One question: where its key sat, what the model answered and whose value that was. */
    public record Outcome(int length, int decile, int lines, int promptTokens, String key, int value, String answer,
                          LongEval.Answer kind, long kvCacheBytes, double seconds) {
        public boolean correct() {
            return kind == LongEval.Answer.RIGHT;
        }
    }

    /** Every outcome of a run, with the aggregates people read. */
    public record Result(String model, AttentionMode attention, Settings settings, List<Outcome> outcomes) {
        public double accuracy(int length) {
            return mean(outcomes.stream().filter(o -> o.length == length).toList());
        }

        public double accuracy(int length, int decile) {
            return mean(outcomes.stream().filter(o -> o.length == length && o.decile == decile).toList());
        }

        /** The largest KV cache a question of this length needed. */
        public long kvCacheBytes(int length) {
            return outcomes.stream().filter(o -> o.length == length).mapToLong(Outcome::kvCacheBytes).max().orElse(0);
        }

        public double meanPromptTokens(int length) {
            return outcomes.stream().filter(o -> o.length == length).mapToInt(Outcome::promptTokens).average().orElse(0);
        }

        private static double mean(List<Outcome> list) {
            return list.isEmpty() ? Double.NaN : list.stream().filter(Outcome::correct).count() / (double) list.size();
        }

        /** Accuracy per length (rows) and key-position decile (columns). */
        public String table() {
            StringBuilder out = new StringBuilder();
            out.append(String.format("retrieval accuracy, %s attention, %d per bin%n", attention, settings.samplesPerBin()));
            out.append(String.format("%7s %7s %6s |", "length", "tokens", "all"));
            for (int d = 0; d < DECILES; d++) out.append(String.format(" %4s", d * 10 + "%"));
            out.append('\n');
            for (int length : settings.lengths()) {
                out.append(String.format("%7d %7.0f %6.2f |", length, meanPromptTokens(length), accuracy(length)));
                for (int d = 0; d < DECILES; d++) out.append(String.format(" %4.2f", accuracy(length, d)));
                out.append('\n');
            }
            long wrong = outcomes.stream().filter(o -> !o.correct()).count();
            if (wrong > 0) {
                out.append(String.format("wrong answers: %d, the value of", wrong));
                String separator = " ";
                for (LongEval.Answer kind : LongEval.Answer.values()) {
                    if (kind == LongEval.Answer.RIGHT) continue;
                    out.append(String.format("%s%s %d", separator, kind.whose, outcomes.stream().filter(o -> o.kind() == kind).count()));
                    separator = ", ";
                }
                out.append('\n');
            }
            return out.toString();
        }

        public JsonObject toJson() {
            JsonObject root = new JsonObject();
            root.addProperty("task", "longeval-lines");
            root.addProperty("model", model);
            root.addProperty("attention", attention.toString());
            root.addProperty("samples_per_bin", settings.samplesPerBin());
            root.addProperty("seed", settings.seed());
            JsonArray byLength = new JsonArray();
            for (int length : settings.lengths()) {
                JsonObject row = new JsonObject();
                row.addProperty("length", length);
                row.addProperty("mean_prompt_tokens", meanPromptTokens(length));
                row.addProperty("accuracy", accuracy(length));
                row.addProperty("kv_cache_bytes", kvCacheBytes(length));
                JsonArray deciles = new JsonArray();
                for (int d = 0; d < DECILES; d++) deciles.add(accuracy(length, d));
                row.add("accuracy_by_decile", deciles);
                byLength.add(row);
            }
            root.add("results", byLength);
            JsonArray items = new JsonArray();
            for (Outcome o : outcomes) {
                JsonObject item = new JsonObject();
                item.addProperty("length", o.length);
                item.addProperty("decile", o.decile);
                item.addProperty("lines", o.lines);
                item.addProperty("prompt_tokens", o.promptTokens);
                item.addProperty("key", o.key);
                item.addProperty("value", o.value);
                item.addProperty("answer", o.answer);
                item.addProperty("correct", o.correct());
                item.addProperty("answer_kind", o.kind.label());
                items.add(item);
            }
            root.add("items", items);
            return root;
        }
    }

    private RetrievalEval() {
    }

    /** Runs every (length, decile, sample) question; one progress line per question on {@code progress}. */
    public static Result run(Model model, Settings settings, PrintStream progress) {
        int context = model.config().maxPositions();
        for (int length : settings.lengths()) {
            if (length > context) throw new IllegalArgumentException("length " + length + " exceeds the model's context of "
                    + context + " tokens (max_position_embeddings)");
        }
        GenerationParams params = new GenerationParams(ANSWER_TOKENS, SamplingParams.greedy(), List.of(), false, settings.attention());
        List<Outcome> outcomes = new ArrayList<>();
        long total = (long) settings.lengths().size() * DECILES * settings.samplesPerBin(), done = 0;
        for (int length : settings.lengths()) {
            int asked = 0, right = 0;
            Random random = new Random(settings.seed() * 1_000_003L + length);
            LineBudget budget = LineBudget.measure(model, length - ANSWER_TOKENS);
            for (int decile = 0; decile < DECILES; decile++) {
                for (int s = 0; s < settings.samplesPerBin(); s++) {
                    long start = System.nanoTime();
                    LineBudget.Fitted fitted = budget.fit(random, decile);
                    LongEval.Item item = fitted.item();
                    int[] prompt = fitted.prompt();
                    GenerationResult r = Generator.generate(model, prompt, params, text -> { });
                    String answer = r.text().strip();
                    double seconds = (System.nanoTime() - start) / 1e9;
                    Outcome o = new Outcome(length, decile, item.keys().size(), prompt.length, item.key(), item.value(),
                            answer, item.classify(LongEval.lastInteger(answer)), r.kvCacheBytes(), seconds);
                    outcomes.add(o);
                    done++;
                    asked++;
                    if (o.correct()) right++;
                    if (progress != null) {
                        progress.printf("[%d/%d] length %d, key at %d%%: %s (%d/%d right at this length, %.1f s)%n", done, total,
                                length, decile * 10, o.correct() ? "right" : "wrong (" + o.kind().whose + "'s value): " + abbreviate(answer) + " vs " + item.value(),
                                right, asked, seconds);
                    }
                }
            }
        }
        return new Result(model.directory().getFileName().toString(), settings.attention(), settings, outcomes);
    }

    private static String abbreviate(String s) {
        String oneLine = s.replace('\n', ' ');
        return '"' + (oneLine.length() > 60 ? oneLine.substring(0, 57) + "..." : oneLine) + '"';
    }

    /** How many record lines fit a token budget for this model's tokenizer and prompt format. */
    public record LineBudget(Model model, int maxTokens, int lines) {
        public static LineBudget measure(Model model, int maxTokens) {
            Random probe = new Random(0);
            int shortTokens = tokens(model, LongEval.item(probe, 10, 0));
            int longTokens = tokens(model, LongEval.item(probe, 110, 0));
            double perLine = (longTokens - shortTokens) / 100.0;
            int lines = (int) Math.floor(10 + (maxTokens - shortTokens) / perLine);
            if (lines < 2) throw new IllegalArgumentException("a LongEval record needs at least 2 lines; " + maxTokens
                    + " tokens hold " + Math.max(0, lines) + " with this tokenizer");
            return new LineBudget(model, maxTokens, lines);
        }

        /** A record and its prompt's token ids (encoded once, while fitting). */
        public record Fitted(LongEval.Item item, int[] prompt) {
        }

        /** A record asking about a key in the given decile, trimmed until its prompt fits the budget. */
        public Fitted fit(Random random, int decile) {
            int n = lines;
            while (true) {
                int asked = Math.min(n - 1, (int) ((decile + random.nextDouble()) * n / DECILES));
                LongEval.Item item = LongEval.item(random, n, asked);
                int[] prompt = Prompts.question(model, item.prompt());
                int over = prompt.length - maxTokens;
                if (over <= 0) return new Fitted(item, prompt);
                n = Math.max(2, n - Math.max(1, over / 8));
            }
        }

        private static int tokens(Model model, LongEval.Item item) {
            return Prompts.question(model, item.prompt()).length;
        }
    }
}
