package dev.moa.runtime.profile;

import dev.moa.plans.HeadSpans;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.moa.loader.json.StrictJson;
import dev.moa.loader.config.ModelConfig;
import dev.moa.loader.safetensors.DType;
import dev.moa.loader.safetensors.SafetensorsFile;
import dev.moa.loader.safetensors.SafetensorsWriter;
import dev.moa.loader.safetensors.Tensor;
import dev.moa.plans.ElasticRule;
import dev.moa.plans.InfluenceMap;
import dev.moa.runtime.Model;
import dev.moa.plans.MoaPlan;
import dev.moa.runtime.model.InfluenceSum;
import dev.moa.runtime.model.LlamaBackward;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code moa profile}: for every calibration length N, one forward and one backward pass per sample
 * ({@link LlamaBackward}), the influence of every causal 64×64 block of every (layer, query head) ({@link InfluenceSum}:
 * by default |Σ ΔL| of the block per sample) summed and divided by the sample count — the influence map {@code [layers, heads, N/64, N/64]}, saved as {@code influence-N.safetensors}
 * (tensor {@code influence}, F32; metadata: length, samples, model). Resumable: the running sum is checkpointed
 * to {@code influence-N.partial.safetensors} (at most every 30 s) and picked up again.
 * {@code profile.json} records the model's shape and, per length, the time and peak heap per sample.
 */
public final class Profiler {
    public static final String SUMMARY = "profile.json";
    private static final double CHECKPOINT_SECONDS = 30;

    /** What profiling one length cost and found. */
    public record LengthProfile(int length, int samples, double secondsPerSample, long peakHeapBytes, double answerLoss) {
    }

    private Profiler() {
    }

    public static Path mapFile(Path dir, int length) {
        return dir.resolve("influence-" + length + ".safetensors");
    }

    /** Profiles the calibration set's lengths (or only {@code lengths} when not empty), at most {@code maxSamples} each. */
    public static List<LengthProfile> run(Model model, Path calibration, List<Integer> lengths, int maxSamples, InfluenceSum sum, Path out,
                                          PrintStream progress) throws IOException {
        return run(model, calibration, lengths, maxSamples, sum, null, out, progress);
    }

    /**
     * As {@link #run(Model, Path, List, int, InfluenceSum, Path, PrintStream)}, profiled under a plan (null: dense):
     * each sample runs with the plan's spans at its own length and every block carries the loss of leaving it out of
     * that context ({@link LlamaBackward#influence(int[], int, InfluenceSum, HeadSpans, double[][][])}).
     */
    public static List<LengthProfile> run(Model model, Path calibration, List<Integer> lengths, int maxSamples, InfluenceSum sum, MoaPlan at,
                                          Path out, PrintStream progress) throws IOException {
        List<Integer> todo = lengths.isEmpty() ? Calibration.lengths(calibration) : lengths;
        Files.createDirectories(out);
        ModelConfig c = model.config();
        String configSha = Corpus.sha256(Files.readAllBytes(model.directory().resolve("config.json")));
        LlamaBackward backward = new LlamaBackward(model.llama());
        List<LengthProfile> results = new ArrayList<>();
        for (int length : todo) {
            if (length % ElasticRule.BLOCK != 0) throw new IllegalArgumentException("profiled lengths must be multiples of 64, got " + length);
            List<Calibration.Sample> samples = Calibration.read(calibration, length);
            samples = samples.subList(0, Math.min(samples.size(), maxSamples));
            if (samples.isEmpty()) throw new IllegalArgumentException(calibration + ": no samples of length " + length);
            Path done = mapFile(out, length);
            if (Files.isRegularFile(done)) {
                InfluenceMap existing = read(done);
                if (existing.samples() == samples.size() && sum.name().toLowerCase(java.util.Locale.ROOT).equals(metadata(done, "influence_sum"))
                        && profiledAt(at).equals(metadata(done, "profiled_at"))) {
                    if (progress != null) progress.printf("profile %d: done earlier (%d samples), %s%n", length, existing.samples(), done.getFileName());
                    results.add(previous(out, length));
                    continue;
                }
            }
            results.add(profileLength(backward, c, configSha, samples, length, sum, at, out, progress));
            writeSummary(out, model, configSha, calibration, sum, results);
        }
        writeSummary(out, model, configSha, calibration, sum, results);
        return results;
    }

    private static LengthProfile profileLength(LlamaBackward backward, ModelConfig c, String configSha, List<Calibration.Sample> samples,
                                               int length, InfluenceSum influenceSum, MoaPlan at, Path out, PrintStream progress)
            throws IOException {
        String mode = influenceSum.name().toLowerCase(java.util.Locale.ROOT), atId = profiledAt(at);
        int layers = c.numLayers(), heads = c.numHeads(), blocks = length / ElasticRule.BLOCK;
        double[][][] sum = new double[layers][heads][blocks * blocks];
        Path partial = out.resolve("influence-" + length + ".partial.safetensors");
        int start = 0;
        double lossSum = 0;
        if (Files.isRegularFile(partial)) {
            try (Arena arena = Arena.ofConfined()) {
                SafetensorsFile f = SafetensorsFile.open(partial, arena);
                if (configSha.equals(f.metadata().get("model_config_sha256")) && mode.equals(f.metadata().get("influence_sum"))
                        && atId.equals(f.metadata().get("profiled_at"))) {
                    start = Integer.parseInt(f.metadata().get("samples"));
                    lossSum = Double.parseDouble(f.metadata().get("answer_loss_sum"));
                    Tensor t = f.tensors().get("influence");
                    var little = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN); // (once: a layout per element hashed it per element)
                    for (int l = 0; l < layers; l++) {
                        for (int h = 0; h < heads; h++) {
                            for (int i = 0; i < blocks * blocks; i++) {
                                sum[l][h][i] = t.data().getAtIndex(little, ((long) (l * heads + h)) * blocks * blocks + i);
                            }
                        }
                    }
                }
            }
        }
        start = Math.min(start, samples.size());
        Progress bar = new Progress(progress, "profile " + length, samples.size(), start);
        long peak = 0;
        double seconds = 0;
        long lastCheckpoint = System.nanoTime();
        for (int i = start; i < samples.size(); i++) {
            Calibration.Sample s = samples.get(i);
            resetPeaks();
            long t0 = System.nanoTime();
            HeadSpans spans = at == null ? null : HeadSpans.of(at, s.tokens().length);
            LlamaBackward.Loss loss = backward.influence(s.tokens(), s.answerStart(), influenceSum, spans, sum);
            double took = (System.nanoTime() - t0) / 1e9;
            seconds += took;
            peak = Math.max(peak, peakHeap());
            lossSum += loss.mean();
            bar.step(i + 1, String.format(java.util.Locale.ROOT, "%s, %d tokens: answer loss %.3f (%.1f s)", s.task().label(), s.tokens().length, loss.mean(), took));
            if (i + 1 < samples.size() && (System.nanoTime() - lastCheckpoint) / 1e9 > CHECKPOINT_SECONDS) {
                write(partial, sum, layers, heads, blocks, length, i + 1, Map.of("model_config_sha256", configSha,
                        "answer_loss_sum", Double.toString(lossSum), "influence_sum", mode, "profiled_at", atId), 1);
                lastCheckpoint = System.nanoTime();
            }
        }
        write(mapFile(out, length), sum, layers, heads, blocks, length, samples.size(), Map.of("model_config_sha256", configSha,
                "answer_loss", Double.toString(lossSum / samples.size()), "influence_sum", mode, "profiled_at", atId), 1.0 / samples.size());
        Files.deleteIfExists(partial);
        int fresh = samples.size() - start;
        return new LengthProfile(length, samples.size(), fresh > 0 ? seconds / fresh : Double.NaN, peak, lossSum / samples.size());
    }

    /** Writes sum × scale as the map (scale 1/samples makes the mean), through a temporary file so no reader sees half. */
    private static void write(Path file, double[][][] sum, int layers, int heads, int blocks, int length, int samples,
                              Map<String, String> extra, double scale) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(layers * heads * blocks * blocks * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (double[][] layer : sum) for (double[] head : layer) for (double v : head) bytes.putFloat((float) (v * scale));
        Map<String, String> metadata = new java.util.HashMap<>(extra);
        metadata.put("length", Integer.toString(length));
        metadata.put("samples", Integer.toString(samples));
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        SafetensorsWriter.write(tmp, metadata, List.of(SafetensorsWriter.Entry.of("influence", DType.F32,
                new long[] {layers, heads, blocks, blocks}, bytes.array())));
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** One metadata entry of a map file (null when absent). */
    static String metadata(Path file, String key) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            return SafetensorsFile.open(file, arena).metadata().get(key);
        }
    }

    /** What a profile was taken under, as its maps record it: "dense", or the plan's SHA-256. */
    static String profiledAt(MoaPlan at) {
        return at == null ? "dense" : Corpus.sha256(at.toJson().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** An influence map written by {@link #run}. */
    public static InfluenceMap read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": influence map not found (run moa profile)");
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            Tensor t = f.tensors().get("influence");
            if (t == null || t.dtype() != DType.F32 || t.rank() != 4 || t.dim(2) != t.dim(3)) {
                throw new IllegalArgumentException(file + ": expected an F32 tensor 'influence' of shape [layers, heads, blocks, blocks]");
            }
            String length = f.metadata().get("length"), samples = f.metadata().get("samples");
            if (length == null || samples == null) throw new IllegalArgumentException(file + ": metadata 'length' and 'samples' missing");
            float[] values = new float[(int) t.elementCount()];
            java.lang.foreign.MemorySegment.copy(t.data(), ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, values, 0, values.length);
            InfluenceMap map = new InfluenceMap((int) t.dim(0), (int) t.dim(1), Integer.parseInt(length), Integer.parseInt(samples), values);
            if (map.blocks() != t.dim(2)) throw new IllegalArgumentException(file + ": length " + length + " does not match " + t.dim(2) + " blocks");
            return map;
        }
    }

    /** The profile summary: the model's shape and what each length cost. */
    public static JsonObject summary(Path dir) throws IOException {
        Path file = dir.resolve(SUMMARY);
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(dir + ": no " + SUMMARY + " (not a directory written by moa profile)");
        return Calibration.readJson(file);
    }

    private static LengthProfile previous(Path dir, int length) throws IOException {
        Path file = dir.resolve(SUMMARY);
        if (Files.isRegularFile(file)) {
            for (var e : Calibration.readJson(file).getAsJsonArray("lengths")) {
                JsonObject o = e.getAsJsonObject();
                if (o.get("length").getAsInt() == length) {
                    return new LengthProfile(length, o.get("samples").getAsInt(), orNaN(o.get("seconds_per_sample")),
                            o.get("peak_heap_bytes").getAsLong(), orNaN(o.get("answer_loss")));
                }
            }
        }
        InfluenceMap map = read(mapFile(dir, length));
        return new LengthProfile(length, map.samples(), Double.NaN, 0, Double.NaN);
    }

    /** JSON has no NaN: an unknown number is written as null and read back as NaN. */
    private static double orNaN(com.google.gson.JsonElement e) {
        return e == null || e.isJsonNull() ? Double.NaN : e.getAsDouble();
    }

    private static void writeSummary(Path out, Model model, String configSha, Path calibration, InfluenceSum sum, List<LengthProfile> results)
            throws IOException {
        ModelConfig c = model.config();
        JsonObject o = new JsonObject();
        o.addProperty("model", model.directory().getFileName().toString());
        o.addProperty("model_config_sha256", configSha);
        o.addProperty("layers", c.numLayers());
        o.addProperty("heads", c.numHeads());
        o.addProperty("kv_heads", c.numKvHeads());
        o.addProperty("max_position_embeddings", c.maxPositions());
        o.addProperty("calibration", calibration.toAbsolutePath().normalize().toString());
        o.addProperty("threads", dev.moa.tasks.cpu.Parallel.threads());
        o.addProperty("influence_sum", sum.name().toLowerCase(java.util.Locale.ROOT));
        JsonArray lengths = new JsonArray();
        for (LengthProfile p : results) {
            JsonObject l = new JsonObject();
            l.addProperty("length", p.length());
            l.addProperty("samples", p.samples());
            l.addProperty("seconds_per_sample", p.secondsPerSample());
            l.addProperty("peak_heap_bytes", p.peakHeapBytes());
            l.addProperty("answer_loss", p.answerLoss());
            lengths.add(l);
        }
        o.add("lengths", lengths);
        Files.writeString(out.resolve(SUMMARY), StrictJson.write(o) + "\n");
    }

    private static void resetPeaks() {
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) if (pool.getType() == MemoryType.HEAP) pool.resetPeakUsage();
    }

    /** The sum of the heap pools' peaks since the last reset: an upper bound on the heap a sample needed. */
    private static long peakHeap() {
        long peak = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) if (pool.getType() == MemoryType.HEAP) peak += pool.getPeakUsage().getUsed();
        return peak;
    }
}
