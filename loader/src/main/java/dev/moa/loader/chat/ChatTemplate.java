package dev.moa.loader.chat;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A model's own chat template (Jinja, from tokenizer_config.json), rendered the way Hugging Face
 * transformers' {@code apply_chat_template} renders it, so prompts match what the model was trained on.
 * Immutable and thread-safe.
 */
public final class ChatTemplate {
    private final String template;
    private final Map<String, String> specialTokens;
    private final Clock clock;

    private ChatTemplate(String template, Map<String, String> specialTokens, Clock clock) {
        this.template = Objects.requireNonNull(template, "template");
        this.specialTokens = Map.copyOf(specialTokens);
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /**
     * The chat template of a tokenizer_config.json with its special tokens; empty when the file has
     * no {@code chat_template}.
     *
     * @throws ChatTemplateException when the file is not JSON or a field has the wrong shape (names file and field)
     */
    public static Optional<ChatTemplate> fromTokenizerConfig(Path tokenizerConfigJson) throws IOException {
        TokenizerConfigReader config = TokenizerConfigReader.read(tokenizerConfigJson);
        return config.chatTemplate().map(text -> of(text, config.specialTokens()));
    }

    /** @param specialTokens values for bos_token, eos_token, ... as the template refers to them */
    public static ChatTemplate of(String template, Map<String, String> specialTokens) {
        return new ChatTemplate(template, specialTokens, Clock.systemDefaultZone());
    }

    /** The same template with {@code strftime_now} reading {@code clock} (for reproducible prompts and tests). */
    public ChatTemplate withClock(Clock clock) {
        return new ChatTemplate(template, specialTokens, clock);
    }

    public String template() {
        return template;
    }

    public Map<String, String> specialTokens() {
        return specialTokens;
    }

    /**
     * The prompt text for {@code messages}; with {@code addGenerationPrompt} it ends with the header
     * that starts the assistant's turn.
     *
     * @throws ChatTemplateException with the template's own {@code raise_exception} message, or the engine error and its line
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> turns = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> turn = new LinkedHashMap<>();
            turn.put("role", m.role());
            turn.put("content", m.content());
            turns.add(turn);
        }
        // The variables transformers passes: special tokens first, so a template cannot have them
        // shadow messages; tools and documents are passed as None, hence defined.
        Map<String, Object> variables = new HashMap<>(specialTokens);
        variables.put("messages", turns);
        variables.put("add_generation_prompt", addGenerationPrompt);
        variables.put("tools", null);
        variables.put("documents", null);
        return HfJinja.render(template, variables, clock);
    }
}
