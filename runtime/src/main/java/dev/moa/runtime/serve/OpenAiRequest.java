package dev.moa.runtime.serve;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.moa.loader.chat.ChatMessage;
import dev.moa.loader.config.GenerationConfig;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.generate.GenerationParams;
import dev.moa.runtime.generate.Prompts;
import dev.moa.runtime.generate.SamplingParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A {@code /v1/chat/completions} or {@code /v1/completions} body, checked and turned into what the engine runs: the
 * prompt's tokens (a chat through the model's template), the generation settings, and how to answer (streamed or
 * not). Every field the server reads is checked for its type and range and refused with OpenAI's error JSON naming
 * it; fields it cannot honour (several choices, penalties, log-probabilities, tools) are refused unless they ask
 * for the default; other fields are ignored, as clients send many.
 *
 * <p>Sampling defaults follow OpenAI's API (temperature 1, top_p 1) unless the model's generation_config.json sets
 * its own (its top_k applies as in {@code moa generate}); without {@code seed} each request draws one. {@code max_tokens} (or {@code max_completion_tokens})
 * defaults to the server's {@code --max-tokens}, clamped to the context; a budget given explicitly that does not fit
 * with the prompt is refused with both token counts. The extension field {@code moa_attention} picks the attention
 * of this request: {@code dense}, {@code moa:PLAN} (a plan file in the model's directory), {@code uniform:A,B} or
 * {@code window:W}; {@code moa_priority} (-10..10, default 0) is its place in the queue (see {@link Engine}).
 */
record OpenAiRequest(boolean chat, int[] prompt, GenerationParams params, boolean stream, boolean includeUsage, int priority) {
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant");

    /** What a request needs from the server: its model, the served name, defaults. */
    record Context(Model model, String modelId, AttentionMode defaultAttention, int defaultMaxTokens, java.util.function.Function<String, AttentionMode> attentions) {
    }

    static OpenAiRequest parse(JsonElement element, boolean chat, Context context) {
        if (element == null || !element.isJsonObject()) throw ApiError.invalid(null, "the request body must be a JSON object");
        JsonObject body = element.getAsJsonObject();
        String model = string(body, "model");
        if (model == null) throw ApiError.invalid("model", "you must provide a model parameter");
        if (!model.equals(context.modelId())) {
            throw new ApiError(404, "invalid_request_error", "model_not_found", "model",
                    "the model '" + model + "' does not exist; this server serves '" + context.modelId() + "'");
        }
        Integer n = integer(body, "n");
        if (n != null && n != 1) throw ApiError.invalid("n", "only n = 1 is supported, got " + n);
        unsupportedUnlessDefault(body);

        Model m = context.model();
        int[] prompt = chat ? Prompts.chat(m, messages(body)) : completionPrompt(body, m);
        if (prompt.length == 0) throw ApiError.invalid(chat ? "messages" : "prompt", "the prompt is empty");
        int maxContext = m.config().maxPositions();
        Integer asked = integer(body, "max_completion_tokens");
        if (asked == null) asked = integer(body, "max_tokens");
        String budgetField = body.has("max_completion_tokens") && !body.get("max_completion_tokens").isJsonNull() ? "max_completion_tokens" : "max_tokens";
        if (asked != null && asked < 1) throw ApiError.invalid(budgetField, budgetField + " must be at least 1, got " + asked);
        if (prompt.length >= maxContext || (asked != null && (long) prompt.length + asked > maxContext)) {
            throw new ApiError(400, "invalid_request_error", "context_length_exceeded", chat ? "messages" : "prompt",
                    "this model's maximum context length is " + maxContext + " tokens; you requested " + ((long) prompt.length + (asked == null ? 0 : asked))
                            + " tokens (" + prompt.length + " in the " + (chat ? "messages" : "prompt") + ", " + (asked == null ? 0 : asked)
                            + " in the completion); shorten the prompt or ask for fewer tokens");
        }
        int maxTokens = asked != null ? asked : Math.min(context.defaultMaxTokens(), maxContext - prompt.length);

        GenerationConfig g = m.generationConfig();
        Double temperature = number(body, "temperature");
        if (temperature != null && !(temperature >= 0 && temperature <= 2)) throw ApiError.invalid("temperature", "temperature must be between 0 and 2, got " + temperature);
        Double topP = number(body, "top_p");
        if (topP != null && !(topP > 0 && topP <= 1)) throw ApiError.invalid("top_p", "top_p must be in (0, 1], got " + topP);
        Long seed = longInteger(body, "seed");
        SamplingParams sampling = new SamplingParams(
                temperature != null ? temperature : g.doSample() ? g.temperature().orElse(1.0) : 1.0,
                g.doSample() ? g.topK().orElse(0) : 0,
                topP != null ? topP : g.doSample() ? g.topP().orElse(1.0) : 1.0,
                seed != null ? seed : ThreadLocalRandom.current().nextLong());

        String attentionSpec = string(body, "moa_attention");
        AttentionMode attention = attentionSpec == null ? context.defaultAttention() : context.attentions().apply(attentionSpec);
        GenerationParams params = new GenerationParams(maxTokens, sampling, stops(body), false, attention);

        Boolean stream = bool(body, "stream");
        boolean includeUsage = false;
        JsonElement options = body.get("stream_options");
        if (options != null && !options.isJsonNull()) {
            if (!options.isJsonObject()) throw ApiError.invalid("stream_options", "stream_options must be an object");
            Boolean usage = bool(options.getAsJsonObject(), "include_usage");
            includeUsage = usage != null && usage;
        }
        Integer priority = integer(body, "moa_priority");
        if (priority != null && (priority < -10 || priority > 10)) throw ApiError.invalid("moa_priority", "moa_priority must be in -10..10, got " + priority);
        return new OpenAiRequest(chat, prompt, params, stream != null && stream, includeUsage, priority == null ? 0 : priority);
    }

    /** Penalties, log-probabilities, tools and biases this server does not apply: accepted only at their defaults. */
    private static void unsupportedUnlessDefault(JsonObject body) {
        for (String field : List.of("frequency_penalty", "presence_penalty")) {
            Double v = number(body, field);
            if (v != null && v != 0) throw ApiError.invalid(field, field + " is not supported by this server (only 0)");
        }
        JsonElement logprobs = body.get("logprobs"); // chat: a boolean; completions: how many (0 = none)
        if (logprobs != null && !logprobs.isJsonNull()) {
            boolean off = logprobs.isJsonPrimitive() && (logprobs.getAsJsonPrimitive().isBoolean() ? !logprobs.getAsBoolean()
                    : logprobs.getAsJsonPrimitive().isNumber() && logprobs.getAsDouble() == 0);
            if (!off) throw ApiError.invalid("logprobs", "log-probabilities are not supported by this server");
        }
        for (String field : List.of("tools", "functions", "logit_bias")) {
            JsonElement v = body.get(field);
            if (v == null || v.isJsonNull()) continue;
            boolean empty = v.isJsonArray() ? v.getAsJsonArray().isEmpty() : v.isJsonObject() && v.getAsJsonObject().isEmpty();
            if (!empty) throw ApiError.invalid(field, field + " is not supported by this server");
        }
        JsonElement format = body.get("response_format");
        if (format != null && !format.isJsonNull()) {
            String type = format.isJsonObject() ? string(format.getAsJsonObject(), "type") : null;
            if (!"text".equals(type)) throw ApiError.invalid("response_format", "only response_format {\"type\": \"text\"} is supported");
        }
    }

    private static List<ChatMessage> messages(JsonObject body) {
        JsonElement value = body.get("messages");
        if (value == null || value.isJsonNull()) throw ApiError.invalid("messages", "you must provide messages");
        if (!value.isJsonArray() || value.getAsJsonArray().isEmpty()) throw ApiError.invalid("messages", "messages must be a non-empty array");
        List<ChatMessage> out = new ArrayList<>();
        JsonArray array = value.getAsJsonArray();
        for (int i = 0; i < array.size(); i++) {
            String at = "messages[" + i + "]";
            if (!array.get(i).isJsonObject()) throw ApiError.invalid(at, at + " must be an object");
            JsonObject message = array.get(i).getAsJsonObject();
            String role = string(message, "role", at + ".role");
            if (role == null || !ROLES.contains(role)) throw ApiError.invalid(at + ".role", at + ".role must be one of system, developer, user, assistant; got " + role);
            out.add(new ChatMessage(role.equals("developer") ? "system" : role, content(message.get("content"), at + ".content")));
        }
        return out;
    }

    /** A message's content: a string, or an array of text parts. */
    private static String content(JsonElement value, String at) {
        if (value == null || value.isJsonNull()) return "";
        if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isString()) return value.getAsString();
        if (!value.isJsonArray()) throw ApiError.invalid(at, at + " must be a string or an array of text parts");
        StringBuilder text = new StringBuilder();
        for (JsonElement part : value.getAsJsonArray()) {
            if (!part.isJsonObject() || !"text".equals(string(part.getAsJsonObject(), "type", at + "[].type"))) {
                throw ApiError.invalid(at, at + ": only text parts ({\"type\": \"text\", \"text\": ...}) are supported");
            }
            String t = string(part.getAsJsonObject(), "text", at + "[].text");
            if (t == null) throw ApiError.invalid(at, at + ": a text part needs its text");
            text.append(t);
        }
        return text.toString();
    }

    /** A completion's prompt: a string, an array of one string, or an array of token ids. */
    private static int[] completionPrompt(JsonObject body, Model model) {
        JsonElement value = body.get("prompt");
        if (value == null || value.isJsonNull()) throw ApiError.invalid("prompt", "you must provide a prompt");
        if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isString()) return Prompts.plain(model, value.getAsString());
        if (value.isJsonArray()) {
            JsonArray array = value.getAsJsonArray();
            if (array.size() == 1 && array.get(0).isJsonPrimitive() && array.get(0).getAsJsonPrimitive().isString()) {
                return Prompts.plain(model, array.get(0).getAsString());
            }
            int vocab = model.config().vocabSize();
            if (array.size() > model.config().maxPositions()) {
                throw ApiError.invalid("prompt", "the prompt has " + array.size() + " tokens; the model's context holds " + model.config().maxPositions());
            }
            int[] ids = new int[array.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonElement e = array.get(i);
                if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
                    throw ApiError.invalid("prompt", "prompt must be a string, an array of one string, or an array of token ids (one prompt per request)");
                }
                double v = e.getAsDouble();
                if (v != Math.rint(v) || v < 0 || v >= vocab) throw ApiError.invalid("prompt", "prompt[" + i + "] = " + e + " is not a token id in [0, " + vocab + ")");
                ids[i] = (int) v;
            }
            return ids;
        }
        throw ApiError.invalid("prompt", "prompt must be a string, an array of one string, or an array of token ids");
    }

    private static List<String> stops(JsonObject body) {
        JsonElement value = body.get("stop");
        if (value == null || value.isJsonNull()) return List.of();
        if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isString()) return List.of(value.getAsString());
        if (!value.isJsonArray() || value.getAsJsonArray().size() > 4) throw ApiError.invalid("stop", "stop must be a string or an array of at most 4 strings");
        List<String> out = new ArrayList<>();
        for (JsonElement e : value.getAsJsonArray()) {
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) throw ApiError.invalid("stop", "stop must be a string or an array of at most 4 strings");
            out.add(e.getAsString());
        }
        return out;
    }

    private static String string(JsonObject o, String field) {
        return string(o, field, field);
    }

    private static String string(JsonObject o, String field, String name) {
        JsonElement v = o.get(field);
        if (v == null || v.isJsonNull()) return null;
        if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) throw ApiError.invalid(name, "'" + name + "' must be a string, got " + kind(v));
        return v.getAsString();
    }

    private static Double number(JsonObject o, String field) {
        JsonElement v = o.get(field);
        if (v == null || v.isJsonNull()) return null;
        if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) throw ApiError.invalid(field, "'" + field + "' must be a number, got " + kind(v));
        double d = v.getAsDouble();
        if (!Double.isFinite(d)) throw ApiError.invalid(field, "'" + field + "' must be a finite number");
        return d;
    }

    private static Long longInteger(JsonObject o, String field) {
        Double d = number(o, field);
        if (d == null) return null;
        JsonPrimitive p = o.get(field).getAsJsonPrimitive();
        try {
            return new java.math.BigDecimal(p.getAsString()).longValueExact();
        } catch (ArithmeticException | NumberFormatException e) {
            throw ApiError.invalid(field, "'" + field + "' must be an integer, got " + p.getAsString());
        }
    }

    private static Integer integer(JsonObject o, String field) {
        Long v = longInteger(o, field);
        if (v == null) return null;
        if (v > Integer.MAX_VALUE || v < Integer.MIN_VALUE) throw ApiError.invalid(field, "'" + field + "' is out of range: " + v);
        return v.intValue();
    }

    private static Boolean bool(JsonObject o, String field) {
        JsonElement v = o.get(field);
        if (v == null || v.isJsonNull()) return null;
        if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isBoolean()) throw ApiError.invalid(field, "'" + field + "' must be a boolean, got " + kind(v));
        return v.getAsBoolean();
    }

    private static String kind(JsonElement v) {
        if (v.isJsonArray()) return "an array";
        if (v.isJsonObject()) return "an object";
        JsonPrimitive p = v.getAsJsonPrimitive();
        return p.isString() ? "a string" : p.isNumber() ? "a number" : "a boolean";
    }

    /**
     * The attention a request names in {@code moa_attention}: a plan only from the model's own directory (a client
     * names a file there, never a path elsewhere on the server), other modes as {@code --attention} parses them.
     */
    static AttentionMode attention(String spec, Model model) {
        String s = spec.trim();
        try {
            AttentionMode mode;
            if (s.startsWith("moa:")) {
                String name = s.substring(4);
                Path dir = model.directory().toAbsolutePath().normalize(), file = dir.resolve(name).normalize();
                if (name.isBlank() || !file.startsWith(dir) || !file.getParent().equals(dir) || !Files.isRegularFile(file)) {
                    throw ApiError.invalid("moa_attention", "moa_attention " + spec + ": moa: names a plan file in the model's directory, e.g. moa:moa-plan-50.json");
                }
                mode = AttentionMode.parse("moa:" + file);
            } else {
                mode = AttentionMode.parse(s);
            }
            // a plan made for another model (other layer or head counts) is refused here, not when its session starts
            if (mode instanceof AttentionMode.Sparse sparse) sparse.planFor(model.config(), model.directory().toString());
            return mode;
        } catch (ApiError e) {
            throw e;
        } catch (RuntimeException e) {
            throw ApiError.invalid("moa_attention", "moa_attention: " + String.valueOf(e.getMessage()).replace("--attention ", ""));
        }
    }
}
