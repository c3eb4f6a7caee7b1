package dev.moa.runtime.serve;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.GenerationResult;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * {@code moa serve}: an OpenAI-compatible HTTP API over one model, on Jetty 12's core server (no servlet layer)
 * with each request handled on a virtual thread, which blocks while the {@link Engine} generates for it.
 * Endpoints: {@code POST /v1/chat/completions} and {@code /v1/completions} (streamed as server-sent events in
 * OpenAI's chunk format, ending with {@code [DONE]}, or answered whole, with {@code usage}), {@code GET /v1/models},
 * {@code GET /health}, and {@code GET /metrics} in Prometheus' text format. Errors are OpenAI's error JSON with
 * its status codes: 400 (bad JSON, a field of the wrong type or range, a prompt past the context), 401 (API key),
 * 404 (unknown model or path), 405, 413 (body over the limit: the rest dropped unkept), 429 (queue full, with
 * Retry-After), 503 (shutting down).
 *
 * <p>A client that goes away is noticed when the server next writes to it: a streamed token, or each second while a
 * request waits, prefills or is answered whole, a keep-alive comment (streamed) or a space before the JSON (whole,
 * which commits its 200 after the first second). Its request is then cancelled and the engine frees its session
 * and KV at its next turn.
 */
public final class OpenAiServer implements AutoCloseable {
    /** How the server is set up. */
    public record Config(String host, int port, int maxBatch, int maxQueue, long kvBudget, int prefillPiece, int defaultMaxTokens,
                         long maxBodyBytes, String apiKey, String modelId, AttentionMode attention) {
    }

    /** OpenAI's JSON keeps its nulls ({@code "finish_reason": null}) and writes text as it is. */
    private static final Gson GSON = new com.google.gson.GsonBuilder().serializeNulls().disableHtmlEscaping().create();
    private final Model model;
    private final Config config;
    private final Engine engine;
    private final Server jetty;
    private final ServerConnector connector;
    private final OpenAiRequest.Context context;
    private final Map<String, AttentionMode> attentions = new ConcurrentHashMap<>();
    private final long started = Instant.now().getEpochSecond();
    private volatile boolean closing;

    /** Starts serving {@code model} (the engine's thread and Jetty's connector); {@link #port()} is where it listens. */
    public OpenAiServer(Model model, Config config) throws Exception {
        this.model = model;
        this.config = config;
        this.engine = new Engine(model, config.maxBatch(), config.maxQueue(), config.kvBudget(), config.prefillPiece());
        this.context = new OpenAiRequest.Context(model, config.modelId(), config.attention(), config.defaultMaxTokens(),
                spec -> attentions.size() < 64 // parsed modes kept for reuse, but not one per spelling a client invents
                        ? attentions.computeIfAbsent(spec.trim(), s -> OpenAiRequest.attention(s, model)) : OpenAiRequest.attention(spec, model));
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("moa-http");
        threads.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor());
        jetty = new Server(threads);
        connector = new ServerConnector(jetty);
        connector.setHost(config.host());
        connector.setPort(config.port());
        connector.setIdleTimeout(TimeUnit.MINUTES.toMillis(10)); // a long answer sent whole has no bytes on the wire meanwhile
        jetty.addConnector(connector);
        jetty.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                serve(request, response, callback);
                return true;
            }
        });
        try {
            jetty.start();
        } catch (Exception e) {
            engine.close();
            throw e;
        }
    }

    /** The port the server listens on (the one asked for, or the one the system chose for port 0). */
    public int port() {
        return connector.getLocalPort();
    }

    public Engine engine() {
        return engine;
    }

    private void serve(Request request, Response response, Callback callback) {
        try {
            route(request, response);
            callback.succeeded();
        } catch (ApiError e) {
            respond(request, response, callback, e);
        } catch (Throwable e) {
            respond(request, response, callback, new ApiError(500, "server_error", null, null, "the server failed: " + e));
        }
    }

    /** A request attribute: TRUE where its body has been read to the end, FALSE where reading it stopped short. */
    private static final String BODY_READ = "moa.bodyRead";
    /** The most of a refused body read and dropped to keep its connection usable; past it the connection closes. */
    private static final long DROPPED_AT_MOST = 16L << 20;

    private void respond(Request request, Response response, Callback callback, ApiError error) {
        try {
            finishReading(request, response);
            if (error.status == 429) response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
            if (error.status == 401) response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
            json(response, error.status, error.json());
            callback.succeeded();
        } catch (Throwable e) {
            callback.failed(e);
        }
    }

    /**
     * An answer given before the request's body was read (401, 404, 405, ...) or while reading it (413): the body is
     * read to its end and dropped first. Answering with data still arriving closes the connection under the
     * client, which may then see it reset before it reads the answer (or reuse it for its next request and find it
     * closed). A body beyond {@link #DROPPED_AT_MOST} is not drained: that connection closes, and says so.
     */
    private void finishReading(Request request, Response response) {
        try {
            if (request.getAttribute(BODY_READ) == null) readToEnd(request, null, 0);
        } catch (IOException e) {
            // broken: closed below
        }
        if (request.getAttribute(BODY_READ) != Boolean.TRUE) response.getHeaders().put(HttpHeader.CONNECTION, "close");
    }

    private void route(Request request, Response response) throws IOException {
        String path = Request.getPathInContext(request), method = request.getMethod();
        if (path.equals("/health")) {
            require(method, "GET");
            JsonObject health = new JsonObject();
            health.addProperty("status", closing ? "shutting down" : "ok");
            json(response, closing ? 503 : 200, health);
            return;
        }
        if (!path.startsWith("/v1/") && !path.equals("/metrics")) throw new ApiError(404, "invalid_request_error", "not_found", null, "no such path: " + path);
        authorize(request);
        switch (path) {
            case "/metrics" -> {
                require(method, "GET");
                text(response, metrics());
            }
            case "/v1/models" -> {
                require(method, "GET");
                JsonObject list = new JsonObject();
                list.addProperty("object", "list");
                JsonArray data = new JsonArray();
                data.add(modelEntry());
                list.add("data", data);
                json(response, 200, list);
            }
            case "/v1/chat/completions", "/v1/completions" -> {
                require(method, "POST");
                if (closing) throw new ApiError(503, "server_error", "shutting_down", null, "the server is shutting down");
                complete(request, response, path.equals("/v1/chat/completions"));
            }
            default -> {
                if (path.startsWith("/v1/models/") && path.substring("/v1/models/".length()).equals(config.modelId())) {
                    require(method, "GET");
                    json(response, 200, modelEntry());
                    return;
                }
                throw new ApiError(404, "invalid_request_error", path.startsWith("/v1/models/") ? "model_not_found" : "not_found", null,
                        path.startsWith("/v1/models/") ? "the model '" + path.substring(11) + "' does not exist" : "no such path: " + path);
            }
        }
    }

    private static void require(String method, String allowed) {
        if (!method.equals(allowed)) throw new ApiError(405, "invalid_request_error", "method_not_allowed", null, method + " is not allowed here; use " + allowed);
    }

    private void authorize(Request request) {
        if (config.apiKey() == null) return;
        String header = request.getHeaders().get(HttpHeader.AUTHORIZATION);
        if (header == null || !header.startsWith("Bearer ")) {
            throw new ApiError(401, "invalid_request_error", "invalid_api_key", null,
                    "you didn't provide an API key: send it as 'Authorization: Bearer KEY'");
        }
        byte[] given = header.substring(7).trim().getBytes(StandardCharsets.UTF_8), expected = config.apiKey().getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(given, expected)) throw new ApiError(401, "invalid_request_error", "invalid_api_key", null, "incorrect API key provided");
    }

    private JsonObject modelEntry() {
        JsonObject entry = new JsonObject();
        entry.addProperty("id", config.modelId());
        entry.addProperty("object", "model");
        entry.addProperty("created", started);
        entry.addProperty("owned_by", "moa-java");
        return entry;
    }

    /** A completion: parse, queue, then answer whole or stream, cancelling the request if the client goes away. */
    private void complete(Request request, Response response, boolean chat) throws IOException {
        JsonElement body;
        try {
            body = JsonParser.parseString(readBody(request));
        } catch (JsonParseException e) {
            throw ApiError.invalid(null, "the request body is not valid JSON: " + rootMessage(e));
        } catch (StackOverflowError e) {
            throw ApiError.invalid(null, "the request body's JSON is nested too deeply");
        }
        OpenAiRequest req = OpenAiRequest.parse(body, chat, context);
        Events events = new Events();
        Engine.Job job;
        try {
            job = engine.submit(req.prompt(), req.params(), req.priority(), events);
        } catch (Engine.QueueFullException e) {
            throw new ApiError(429, "rate_limit_error", "queue_full", null, "the server is busy: " + e.getMessage() + "; retry later");
        } catch (IllegalArgumentException e) { // its KV cache alone is more than the budget
            throw ApiError.invalid(body.getAsJsonObject().has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens", e.getMessage());
        } catch (IllegalStateException e) {
            throw new ApiError(503, "server_error", "shutting_down", null, e.getMessage());
        }
        request.addFailureListener(failure -> job.cancel());
        String id = (chat ? "chatcmpl-" : "cmpl-") + HexFormat.of().formatHex(randomBytes());
        long created = Instant.now().getEpochSecond();
        try {
            if (req.stream()) stream(response, req, job, events, id, created);
            else whole(response, req, job, events, id, created);
        } catch (IOException | RuntimeException e) {
            job.cancel(); // the client went away, or the answer could not be written: free the session
            if (e instanceof ApiError api) throw api;
            throw e instanceof IOException io ? io : new IOException(e);
        }
    }

    /**
     * An answer sent whole. A client that hangs up is only noticed by writing to it, so an answer that takes more than
     * a second commits its 200 and writes a space each second (JSON allows leading whitespace) until the JSON follows;
     * a failure after that is still OpenAI's error JSON, under the 200 already sent.
     */
    private void whole(Response response, OpenAiRequest req, Engine.Job job, Events events, String id, long created) throws IOException {
        StringBuilder text = new StringBuilder();
        OutputStream committed = null;
        long beat = System.nanoTime() + 1_000_000_000L;
        try {
            while (true) {
                Object event = events.next();
                if (System.nanoTime() - beat >= 0) { // a second since the last sign of life, however busy the model is
                    beat = System.nanoTime() + 1_000_000_000L;
                    if (committed == null) {
                        response.setStatus(200);
                        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
                        committed = Content.Sink.asOutputStream(response);
                    }
                    committed.write(' ');
                    committed.flush(); // fails once the client is gone: the request is cancelled
                }
                if (event instanceof String piece) {
                    text.append(piece);
                } else if (event instanceof Failure f) {
                    ApiError error = new ApiError(500, "server_error", null, null, f.message());
                    if (committed == null) throw error;
                    committed.write(GSON.toJson(error.json()).getBytes(StandardCharsets.UTF_8));
                    return;
                } else if (event instanceof GenerationResult result) {
                    JsonObject answer = envelope(id, req.chat() ? "chat.completion" : "text_completion", created);
                    JsonObject choice = new JsonObject();
                    choice.addProperty("index", 0);
                    if (req.chat()) {
                        JsonObject message = new JsonObject();
                        message.addProperty("role", "assistant");
                        message.addProperty("content", text.toString());
                        choice.add("message", message);
                    } else {
                        choice.addProperty("text", text.toString());
                        choice.add("logprobs", JsonNull.INSTANCE);
                    }
                    choice.addProperty("finish_reason", finishReason(result));
                    JsonArray choices = new JsonArray();
                    choices.add(choice);
                    answer.add("choices", choices);
                    answer.add("usage", usage(result));
                    if (committed == null) json(response, 200, answer);
                    else committed.write(GSON.toJson(answer).getBytes(StandardCharsets.UTF_8));
                    return;
                }
            }
        } finally {
            if (committed != null) committed.close();
        }
    }

    private void stream(Response response, OpenAiRequest req, Engine.Job job, Events events, String id, long created) throws IOException {
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        String object = req.chat() ? "chat.completion.chunk" : "text_completion";
        try (OutputStream out = Content.Sink.asOutputStream(response)) {
            if (req.chat()) {
                JsonObject delta = new JsonObject();
                delta.addProperty("role", "assistant");
                delta.addProperty("content", "");
                send(out, chunk(id, object, created, req.chat(), delta, null));
            }
            while (true) {
                Object event = events.next();
                if (event == null) {
                    send(out, null); // a keep-alive comment: a vanished client shows up here
                } else if (event instanceof String piece) {
                    JsonObject delta = new JsonObject();
                    delta.addProperty("content", piece);
                    send(out, chunk(id, object, created, req.chat(), delta, null));
                } else if (event instanceof Failure f) {
                    send(out, new ApiError(500, "server_error", null, null, f.message()).json());
                    break;
                } else if (event instanceof GenerationResult result) {
                    send(out, chunk(id, object, created, req.chat(), new JsonObject(), finishReason(result)));
                    if (req.includeUsage()) {
                        JsonObject last = envelope(id, object, created);
                        last.add("choices", new JsonArray());
                        last.add("usage", usage(result));
                        send(out, last);
                    }
                    break;
                }
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    /** One server-sent event ({@code data: JSON}), or a comment line when {@code data} is null; flushed. */
    private static void send(OutputStream out, JsonObject data) throws IOException {
        out.write((data == null ? ": keep-alive\n\n" : "data: " + GSON.toJson(data) + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private JsonObject chunk(String id, String object, long created, boolean chat, JsonObject delta, String finish) {
        JsonObject chunk = envelope(id, object, created);
        JsonObject choice = new JsonObject();
        choice.addProperty("index", 0);
        if (chat) {
            choice.add("delta", delta);
        } else {
            choice.addProperty("text", delta.has("content") ? delta.get("content").getAsString() : "");
            choice.add("logprobs", JsonNull.INSTANCE);
        }
        if (finish == null) choice.add("finish_reason", JsonNull.INSTANCE);
        else choice.addProperty("finish_reason", finish);
        JsonArray choices = new JsonArray();
        choices.add(choice);
        chunk.add("choices", choices);
        return chunk;
    }

    private JsonObject envelope(String id, String object, long created) {
        JsonObject o = new JsonObject();
        o.addProperty("id", id);
        o.addProperty("object", object);
        o.addProperty("created", created);
        o.addProperty("model", config.modelId());
        return o;
    }

    private static JsonObject usage(GenerationResult result) {
        JsonObject usage = new JsonObject();
        usage.addProperty("prompt_tokens", result.promptTokens());
        usage.addProperty("completion_tokens", result.tokens().length);
        usage.addProperty("total_tokens", result.promptTokens() + result.tokens().length);
        return usage;
    }

    /** OpenAI's finish reasons: an end token or a stop string is "stop"; the budget or the context's end "length". */
    static String finishReason(GenerationResult result) {
        return switch (result.stopReason()) {
            case EOS, STOP_STRING -> "stop";
            case MAX_TOKENS, CONTEXT_FULL -> "length";
        };
    }

    /**
     * The body, at most {@code maxBodyBytes}: a longer one is refused (413), the rest of it read and dropped (kept
     * no further) so the answer reaches the client; see {@link #finishReading}.
     */
    private String readBody(Request request) throws IOException {
        long limit = config.maxBodyBytes(), declared = request.getLength();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        long length = readToEnd(request, declared > limit ? null : body, limit);
        if (declared > limit || length < 0 || length > limit) throw tooLarge(declared > limit ? declared : -1);
        return body.toString(StandardCharsets.UTF_8);
    }

    /**
     * Reads the request's body to its end, keeping its first {@code keepAtMost} bytes in {@code keep} (none when
     * null) and dropping the rest; gives up past {@link #DROPPED_AT_MOST} bytes. Records in {@link #BODY_READ}
     * whether it reached the end. Returns the body's length, or -1 where it gave up.
     */
    private static long readToEnd(Request request, ByteArrayOutputStream keep, long keepAtMost) throws IOException {
        byte[] buffer = new byte[16384];
        long length = 0;
        request.setAttribute(BODY_READ, Boolean.FALSE);
        if (request.getLength() > keepAtMost + DROPPED_AT_MOST) return -1; // declared past what would be read: not started
        try (InputStream in = Content.Source.asInputStream(request)) {
            for (int n; (n = in.read(buffer)) >= 0; length += n) {
                if (keep != null && length + n <= keepAtMost) keep.write(buffer, 0, n);
                if (length + n > keepAtMost + DROPPED_AT_MOST) return -1;
            }
        }
        request.setAttribute(BODY_READ, Boolean.TRUE);
        return length;
    }

    private ApiError tooLarge(long declared) {
        return new ApiError(413, "invalid_request_error", "request_too_large", null, "the request body "
                + (declared >= 0 ? "of " + declared + " bytes " : "") + "is larger than this server's limit of " + config.maxBodyBytes() + " bytes");
    }

    private static void json(Response response, int status, JsonObject body) throws IOException {
        byte[] bytes = GSON.toJson(body).getBytes(StandardCharsets.UTF_8);
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, bytes.length);
        try (OutputStream out = Content.Sink.asOutputStream(response)) {
            out.write(bytes);
        }
    }

    private static void text(Response response, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, bytes.length);
        try (OutputStream out = Content.Sink.asOutputStream(response)) {
            out.write(bytes);
        }
    }

    /** The engine's counters and state in Prometheus' text format. */
    String metrics() {
        Engine.Snapshot s = engine.snapshot();
        StringBuilder out = new StringBuilder();
        metric(out, "moa_requests_total", "counter", "requests accepted into the queue", s.submitted());
        metric(out, "moa_requests_completed_total", "counter", "requests that ended normally", s.completed());
        metric(out, "moa_requests_cancelled_total", "counter", "requests whose client went away", s.cancelled());
        metric(out, "moa_requests_failed_total", "counter", "requests that failed while running", s.failed());
        metric(out, "moa_requests_rejected_total", "counter", "requests refused because the queue was full", s.rejected());
        metric(out, "moa_queue_depth", "gauge", "requests waiting for admission", s.queued());
        metric(out, "moa_requests_admitted", "gauge", "requests holding a session (prefilling or decoding)", s.admitted());
        metric(out, "moa_requests_admitted_peak", "gauge", "the most requests admitted at once", s.peakAdmitted());
        metric(out, "moa_batch_size", "gauge", "sessions in the last decode step", s.lastBatch());
        metric(out, "moa_decode_steps_total", "counter", "batched decode steps run", s.steps());
        metric(out, "moa_prompt_tokens_total", "counter", "prompt tokens prefilled", s.promptTokens());
        metric(out, "moa_generated_tokens_total", "counter", "tokens generated", s.generatedTokens());
        metric(out, "moa_tokens_per_second", "gauge", "tokens generated per second over the last 10 s", s.tokensPerSecond());
        metric(out, "moa_kv_bytes_in_use", "gauge", "KV-cache bytes held by admitted requests", s.kvBytesInUse());
        metric(out, "moa_kv_bytes_budget", "gauge", "KV-cache bytes the server admits requests up to", s.kvBudget());
        return out.toString();
    }

    private static void metric(StringBuilder out, String name, String type, String help, double value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
        out.append(name).append(' ').append(value == Math.rint(value) && Math.abs(value) < 1e15 ? String.valueOf((long) value) : String.valueOf(value)).append('\n');
    }

    private static String rootMessage(Throwable e) {
        while (e.getCause() != null) e = e.getCause();
        return e.getMessage();
    }

    private static byte[] randomBytes() {
        byte[] b = new byte[12];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }

    /** A request failed inside the engine. */
    private record Failure(String message) {
    }

    /** The engine's news for one request, handed to its handler thread: text pieces, then a result or a failure. */
    private static final class Events implements Engine.Listener {
        private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();

        @Override
        public void text(String piece) {
            queue.add(piece);
        }

        @Override
        public void finished(GenerationResult result) {
            queue.add(result);
        }

        @Override
        public void failed(String message) {
            queue.add(new Failure(message));
        }

        /** The next event, or null after a second without one. */
        Object next() {
            try {
                return queue.poll(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the model");
            }
        }
    }

    /** Stops accepting requests, ends the running ones, stops Jetty. */
    @Override
    public void close() throws Exception {
        closing = true;
        engine.close();
        jetty.stop();
    }
}
