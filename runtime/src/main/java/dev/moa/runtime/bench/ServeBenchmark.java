package dev.moa.runtime.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.SamplingParams;
import dev.moa.runtime.serve.OpenAiServer;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A bounded load on {@code moa serve} over loopback: C clients, each sending R streamed text completions one after
 * another (random prompt token ids, sampled at temperature 0.8 with a seed per request), against one in-process
 * server. Reports the tokens generated per second over the run, time to first token and inter-token latency
 * percentiles as the clients saw them; and the same requests run one after another through {@code moa generate}'s
 * loop ({@link Generator}), the way a user without a server would run them.
 */
public final class ServeBenchmark {
    private ServeBenchmark() {
    }

    /** One load's figures: tokens/s over the run, time to first token and inter-token gaps (ms percentiles). */
    public record Result(int clients, int requests, long tokens, double seconds, double[] ttftMs, double[] itlMs, int peakBatch) {
        public double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    /** What a client saw of one request. */
    private record Seen(long tokens, double ttftMs, double[] gapsMs) {
    }

    /** Runs {@code clients × perClient} requests against a server over {@code model}; percentiles are p50, p90, p99. */
    public static Result load(Model model, AttentionMode attention, int clients, int perClient, int promptTokens, int maxTokens, long kvBudget)
            throws Exception {
        var config = new OpenAiServer.Config("127.0.0.1", 0, Math.max(1, clients), clients * perClient, kvBudget, 256, maxTokens, 16 << 20, null,
                "bench", attention);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        try (OpenAiServer server = new OpenAiServer(model, config); ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<List<Seen>>> work = new ArrayList<>();
            long start = System.nanoTime();
            for (int c = 0; c < clients; c++) {
                int client = c;
                work.add(pool.submit(() -> {
                    List<Seen> seen = new ArrayList<>();
                    for (int r = 0; r < perClient; r++) {
                        int id = client * perClient + r;
                        seen.add(request(http, server.port(), prompt(model, promptTokens, id), maxTokens, id));
                    }
                    return seen;
                }));
            }
            List<Seen> all = new ArrayList<>();
            for (Future<List<Seen>> f : work) all.addAll(f.get());
            double seconds = (System.nanoTime() - start) / 1e9;
            long tokens = all.stream().mapToLong(Seen::tokens).sum();
            double[] ttft = all.stream().mapToDouble(Seen::ttftMs).toArray();
            double[] gaps = all.stream().flatMapToDouble(s -> Arrays.stream(s.gapsMs())).toArray();
            return new Result(clients, all.size(), tokens, seconds, percentiles(ttft), percentiles(gaps), server.engine().snapshot().peakAdmitted());
        }
    }

    /** The same requests one after another through {@code moa generate}'s loop: tokens/s. */
    public static double serial(Model model, AttentionMode attention, int requests, int promptTokens, int maxTokens) {
        long tokens = 0, start = System.nanoTime();
        for (int id = 0; id < requests; id++) {
            GenerationParams params = new GenerationParams(maxTokens, new SamplingParams(0.8, 0, 1, id), List.of(), false, attention);
            GenerationResult r = Generator.generate(model, prompt(model, promptTokens, id), params, piece -> { });
            tokens += r.tokens().length;
        }
        return tokens / ((System.nanoTime() - start) / 1e9);
    }

    static int[] prompt(Model model, int length, int id) {
        return new SplittableRandom(id).ints(length, 3, Math.min(model.config().vocabSize(), 32000)).toArray();
    }

    private static Seen request(HttpClient http, int port, int[] prompt, int maxTokens, int id) throws Exception {
        JsonObject body = new JsonObject();
        body.addProperty("model", "bench");
        JsonArray ids = new JsonArray();
        for (int t : prompt) ids.add(t);
        body.add("prompt", ids);
        body.addProperty("max_tokens", maxTokens);
        body.addProperty("temperature", 0.8);
        body.addProperty("seed", id);
        body.addProperty("stream", true);
        JsonObject options = new JsonObject();
        options.addProperty("include_usage", true);
        body.add("stream_options", options);
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions")).timeout(Duration.ofMinutes(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        long sent = System.nanoTime(), last = 0;
        double ttft = Double.NaN;
        List<Double> gaps = new ArrayList<>();
        long tokens = 0;
        HttpResponse<InputStream> response = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
        if (response.statusCode() != 200) {
            throw new IllegalStateException("the server answered " + response.statusCode() + ": " + new String(response.body().readAllBytes(), StandardCharsets.UTF_8));
        }
        try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.startsWith("data: ") || line.equals("data: [DONE]")) continue;
                JsonObject chunk = JsonParser.parseString(line.substring(6)).getAsJsonObject();
                if (chunk.has("usage") && !chunk.get("usage").isJsonNull()) tokens = chunk.getAsJsonObject("usage").get("completion_tokens").getAsLong();
                JsonArray choices = chunk.getAsJsonArray("choices");
                if (choices.isEmpty() || choices.get(0).getAsJsonObject().get("text").getAsString().isEmpty()) continue;
                long now = System.nanoTime();
                if (last == 0) ttft = (now - sent) / 1e6;
                else gaps.add((now - last) / 1e6);
                last = now;
            }
        }
        return new Seen(tokens, ttft, gaps.stream().mapToDouble(Double::doubleValue).toArray());
    }

    /** p50, p90, p99 of {@code values} (NaN when there are none). */
    static double[] percentiles(double[] values) {
        double[] v = Arrays.stream(values).filter(x -> !Double.isNaN(x)).sorted().toArray();
        if (v.length == 0) return new double[] {Double.NaN, Double.NaN, Double.NaN};
        return new double[] {v[(int) Math.min(v.length - 1, Math.round(0.50 * (v.length - 1)))], v[(int) Math.round(0.90 * (v.length - 1))],
                v[(int) Math.round(0.99 * (v.length - 1))]};
    }
}
