package dev.moa.runtime.serve;

import com.google.gson.JsonNull;
import com.google.gson.JsonObject;

/**
 * A request the server refuses, as OpenAI's error JSON: {@code {"error": {"message", "type", "param", "code"}}} with
 * the HTTP status that goes with it.
 */
final class ApiError extends RuntimeException {
    final int status;
    final String type, param, code;

    ApiError(int status, String type, String code, String param, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.code = code;
        this.param = param;
    }

    /** 400: the request's content is wrong; {@code param} names the field. */
    static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", null, param, message);
    }

    JsonObject json() {
        JsonObject error = new JsonObject();
        error.addProperty("message", getMessage());
        error.addProperty("type", type);
        if (param != null) error.addProperty("param", param);
        else error.add("param", JsonNull.INSTANCE);
        if (code != null) error.addProperty("code", code);
        else error.add("code", JsonNull.INSTANCE);
        JsonObject body = new JsonObject();
        body.add("error", error);
        return body;
    }
}
