package dev.moa.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.chat.ChatMessage;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.GenerationResult;
import dev.moa.runtime.generate.Generator;
import dev.moa.runtime.generate.Prompts;
import dev.moa.runtime.generate.SamplingParams;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code moa serve} on the demo model over loopback: the official OpenAI Node client gets, streamed or whole, the
 * text {@code moa generate}'s loop ({@link Generator}) writes with the same settings; 32 concurrent streams, some of
 * whose clients leave mid-answer, each get their solo run's text, and the server ends holding no session or KV;
 * bad and hostile requests each get OpenAI's error with the right status and change nothing else; admission by KV
 * bytes lets a half-KV plan run about twice the requests of dense in one budget.
 */
class OpenAiServerTest {
    static final Path DEMO = Path.of(System.getProperty("moa.repo.root", "..")).resolve("models/moa-demo");
    static final String ID = "moa-demo";
    static Model model;
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @BeforeAll
    static void load() throws Exception {
        model = Model.load(DEMO);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static OpenAiServer start(int maxBatch, int maxQueue, long kvBudget, long maxBody, String apiKey) throws Exception {
        return new OpenAiServer(model, new OpenAiServer.Config("127.0.0.1", 0, maxBatch, maxQueue, kvBudget, 64, 64, maxBody, apiKey, ID,
                new AttentionMode.Dense()));
    }

    /** What {@code moa generate} writes for this prompt and these settings. */
    static GenerationResult solo(int[] prompt, int maxTokens, SamplingParams sampling, List<String> stops, AttentionMode attention) {
        GenerationParams params = new GenerationParams(maxTokens, sampling, stops, false, attention);
        return Generator.generate(model, prompt, params, piece -> { });
    }

    static AttentionMode plan50() {
        return AttentionMode.parse("moa:" + DEMO.resolve("moa-plan-50.json").toAbsolutePath().normalize());
    }

    // ---- the official client ----

    @Test
    void theOfficialOpenAiNodeClientGetsWhatMoaGenerateWrites() throws Exception {
        Path assets = Path.of(System.getenv().getOrDefault("MOA_TEST_ASSETS", System.getProperty("user.home") + "/.cache/moa-java/test-assets"));
        Path modules = assets.resolve("openai-node/node_modules");
        boolean ready = Files.isDirectory(modules.resolve("openai")) && hasNode();
        if (!ready) {
            String why = "the OpenAI Node client is not installed (node on PATH and scripts/fetch-openai-client.sh, which scripts/test runs)";
            if (System.getenv("CI") != null) fail(why);
            Assumptions.abort(why);
        }
        try (OpenAiServer server = start(4, 16, 1L << 30, 1 << 20, "sk-moa-test")) {
            String base = "http://127.0.0.1:" + server.port() + "/v1";
            List<ChatMessage> conversation = List.of(new ChatMessage("system", "You are terse."), new ChatMessage("user", "Tell me a story."));
            JsonArray cases = JsonParser.parseString("""
                    [{"kind": "text", "stream": false, "body": {"model": "moa-demo", "prompt": "Once upon a time", "max_tokens": 24, "temperature": 0}},
                     {"kind": "text", "stream": true, "body": {"model": "moa-demo", "prompt": "Once upon a time", "max_tokens": 24, "temperature": 0.9,
                      "top_p": 0.95, "seed": 11}},
                     {"kind": "chat", "stream": false, "body": {"model": "moa-demo", "messages": [{"role": "system", "content": "You are terse."},
                      {"role": "user", "content": "Tell me a story."}], "max_tokens": 20, "temperature": 0.7, "seed": 5}},
                     {"kind": "chat", "stream": true, "body": {"model": "moa-demo", "messages": [{"role": "system", "content": "You are terse."},
                      {"role": "user", "content": "Tell me a story."}], "max_tokens": 30, "temperature": 0, "stop": [" the"],
                      "moa_attention": "moa:moa-plan-50.json"}},
                     {"kind": "chat", "stream": false, "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}}]""").getAsJsonArray();
            JsonArray out = node(modules, base, "sk-moa-test", cases);

            int[] text = Prompts.plain(model, "Once upon a time"), chat = Prompts.chat(model, conversation);
            GenerationResult[] expected = {
                    solo(text, 24, new SamplingParams(0, 0, 1, 0), List.of(), new AttentionMode.Dense()),
                    solo(text, 24, new SamplingParams(0.9, 0, 0.95, 11), List.of(), new AttentionMode.Dense()),
                    solo(chat, 20, new SamplingParams(0.7, 0, 1, 5), List.of(), new AttentionMode.Dense()),
                    solo(chat, 30, new SamplingParams(0, 0, 1, 0), List.of(" the"), plan50())};
            for (int i = 0; i < expected.length; i++) {
                JsonObject got = out.get(i).getAsJsonObject();
                assertTrue(!got.has("error"), "case " + i + ": " + got);
                assertEquals(expected[i].text(), got.get("text").getAsString(), "case " + i + ": the text moa generate writes");
                assertEquals(OpenAiServer.finishReason(expected[i]), got.get("finish").getAsString(), "case " + i + ": finish reason");
                if (got.has("usage") && !got.get("usage").isJsonNull()) {
                    JsonObject usage = got.getAsJsonObject("usage");
                    assertEquals(expected[i].promptTokens(), usage.get("prompt_tokens").getAsInt(), "case " + i + ": prompt tokens");
                    assertEquals(expected[i].tokens().length, usage.get("completion_tokens").getAsInt(), "case " + i + ": completion tokens");
                }
            }
            assertTrue(out.get(1).getAsJsonObject().get("chunks").getAsInt() > 2, "the text completion came in chunks");
            assertNotNull(out.get(3).getAsJsonObject().get("usage"), "include_usage gives a usage chunk");
            assertEquals("assistant", out.get(2).getAsJsonObject().get("role").getAsString());
            JsonObject unknown = out.get(4).getAsJsonObject();
            assertEquals(404, unknown.get("status").getAsInt(), "an unknown model: " + unknown);
            assertEquals("NotFoundError", unknown.get("error").getAsString());
            assertEquals(ID, out.get(5).getAsJsonObject().getAsJsonArray("models").get(0).getAsString());

            JsonArray wrongKey = node(modules, base, "sk-wrong", JsonParser.parseString("""
                    [{"kind": "text", "stream": false, "body": {"model": "moa-demo", "prompt": "x", "max_tokens": 2}}]""").getAsJsonArray());
            assertEquals(401, wrongKey.get(0).getAsJsonObject().get("status").getAsInt(), "a wrong key: " + wrongKey);
            assertEquals("AuthenticationError", wrongKey.get(0).getAsJsonObject().get("error").getAsString());
        }
    }

    static boolean hasNode() {
        try {
            return new ProcessBuilder("node", "--version").redirectErrorStream(true).start().waitFor(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            return false;
        }
    }

    /** Runs the client script on the cases; its JSON output (the models list last, or an error object). */
    static JsonArray node(Path modules, String base, String key, JsonArray cases) throws Exception {
        Path script = Path.of(OpenAiServerTest.class.getResource("/serve/openai-client.cjs").toURI());
        ProcessBuilder pb = new ProcessBuilder("node", script.toString(), base, key).redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().put("NODE_PATH", modules.toString());
        Process p = pb.start();
        try (var in = p.getOutputStream()) {
            in.write(cases.toString().getBytes(StandardCharsets.UTF_8));
        }
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the client ends");
        return JsonParser.parseString(output.isEmpty() ? "[]" : output).getAsJsonArray();
    }

    // ---- many clients at once ----

    @Test
    void thirtyTwoConcurrentStreamsEachGetTheirSoloTextAndLeavingClientsFreeTheirKv() throws Exception {
        try (OpenAiServer server = start(8, 64, 1L << 30, 1 << 20, null); ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            int clients = 32;
            List<Future<String>> answers = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int id = c;
                boolean leaves = c % 4 == 3; // these read three chunks of a long answer, then hang up
                answers.add(pool.submit(() -> streamChat(server.port(), id, leaves ? 400 : 16 + id % 17, leaves)));
            }
            for (int c = 0; c < clients; c++) {
                String text = answers.get(c).get(120, TimeUnit.SECONDS);
                if (c % 4 == 3) continue;
                int[] prompt = Prompts.chat(model, List.of(new ChatMessage("user", "Story number " + c + ", please.")));
                GenerationResult alone = solo(prompt, 16 + c % 17, new SamplingParams(0.8, 0, 0.95, 1000 + c), List.of(), new AttentionMode.Dense());
                assertEquals(alone.text(), text, "client " + c + ": the same text as its solo run");
            }
            Engine.Snapshot s = awaitIdle(server);
            assertEquals(0, s.kvBytesInUse(), "no KV bytes held once every request ended");
            assertEquals(0, s.admitted());
            assertEquals(0, s.queued());
            assertTrue(s.cancelled() >= 1, "clients that left were cancelled: " + s);
            assertEquals(clients, s.completed() + s.cancelled(), "every request ended: " + s);
            assertTrue(s.peakAdmitted() > 1 && s.peakAdmitted() <= 8, "requests were batched, at most --max-batch: " + s.peakAdmitted());
            assertEquals(200, get(server.port(), "/health").statusCode(), "the server stays up");
        }
    }

    @Test
    void aClientThatHangsUpOnAWholeAnswerIsCancelledAtOnce() throws Exception {
        try (OpenAiServer server = start(2, 4, 1L << 30, 1 << 20, null)) {
            String body = "{\"model\": \"moa-demo\", \"prompt\": \"Once\", \"max_tokens\": 3500, \"temperature\": 0}";
            long start = System.nanoTime();
            try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) { // a client that hangs up after 0.3 s
                byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
                socket.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                        + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                socket.getOutputStream().write(bytes);
                socket.getOutputStream().flush();
                Thread.sleep(300);
            }
            Engine.Snapshot s = awaitIdle(server);
            double seconds = (System.nanoTime() - start) / 1e9;
            assertEquals(1, s.cancelled(), "the abandoned request was cancelled: " + s);
            assertEquals(0, s.kvBytesInUse());
            assertTrue(s.generatedTokens() < 3500, "it stopped early (" + s.generatedTokens() + " tokens, " + seconds + " s)");
        }
    }

    @Test
    void aLongPromptJoiningDoesNotStallARunningStream() throws Exception {
        try (OpenAiServer server = start(4, 4, 1L << 30, 1 << 20, null); ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            String running = "{\"model\": \"moa-demo\", \"prompt\": \"Once\", \"max_tokens\": 1500, \"temperature\": 0, \"stream\": true}";
            HttpResponse<InputStream> a = http.send(post(server.port(), "/v1/completions", running).build(), HttpResponse.BodyHandlers.ofInputStream());
            List<Long> arrivals = new java.util.concurrent.CopyOnWriteArrayList<>();
            Future<?> reader = pool.submit(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(a.body(), StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null; ) if (line.startsWith("data: {")) arrivals.add(System.nanoTime());
                }
                return null;
            });
            while (arrivals.size() < 20) Thread.sleep(1);
            // a 4000-token prompt joins: it runs in pieces of 64 tokens between the running request's steps
            long joined = System.nanoTime();
            HttpResponse<String> b = send(server.port(), "/v1/completions", "{\"model\": \"moa-demo\", \"prompt\": " + tokens(4000)
                    + ", \"max_tokens\": 1, \"temperature\": 0}", null);
            long answered = System.nanoTime();
            assertEquals(200, b.statusCode(), b.body());
            long worst = 0, during = 0;
            for (int i = 1; i < arrivals.size(); i++) {
                if (arrivals.get(i) < joined || arrivals.get(i - 1) > answered) continue;
                during++;
                worst = Math.max(worst, arrivals.get(i) - arrivals.get(i - 1));
            }
            a.body().close();
            reader.cancel(true);
            assertTrue(during >= 10, "the running stream kept getting tokens while the prompt ran (" + during + ")");
            assertTrue(worst < (answered - joined) / 4, "its longest gap (" + worst / 1e6 + " ms) is a small part of the long prompt's "
                    + (answered - joined) / 1e6 + " ms");
        }
    }

    /** One streamed chat; returns its text (what arrived before hanging up, for a client that leaves). */
    String streamChat(int port, int id, int maxTokens, boolean leave) throws Exception {
        JsonObject body = JsonParser.parseString("""
                {"model": "moa-demo", "messages": [{"role": "user", "content": "Story number %d, please."}], "stream": true,
                 "temperature": 0.8, "top_p": 0.95, "seed": %d, "max_tokens": %d}""".formatted(id, 1000 + id, maxTokens)).getAsJsonObject();
        HttpResponse<InputStream> response = http.send(post(port, "/v1/chat/completions", body.toString()).build(), HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, response.statusCode());
        StringBuilder text = new StringBuilder();
        int chunks = 0;
        boolean done = false;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.startsWith("data: ")) continue;
                String data = line.substring(6);
                if (data.equals("[DONE]")) {
                    done = true;
                    break;
                }
                JsonObject chunk = JsonParser.parseString(data).getAsJsonObject();
                JsonArray choices = chunk.getAsJsonArray("choices");
                if (!choices.isEmpty()) {
                    JsonObject delta = choices.get(0).getAsJsonObject().getAsJsonObject("delta");
                    if (delta.has("content")) text.append(delta.get("content").getAsString());
                }
                if (leave && ++chunks == 3) return text.toString(); // closing the stream hangs up
            }
        }
        assertTrue(done, "stream " + id + " ends with [DONE]");
        return text.toString();
    }

    static Engine.Snapshot awaitIdle(OpenAiServer server) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        Engine.Snapshot s;
        while ((s = server.engine().snapshot()).admitted() + s.queued() > 0 && System.nanoTime() < deadline) Thread.sleep(20);
        return s;
    }

    // ---- bad and hostile requests ----

    @Test
    void badRequestsGetOpenAiErrorsAndChangeNothingElse() throws Exception {
        try (OpenAiServer server = start(1, 1, 1L << 30, 64 << 10, "k")) {
            int port = server.port();
            String ok = "{\"model\": \"moa-demo\", \"prompt\": \"Once\", \"max_tokens\": 4, \"temperature\": 0}";
            assertError(send(port, "/v1/completions", ok, null), 401, "invalid_api_key", null);
            assertError(send(port, "/v1/completions", ok, "wrong"), 401, "invalid_api_key", null);
            assertError(send(port, "/v1/completions", "{\"model\": \"moa-demo\", \"prompt\": ", "k"), 400, null, null);
            assertError(send(port, "/v1/completions", "[1, 2]", "k"), 400, null, null);
            assertError(send(port, "/v1/completions", "[".repeat(30_000) + "]".repeat(30_000), "k"), 400, null, null);
            assertError(send(port, "/v1/completions", ok.replace("\"temperature\": 0", "\"temperature\": \"hot\""), "k"), 400, null, "temperature");
            assertError(send(port, "/v1/completions", ok.replace("\"temperature\": 0", "\"temperature\": 7"), "k"), 400, null, "temperature");
            assertError(send(port, "/v1/completions", ok.replace("\"max_tokens\": 4", "\"max_tokens\": 2.5"), "k"), 400, null, "max_tokens");
            assertError(send(port, "/v1/completions", ok.replace("\"prompt\": \"Once\"", "\"prompt\": {\"a\": 1}"), "k"), 400, null, "prompt");
            assertError(send(port, "/v1/chat/completions", "{\"model\": \"moa-demo\", \"messages\": \"hi\"}", "k"), 400, null, "messages");
            assertError(send(port, "/v1/chat/completions", "{\"model\": \"moa-demo\", \"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}", "k"),
                    400, null, "messages[0].role");
            assertError(send(port, "/v1/completions", ok.replace("\"max_tokens\": 4", "\"max_tokens\": 4, \"n\": 3"), "k"), 400, null, "n");
            assertError(send(port, "/v1/completions", ok.replace("moa-demo", "gpt-4o"), "k"), 404, "model_not_found", "model");
            assertError(send(port, "/v1/completions", ok.replace("\"max_tokens\": 4", "\"max_tokens\": 4, \"moa_attention\": \"moa:../../../etc/passwd\""), "k"),
                    400, null, "moa_attention");
            assertError(send(port, "/v1/completions", ok.replace("\"max_tokens\": 4", "\"max_tokens\": 4, \"moa_attention\": \"window:wide\""), "k"),
                    400, null, "moa_attention");
            // past the context: a prompt of every position, and a budget the prompt leaves no room for
            int context = model.config().maxPositions();
            HttpResponse<String> long1 = send(port, "/v1/completions", "{\"model\": \"moa-demo\", \"prompt\": " + tokens(context) + "}", "k");
            assertError(long1, 400, "context_length_exceeded", "prompt");
            assertTrue(long1.body().contains(String.valueOf(context)), long1.body());
            HttpResponse<String> long2 = send(port, "/v1/completions", "{\"model\": \"moa-demo\", \"prompt\": " + tokens(100) + ", \"max_tokens\": " + context + "}", "k");
            assertError(long2, 400, "context_length_exceeded", "prompt");
            assertTrue(long2.body().contains("100 in the prompt") && long2.body().contains(context + " in the completion"), long2.body());
            // a body over the limit is refused (the rest read and dropped, unkept)
            assertError(send(port, "/v1/completions", "{\"model\": \"moa-demo\", \"prompt\": \"" + "x".repeat(100_000) + "\"}", "k"), 413, "request_too_large", null);
            assertError(get(port, "/v1/nothing", "k"), 404, "not_found", null);
            assertError(get(port, "/v1/chat/completions", "k"), 405, "method_not_allowed", null);

            // the queue: one decoding, one waiting, the next refused with Retry-After
            String slow = "{\"model\": \"moa-demo\", \"prompt\": \"Once\", \"max_tokens\": 3000, \"temperature\": 0, \"stream\": true}";
            HttpResponse<InputStream> first = http.send(post(port, "/v1/completions", slow).header("Authorization", "Bearer k").build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            HttpResponse<InputStream> second = http.send(post(port, "/v1/completions", slow).header("Authorization", "Bearer k").build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (server.engine().snapshot().queued() < 1 && System.nanoTime() < deadline) Thread.sleep(5);
            HttpResponse<String> full = send(port, "/v1/completions", ok, "k");
            assertError(full, 429, "queue_full", null);
            assertEquals("1", full.headers().firstValue("Retry-After").orElse(null));
            first.body().close();
            second.body().close();

            Engine.Snapshot s = awaitIdle(server);
            assertEquals(0, s.kvBytesInUse(), "the refused requests hold nothing, the abandoned ones were freed");
            assertEquals(2, s.submitted(), "only the two queued requests were taken: " + s);
            assertEquals(1, s.rejected());
            HttpResponse<String> fine = send(port, "/v1/completions", ok, "k");
            assertEquals(200, fine.statusCode(), fine.body());
            String text = JsonParser.parseString(fine.body()).getAsJsonObject().getAsJsonArray("choices").get(0).getAsJsonObject().get("text").getAsString();
            assertEquals(solo(Prompts.plain(model, "Once"), 4, new SamplingParams(0, 0, 1, 0), List.of(), new AttentionMode.Dense()).text(), text);
            HttpResponse<String> metrics = get(port, "/metrics", "k");
            assertTrue(metrics.body().contains("moa_kv_bytes_in_use 0"), metrics.body());
            assertTrue(metrics.body().contains("moa_requests_rejected_total 1"), metrics.body());
        }
    }

    /**
     * A request refused before its body is read (401, 404, 405) or while it is (413) gets its answer, and the next
     * request on the same pooled connection gets its own (an answer with the body unread used to close the
     * connection under the client: "header parser received no bytes", one CI run in many, every run at 60 KB).
     */
    @Test
    void refusalsBeforeTheBodyIsReadLeaveNoBrokenConnectionBehind() throws Exception {
        try (OpenAiServer server = start(1, 1, 1L << 30, 64 << 10, "k")) {
            int port = server.port();
            String bad = "{\"model\": \"moa-demo\", \"prompt\": " + "\"x\", ".repeat(12_000);
            String huge = "{\"model\": \"moa-demo\", \"prompt\": \"" + "x".repeat(200_000) + "\"}";
            for (int i = 0; i < 150; i++) {
                assertError(send(port, "/v1/completions", bad, i % 2 == 0 ? null : "wrong"), 401, "invalid_api_key", null);
                assertError(send(port, i % 3 == 0 ? "/v1/nothing" : "/v1/completions", bad, "k"), i % 3 == 0 ? 404 : 400, null, null);
                if (i % 5 == 0) assertError(send(port, "/v1/completions", huge, "k"), 413, "request_too_large", null);
            }
            // and the connection still serves: a request that works
            assertEquals(200, send(port, "/v1/completions", "{\"model\": \"moa-demo\", \"prompt\": \"Once\", \"max_tokens\": 2}", "k").statusCode());
        }
    }

    static String tokens(int n) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < n; i++) s.append(i == 0 ? "" : ",").append(3 + i % 200);
        return s.append(']').toString();
    }

    static void assertError(HttpResponse<String> response, int status, String code, String param) {
        assertEquals(status, response.statusCode(), response.body());
        JsonObject error = JsonParser.parseString(response.body()).getAsJsonObject().getAsJsonObject("error");
        assertNotNull(error, response.body());
        assertTrue(error.has("message") && error.has("type") && error.has("param") && error.has("code"), "OpenAI's error fields: " + response.body());
        assertTrue(!error.get("message").getAsString().isBlank());
        if (code != null) assertEquals(code, error.get("code").getAsString(), response.body());
        if (param != null) assertEquals(param, error.get("param").getAsString(), response.body());
    }

    HttpRequest.Builder post(int port, String path, String body) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
    }

    HttpResponse<String> send(int port, String path, String body, String key) throws Exception {
        HttpRequest.Builder b = post(port, path, body);
        if (key != null) b.header("Authorization", "Bearer " + key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(int port, String path) throws Exception {
        return get(port, path, null);
    }

    HttpResponse<String> get(int port, String path, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(30)).GET();
        if (key != null) b.header("Authorization", "Bearer " + key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aHigherPriorityIsAdmittedFirstAndEqualOnesInArrivalOrder() throws Exception {
        int[] prompt = Prompts.plain(model, "Once");
        List<String> order = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.CountDownLatch all = new java.util.concurrent.CountDownLatch(5);
        try (Engine engine = new Engine(model, 1, 8, 1L << 30, 64)) { // one at a time: they finish in the order they were admitted
            String[] names = {"running", "low", "first normal", "high", "second normal"};
            int[] priorities = {0, -5, 0, 5, 0};
            for (int i = 0; i < names.length; i++) {
                String name = names[i];
                engine.submit(prompt, new GenerationParams(i == 0 ? 300 : 4, new SamplingParams(0, 0, 1, 0), List.of(), false, new AttentionMode.Dense()),
                        priorities[i], new Engine.Listener() {
                            public void text(String piece) {
                            }

                            public void finished(GenerationResult result) {
                                order.add(name);
                                all.countDown();
                            }

                            public void failed(String message) {
                                order.add(name + " failed: " + message);
                                all.countDown();
                            }
                        });
                if (i == 0) { // the others queue behind it
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                    while (engine.snapshot().admitted() < 1 && System.nanoTime() < deadline) Thread.sleep(1);
                }
            }
            assertTrue(all.await(60, TimeUnit.SECONDS));
        }
        assertEquals(List.of("running", "high", "first normal", "second normal", "low"), order);
    }

    // ---- admission by KV bytes ----

    @Test
    void aHalfKvPlanAdmitsAboutTwiceTheRequestsOfDense() throws Exception {
        // MoA saves at length: a 2000-token prompt (below a few hundred tokens a plan's sink and band blocks keep more than dense)
        int[] prompt = new java.util.Random(9).ints(2000, 3, 2000).toArray();
        int maxTokens = 48;
        long dense = model.kvCacheBytes(new AttentionMode.Dense(), prompt.length, maxTokens);
        long sparse = model.kvCacheBytes(plan50(), prompt.length, maxTokens);
        long budget = 4 * dense;
        int[] peaks = new int[2];
        AttentionMode[] modes = {new AttentionMode.Dense(), plan50()};
        for (int m = 0; m < 2; m++) {
            long each = m == 0 ? dense : sparse;
            int fit = (int) Math.min(16, budget / each);
            try (Engine engine = new Engine(model, 32, 64, budget, 64)) {
                List<Engine.Job> jobs = new ArrayList<>();
                for (int r = 0; r < 16; r++) {
                    jobs.add(engine.submit(prompt, new GenerationParams(maxTokens, new SamplingParams(0.8, 0, 1, r), List.of(), false, modes[m]),
                            new Engine.Listener() {
                                public void text(String piece) {
                                }

                                public void finished(GenerationResult result) {
                                }

                                public void failed(String message) {
                                }
                            }));
                }
                // the first prompt takes 32 turns of 64 tokens: meanwhile the engine admits all that fit
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (engine.snapshot().admitted() < fit && System.nanoTime() < deadline) Thread.sleep(2);
                Engine.Snapshot s = engine.snapshot();
                assertEquals(fit, s.admitted(), modes[m] + ": admitted while the first prompt runs: " + s);
                assertEquals(16 - fit, s.queued(), "the others wait for KV");
                assertTrue(s.kvBytesInUse() <= budget);
                jobs.forEach(Engine.Job::cancel);
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (engine.snapshot().admitted() + engine.snapshot().queued() > 0 && System.nanoTime() < end) Thread.sleep(2);
                s = engine.snapshot();
                assertEquals(0, s.kvBytesInUse(), "cancelled requests free their KV: " + s);
                assertEquals(16, s.cancelled());
                peaks[m] = s.peakAdmitted();
            }
        }
        System.out.printf("KV budget of %d bytes (4 dense requests of 2000 + 48 tokens): dense admits %d at once (%d bytes each), moa-plan-50 %d (%d bytes each)%n",
                budget, peaks[0], dense, peaks[1], sparse);
        assertEquals(budget / dense, peaks[0], "dense: as many at once as fit the budget");
        assertEquals(Math.min(32, budget / sparse), peaks[1], "the plan: as many as its smaller caches fit");
        assertTrue(peaks[1] >= 1.7 * peaks[0], "the plan (" + sparse + " bytes a request, dense " + dense + ") admits " + peaks[1] + " vs " + peaks[0]);
    }
}
