package dev.moa.runtime.profile;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.moa.loader.io.InputFiles;
import dev.moa.loader.json.StrictJson;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.Prompts;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;

/**
 * The calibration set of moa.md §4: long prompts answered by the model itself (greedy, dense attention, at most
 * {@code answerTokens} new tokens, through its chat template when it has one), each stored with where its answer
 * starts, so the profile scores exactly the tokens the model would write.
 *
 * <p>Layout of a calibration directory: {@code calibration.json} (the manifest: model, tasks, seed, corpora and
 * their SHA-256, lengths, samples per length, the key vocabulary) and {@code samples-N.jsonl}, one sample per
 * line. Sample i of length N is drawn from its own seed (the set's seed, N and i), so an interrupted run
 * continues where it stopped and makes the same set; a half-written last line is dropped on resume.
 */
public final class Calibration {
    public static final String MANIFEST = "calibration.json";
    /** The reference's answer budget: at most this many new tokens per answer. */
    public static final int ANSWER_TOKENS = 128;

    /**
     * @param tasks        tasks, used in turn (sample i gets task i mod count)
     * @param lengths      total sequence lengths (prompt + answer fit in each)
     * @param samples      samples per length
     * @param seed         the set's seed
     * @param answerTokens most new tokens per answer
     */
    public record Settings(List<CalibrationTask> tasks, List<Integer> lengths, int samples, long seed, int answerTokens) {
        public Settings {
            tasks = List.copyOf(tasks);
            lengths = List.copyOf(new TreeSet<>(lengths));
            if (tasks.isEmpty()) throw new IllegalArgumentException("no calibration tasks");
            if (samples < 1) throw new IllegalArgumentException("samples per length must be >= 1, got " + samples);
            if (answerTokens < 1) throw new IllegalArgumentException("the answer budget must be >= 1 token, got " + answerTokens);
            for (int n : lengths) {
                if (n < answerTokens + 64) throw new IllegalArgumentException("length " + n + " leaves no room for a prompt before a "
                        + answerTokens + "-token answer");
            }
        }
    }

    /** One calibration sequence: prompt and the model's answer, {@code tokens[answerStart ..]}. */
    public record Sample(int index, CalibrationTask task, int length, int[] tokens, int answerStart, String answer) {
        public int answerTokens() {
            return tokens.length - answerStart;
        }
    }

    private Calibration() {
    }

    /** The tasks that apply to a corpus when none are named: all of them. */
    public static List<CalibrationTask> defaultTasks(Corpus corpus) {
        return Arrays.stream(CalibrationTask.values()).filter(t -> t.applies(corpus)).toList();
    }

    /** Makes (or completes) the calibration set in {@code dir}. */
    public static void run(Model model, Corpus corpus, Settings settings, Path dir, PrintStream progress) throws IOException {
        for (CalibrationTask t : settings.tasks()) {
            if (!t.applies(corpus)) throw new IllegalArgumentException("task " + t.label() + " needs verses ('Ge1:1 text' lines) in the corpus, and it has none");
        }
        int context = model.config().maxPositions();
        for (int n : settings.lengths()) {
            if (n > context) throw new IllegalArgumentException("length " + n + " exceeds the model's context of " + context + " tokens (max_position_embeddings)");
        }
        Files.createDirectories(dir);
        JsonObject manifest = manifest(model, corpus, settings);
        Path manifestFile = dir.resolve(MANIFEST);
        if (Files.isRegularFile(manifestFile)) checkCompatible(manifestFile, manifest);
        Files.writeString(manifestFile, new GsonBuilder().setPrettyPrinting().create().toJson(manifest) + "\n");

        for (int length : settings.lengths()) {
            Path file = samplesFile(dir, length);
            int done = readSamples(file, length, true).size();
            Progress bar = new Progress(progress, "calibrate " + length, settings.samples(), Math.min(done, settings.samples()));
            try (BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
                for (int i = done; i < settings.samples(); i++) {
                    Sample s = make(model, corpus, settings, length, i);
                    out.write(toJson(s).toString());
                    out.write('\n');
                    out.flush();
                    bar.step(i + 1, String.format(java.util.Locale.ROOT, "%s: %d prompt + %d answer tokens: %s", s.task().label(),
                            s.answerStart(), s.answerTokens(), abbreviate(s.answer())));
                }
            }
        }
    }

    static Path samplesFile(Path dir, int length) {
        return dir.resolve("samples-" + length + ".jsonl");
    }

    /** Sample {@code index} of {@code length}: its prompt fitted to the length, and the model's greedy answer. */
    static Sample make(Model model, Corpus corpus, Settings settings, int length, int index) {
        CalibrationTask task = settings.tasks().get(index % settings.tasks().size());
        long seed = settings.seed() * 0x9E3779B97F4A7C15L + length * 1_000_003L + index;
        int budget = length - settings.answerTokens();
        int[] prompt = fit(model, corpus, task, seed, budget);
        var params = new GenerationParams(settings.answerTokens(), dev.moa.runtime.generate.SamplingParams.greedy(), List.of(), false);
        GenerationResult answer = Generator.generate(model, prompt, params, text -> { });
        int[] generated = answer.tokens();
        if (generated.length == 0) {
            // The model ended its turn at once: that end-of-turn token is its whole answer.
            generated = new int[] {model.eosTokenIds().iterator().next()};
        }
        int[] tokens = Arrays.copyOf(prompt, prompt.length + generated.length);
        System.arraycopy(generated, 0, tokens, prompt.length, generated.length);
        return new Sample(index, task, length, tokens, prompt.length, answer.text());
    }

    /** The prompt of the largest size whose tokens fit {@code budget}, found by measuring and rescaling a few times. */
    static int[] fit(Model model, Corpus corpus, CalibrationTask task, long seed, int budget) {
        int size = task.initialSize(budget);
        int[] best = null;
        int bestSize = 0;
        for (int attempt = 0; attempt < 8; attempt++) {
            int[] ids = Prompts.question(model, task.prompt(corpus, new Random(seed), size));
            if (ids.length <= budget && (best == null || ids.length > best.length)) {
                best = ids;
                bestSize = size;
            }
            if (ids.length <= budget && ids.length >= 0.98 * budget) break;
            int next = (int) Math.max(1, Math.floor(size * 0.99 * budget / ids.length));
            if (next == size) next = ids.length > budget ? size - 1 : size + 1;
            if (next < 1 || (best != null && next == bestSize)) break;
            size = next;
        }
        if (best == null) {
            int shortest = Prompts.question(model, task.prompt(corpus, new Random(seed), 1)).length;
            throw new IllegalArgumentException("no " + task.label() + " prompt fits " + budget + " tokens (its shortest takes " + shortest
                    + "); profile at longer lengths");
        }
        return best;
    }

    private static String abbreviate(String s) {
        String one = s.strip().replace('\n', ' ');
        return '"' + (one.length() > 50 ? one.substring(0, 47) + "..." : one) + '"';
    }

    static JsonObject manifest(Model model, Corpus corpus, Settings settings) throws IOException {
        JsonObject m = new JsonObject();
        m.addProperty("model", model.directory().getFileName().toString());
        m.addProperty("model_config_sha256", Corpus.sha256(Files.readAllBytes(model.directory().resolve("config.json"))));
        JsonArray tasks = new JsonArray();
        settings.tasks().forEach(t -> tasks.add(t.label()));
        m.add("tasks", tasks);
        m.addProperty("seed", settings.seed());
        m.addProperty("answer_tokens", settings.answerTokens());
        m.addProperty("answers", "greedy, dense attention, through the chat template when the model has one");
        JsonArray lengths = new JsonArray();
        settings.lengths().forEach(lengths::add);
        m.add("lengths", lengths);
        m.addProperty("samples_per_length", settings.samples());
        JsonArray corpora = new JsonArray();
        for (Corpus.Document d : corpus.documents()) {
            JsonObject o = new JsonObject();
            o.addProperty("name", d.name());
            o.addProperty("sha256", d.sha256());
            o.addProperty("characters", d.text().length());
            corpora.add(o);
        }
        m.add("corpora", corpora);
        m.addProperty("record_keys", "calibration-adjectives.txt x calibration-nouns.txt, disjoint from the words of moa eval retrieval's keys");
        return m;
    }

    /** The settings that decide what each sample is must match an existing set's; lengths and counts may grow. */
    private static void checkCompatible(Path file, JsonObject wanted) throws IOException {
        JsonObject existing = readJson(file);
        for (String field : List.of("model_config_sha256", "tasks", "seed", "answer_tokens", "corpora")) {
            if (!wanted.get(field).equals(existing.get(field))) {
                throw new IllegalArgumentException(file + ": this calibration set was made with another " + field.replace('_', ' ')
                        + " (" + existing.get(field) + ", now " + wanted.get(field) + "); use another --out directory or remove it");
            }
        }
        TreeSet<Integer> lengths = new TreeSet<>();
        existing.getAsJsonArray("lengths").forEach(e -> lengths.add(e.getAsInt()));
        wanted.getAsJsonArray("lengths").forEach(e -> lengths.add(e.getAsInt()));
        JsonArray merged = new JsonArray();
        lengths.forEach(merged::add);
        wanted.add("lengths", merged);
        wanted.addProperty("samples_per_length", Math.max(wanted.get("samples_per_length").getAsInt(), existing.get("samples_per_length").getAsInt()));
    }

    static JsonObject readJson(Path file) throws IOException {
        try {
            return StrictJson.parseObject(InputFiles.readText(file, InputFiles.SMALL_JSON));
        } catch (StrictJson.Error e) {
            throw new IllegalArgumentException(file + ": not valid JSON (" + e.getMessage() + ")");
        }
    }

    /** The samples of one length in a calibration directory. */
    public static List<Sample> read(Path dir, int length) throws IOException {
        Path file = samplesFile(dir, length);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(dir + ": no calibration samples of length " + length + " (" + file.getFileName()
                    + "); run moa calibrate with --lengths " + length);
        }
        return readSamples(file, length, false);
    }

    /** The lengths a calibration directory holds samples for. */
    public static List<Integer> lengths(Path dir) throws IOException {
        JsonObject m = readJson(dir.resolve(MANIFEST));
        List<Integer> lengths = new ArrayList<>();
        m.getAsJsonArray("lengths").forEach(e -> lengths.add(e.getAsInt()));
        return lengths;
    }

    /** Reads a samples file; with {@code repair}, a malformed last line (an interrupted write) is cut off. */
    private static List<Sample> readSamples(Path file, int length, boolean repair) throws IOException {
        List<Sample> samples = new ArrayList<>();
        if (!Files.isRegularFile(file)) return samples;
        String[] lines = InputFiles.readText(file, InputFiles.TEXT).split("\n", -1);
        long goodBytes = 0;
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            if (line.isBlank()) {
                goodBytes += line.getBytes(StandardCharsets.UTF_8).length + 1;
                continue;
            }
            try {
                samples.add(fromJson(StrictJson.parseObjectLine(line), length));
                goodBytes += line.getBytes(StandardCharsets.UTF_8).length + 1;
            } catch (RuntimeException | StrictJson.Error e) {
                if (repair && i == lastLine(lines)) {
                    try (var channel = java.nio.channels.FileChannel.open(file, StandardOpenOption.WRITE)) {
                        channel.truncate(goodBytes);
                    }
                    break;
                }
                throw new IllegalArgumentException(file + " line " + (i + 1) + ": not a calibration sample (" + e.getMessage() + ")");
            }
        }
        return samples;
    }

    /** The index of the last line that is not blank (a file ends with a newline, so split leaves one empty tail). */
    private static int lastLine(String[] lines) {
        int last = lines.length - 1;
        while (last > 0 && lines[last].isBlank()) last--;
        return last;
    }

    private static final Gson GSON = new Gson();

    static JsonObject toJson(Sample s) {
        JsonObject o = new JsonObject();
        o.addProperty("index", s.index());
        o.addProperty("task", s.task().label());
        o.addProperty("length", s.length());
        o.addProperty("answer_start", s.answerStart());
        o.addProperty("answer", s.answer());
        o.add("tokens", GSON.toJsonTree(s.tokens()));
        return o;
    }

    static Sample fromJson(JsonObject o, int length) {
        int[] tokens = GSON.fromJson(o.get("tokens"), int[].class);
        int answerStart = o.get("answer_start").getAsInt();
        if (tokens == null || answerStart < 1 || answerStart >= tokens.length) throw new IllegalArgumentException("answer_start outside the tokens");
        if (tokens.length > length) throw new IllegalArgumentException(tokens.length + " tokens in a sample of length " + length);
        return new Sample(o.get("index").getAsInt(), CalibrationTask.parse(o.get("task").getAsString()), length, tokens, answerStart,
                o.get("answer").getAsString());
    }
}
