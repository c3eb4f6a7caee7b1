package dev.moa.runtime.device;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.safetensors.DType;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.BatchDecoder;
import dev.moa.runtime.Model;
import dev.moa.runtime.Session;
import dev.moa.runtime.model.KvFormat;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.synthetic.SyntheticModel;
import dev.moa.tasks.cuda.DeviceChoice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The device's decode steps against the CPU's on one model: the same random prompt prefilled in both (on the CPU,
 * as every session is), then greedy steps fed the CPU's token, comparing each step's logits (largest difference
 * relative to the largest logit) and greedy token; then a session decoding greedily on the device, fed the same tokens,
 * must give the argmax of the device's logits at every step. What {@code moa check} prints, and how a kernel change is
 * checked on a GPU or in the emulator.
 */
public final class DeviceCheck {
    /** The relative logit difference a step may show: F32 arithmetic in another order, nothing more. */
    public static final double TOLERANCE = 1e-4;

    /**
     * The relative logit difference a step may show with KV caches in {@code format} on both sides. BF16: the two
     * devices' keys and values agree to F32's last bits, but now and then such a pair straddles a BF16 rounding
     * boundary and the two caches store neighbouring BF16 values (2^-8 apart), which moves logits by up to about 1e-3
     * of the largest; a cache read in the wrong format or slot is off by far more.
     */
    public static double tolerance(KvFormat format) {
        return format == KvFormat.BF16 ? 5e-3 : TOLERANCE;
    }

    /** One attention mode's comparison: the worst step's relative difference and how many greedy tokens agreed. */
    public record Result(String attention, int promptTokens, int steps, double worstRelative, int tokensAgreed, double deviceSeconds,
                         double tolerance) {
        public boolean passed() {
            return worstRelative <= tolerance && tokensAgreed == steps;
        }
    }

    private DeviceCheck() {
    }

    /**
     * Compares {@code steps} decode steps after a {@code promptTokens}-token prompt under {@code attention}, the
     * sessions sized to end exactly at the last step (so a MoA plan's spans are those of N = prompt + steps).
     */
    public static Result run(Model cpu, Model device, AttentionMode attention, int promptTokens, int steps, long seed) {
        int vocab = cpu.config().vocabSize();
        int[] prompt = new SplittableRandom(seed).ints(promptTokens, Math.min(3, vocab - 1), vocab).toArray();
        int capacity = promptTokens + steps;
        double worst = 0, seconds = 0;
        int agreed = 0;
        int[] fed = new int[steps], deviceTokens = new int[steps]; // the CPU's token at each step; the argmax of the device's logits
        try (Session a = cpu.newSession(capacity, 64, attention, steps); Session b = device.newSession(capacity, 64, attention, steps)) {
            float[] expected = a.prefill(prompt), actual = b.prefill(prompt);
            for (int t = 0; t < steps; t++) {
                int token = Sampler.argmax(expected);
                fed[t] = token;
                deviceTokens[t] = Sampler.argmax(actual);
                if (token == deviceTokens[t]) agreed++;
                expected = a.decode(token);
                long start = System.nanoTime();
                actual = b.decode(token);
                seconds += (System.nanoTime() - start) / 1e9;
                worst = Math.max(worst, relativeDifference(expected, actual));
            }
        }
        // the same tokens fed to a session decoding greedily on the device (its argmax there and, on a GPU, each step queued
        // before the host read the one before it, Session.decodeGreedy): each token it gives must be the argmax of the
        // device's logits for the same step; a step it disagrees on counts as a token not agreed (after the timed steps:
        // its steps queued ahead do not run inside them)
        try (Session c = device.newSession(capacity, 64, attention, steps)) {
            int greedy = Sampler.argmax(c.prefill(prompt));
            for (int t = 0; t < steps; t++) {
                if (greedy != deviceTokens[t] && fed[t] == deviceTokens[t]) agreed--;
                if (t + 1 < steps) greedy = c.decodeGreedy(fed[t]);
            }
        }
        return new Result(attention.toString(), promptTokens, steps, worst, agreed, seconds, tolerance(cpu.kvFormat()));
    }

    /**
     * A golden case of the PyTorch float64 reference ({@code tests/src/test/resources/golden/*.json}): its seeded
     * model is written under {@code work} (the weights' SHA-256 checked against the reference's), loaded onto
     * {@code device}, and each prompt's greedy continuation decoded there must equal the reference's token for token,
     * with the last step's logits within {@link #TOLERANCE} of the largest.
     */
    public static Result golden(Path file, DeviceChoice device, Path work) throws IOException {
        return golden(file, device, work, model -> { });
    }

    /** As {@link #golden(Path, DeviceChoice, Path)}, the model set up by {@code configure} once loaded (which kernels its steps run). */
    public static Result golden(Path file, DeviceChoice device, Path work, java.util.function.Consumer<Model> configure) throws IOException {
        JsonObject g = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        Path dir = work.resolve(g.get("dir").getAsString() + "-" + g.get("dtype").getAsString());
        DType storage = DType.valueOf(g.get("dtype").getAsString().toUpperCase(Locale.ROOT));
        String sha = SyntheticModel.write(dir, g.getAsJsonObject("config"), storage, g.get("model_seed").getAsLong());
        if (!sha.equals(g.get("weights_sha256").getAsString())) throw new IllegalStateException(file + ": the re-created weights differ from the reference's");
        double worst = 0, seconds = 0;
        int agreed = 0, steps = 0, promptTokens = 0;
        try (Model model = Model.load(dir, device)) {
            configure.accept(model);
            for (var entry : g.getAsJsonObject("prompts").entrySet()) {
                var p = entry.getValue().getAsJsonObject();
                int[] prompt = ints(p.getAsJsonArray("prompt_ids")), expected = ints(p.getAsJsonArray("greedy_new_ids"));
                promptTokens = Math.max(promptTokens, prompt.length);
                try (Session session = model.newSession(prompt.length + expected.length, 64)) {
                    float[] logits = session.prefill(prompt);
                    for (int i = 0; i < expected.length; i++) {
                        int token = Sampler.argmax(logits);
                        steps++;
                        if (token == expected[i]) agreed++;
                        if (i + 1 < expected.length) {
                            long start = System.nanoTime();
                            logits = session.decode(expected[i]); // the reference's token: one miss does not derail the rest
                            seconds += (System.nanoTime() - start) / 1e9;
                        }
                    }
                    var last = p.getAsJsonArray("last_step_logits");
                    double largest = 1, diff = 0;
                    for (int i = 0; i < last.size(); i++) {
                        double e = last.get(i).getAsDouble();
                        largest = Math.max(largest, Math.abs(e));
                        diff = Math.max(diff, Math.abs(e - logits[i]));
                    }
                    worst = Math.max(worst, diff / largest);
                }
            }
        }
        return new Result(file.getFileName().toString(), promptTokens, steps, worst, agreed, seconds, TOLERANCE);
    }

    private static int[] ints(JsonArray a) {
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = a.get(i).getAsInt();
        return v;
    }

    /**
     * One session per attention mode, prompts of different lengths, stepped together on the device by a
     * {@link BatchDecoder} against each decoded alone on the CPU: the worst step's relative logit
     * difference over all sessions and how many greedy tokens agreed.
     */
    public static Result batched(Model cpu, Model device, List<AttentionMode> modes, int promptTokens, int steps, long seed) {
        int vocab = cpu.config().vocabSize(), n = modes.size();
        SplittableRandom random = new SplittableRandom(seed);
        int[][] prompts = new int[n][];
        for (int i = 0; i < n; i++) prompts[i] = random.ints(promptTokens + 17 * i, Math.min(3, vocab - 1), vocab).toArray();
        float[][][] expected = new float[n][steps][];
        int[][] tokens = new int[n][steps];
        for (int i = 0; i < n; i++) {
            try (Session alone = cpu.newSession(prompts[i].length + steps, 64, modes.get(i), steps)) {
                float[] logits = alone.prefill(prompts[i]);
                for (int t = 0; t < steps; t++) {
                    tokens[i][t] = Sampler.argmax(logits);
                    logits = alone.decode(tokens[i][t]);
                    expected[i][t] = logits.clone();
                }
            }
        }
        List<Session> sessions = new ArrayList<>();
        double worst = 0, seconds = 0;
        int agreed = 0;
        try {
            float[][] logits = new float[n][];
            for (int i = 0; i < n; i++) {
                sessions.add(device.newSession(prompts[i].length + steps, 64, modes.get(i), steps));
                logits[i] = sessions.get(i).prefill(prompts[i]);
            }
            var batch = new BatchDecoder(device, n);
            for (int t = 0; t < steps; t++) {
                int[] feed = new int[n];
                for (int i = 0; i < n; i++) {
                    if (Sampler.argmax(logits[i]) == tokens[i][t]) agreed++;
                    feed[i] = tokens[i][t]; // the CPU's token: one miss does not derail the rest
                }
                long start = System.nanoTime();
                logits = batch.step(sessions, feed);
                seconds += (System.nanoTime() - start) / 1e9;
                for (int i = 0; i < n; i++) worst = Math.max(worst, relativeDifference(expected[i][t], logits[i]));
            }
        } finally {
            sessions.forEach(Session::close);
        }
        return new Result(n + " sessions together", promptTokens, steps * n, worst, agreed, seconds * n, tolerance(cpu.kvFormat()));
    }

    /** max |a − b| over max(1, max |a|): the largest difference on the scale of the largest logit. */
    static double relativeDifference(float[] expected, float[] actual) {
        double largest = 1, diff = 0;
        for (int i = 0; i < expected.length; i++) {
            largest = Math.max(largest, Math.abs(expected[i]));
            diff = Math.max(diff, Math.abs((double) expected[i] - actual[i]));
        }
        return diff / largest;
    }
}
