package dev.moa.runtime.generate;

import dev.moa.loader.chat.ChatMessage;
import dev.moa.runtime.Model;
import java.util.ArrayList;
import java.util.List;

/** Turns a user's text into prompt token ids: plain (with the tokenizer's special tokens, e.g. BOS) or as a chat turn. */
public final class Prompts {
    private Prompts() {
    }

    /** Plain text with the tokenizer's special tokens added (what a base model expects). */
    public static int[] plain(Model model, String text) {
        return model.requireTokenizer().encode(text, true);
    }

    /**
     * One user turn (after an optional system message) rendered by the model's chat template with the generation
     * prompt; the template carries BOS and the role markers, so no special tokens are added again.
     */
    public static int[] chat(Model model, String system, String user) {
        List<ChatMessage> messages = new ArrayList<>();
        if (system != null) messages.add(new ChatMessage("system", system));
        messages.add(new ChatMessage("user", user));
        return chat(model, messages);
    }

    /** A conversation rendered by the model's chat template with the generation prompt (the assistant's turn next). */
    public static int[] chat(Model model, List<ChatMessage> messages) {
        var template = model.chatTemplate().orElseThrow(() -> new IllegalArgumentException(
                model.directory() + ": a chat prompt needs a chat_template in tokenizer_config.json, and this model has none"));
        return model.requireTokenizer().encode(template.render(messages, true), false);
    }

    /** A chat turn when the model has a chat template, else plain text: how evaluations ask any model a question. */
    public static int[] question(Model model, String user) {
        return model.chatTemplate().isPresent() ? chat(model, null, user) : plain(model, user);
    }
}
