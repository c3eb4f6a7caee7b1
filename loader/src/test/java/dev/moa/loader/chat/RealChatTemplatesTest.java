package dev.moa.loader.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Real model templates (llama.cpp's copies of the Hugging Face chat_template fields) rendered to
 * exact strings written by hand from each family's documented chat format.
 */
class RealChatTemplatesTest {
    private static final List<ChatMessage> CONVERSATION = List.of(
            ChatMessage.system("You are a helpful assistant."),
            ChatMessage.user("What is the capital of France?"),
            ChatMessage.assistant("The capital of France is Paris."),
            ChatMessage.user("And of Germany?"));

    private static String render(String file, Map<String, String> tokens, List<ChatMessage> messages) {
        return ChatTemplate.of(TemplateAssets.read(file), tokens).withClock(TemplateAssets.CLOCK).render(messages, true);
    }

    private static final Map<String, String> LLAMA3 = Map.of("bos_token", "<|begin_of_text|>", "eos_token", "<|eot_id|>");

    @Test
    void llama31() {
        // Llama 3.1 puts the knowledge cutoff and a date (its template's default: 26 Jul 2024) in the system turn.
        String expected = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                + "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
                + "You are a helpful assistant.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nThe capital of France is Paris.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nAnd of Germany?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n";
        assertEquals(expected, render("meta-llama-Llama-3.1-8B-Instruct.jinja", LLAMA3, CONVERSATION));
        assertEquals(expected, render("meta-llama-Llama-3.3-70B-Instruct.jinja", LLAMA3, CONVERSATION));
    }

    @Test
    void llama32TakesTodayFromStrftimeNowAndTrimsContent() {
        // Llama 3.2 dates the prompt with strftime_now("%d %b %Y") and trims each message's content.
        List<ChatMessage> untrimmed = List.of(ChatMessage.system("  Be brief.\n"), ChatMessage.user("\tHi there  \n"));
        String expected = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                + "Cutting Knowledge Date: December 2023\nToday Date: 09 Mar 2025\n\n"
                + "Be brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n";
        assertEquals(expected, render("meta-llama-Llama-3.2-3B-Instruct.jinja", LLAMA3, untrimmed));
    }

    private static final String CHATML = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            + "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
            + "<|im_start|>assistant\nThe capital of France is Paris.<|im_end|>\n"
            + "<|im_start|>user\nAnd of Germany?<|im_end|>\n"
            + "<|im_start|>assistant\n";

    @Test
    void qwen25() {
        assertEquals(CHATML, render("Qwen-Qwen2.5-7B-Instruct.jinja", Map.of("eos_token", "<|im_end|>"), CONVERSATION));
    }

    @Test
    void qwen25AddsItsDefaultSystemPromptWhenThereIsNone() {
        String expected = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
        assertEquals(expected, render("Qwen-Qwen2.5-7B-Instruct.jinja", Map.of(), List.of(ChatMessage.user("Hi"))));
    }

    @Test
    void qwen3DropsReasoningOfEarlierTurns() {
        // Qwen3 finds the last user query with messages[::-1] and a namespace, and strips <think> blocks
        // (split('</think>')[-1].lstrip('\n')) from assistant turns before it.
        List<ChatMessage> withReasoning = List.of(
                ChatMessage.system("You are a helpful assistant."),
                ChatMessage.user("What is the capital of France?"),
                ChatMessage.assistant("<think>\nThe user asks about France.\n</think>\n\nThe capital of France is Paris."),
                ChatMessage.user("And of Germany?"));
        assertEquals(CHATML, render("Qwen-Qwen3-0.6B.jinja", Map.of("eos_token", "<|im_end|>"), withReasoning));
    }

    @Test
    void qwq() {
        // QwQ opens the reply with <think>; this copy of the template closes it unless enable_thinking is set.
        String expected = CHATML + "<think>\n</think>";
        assertEquals(expected, render("Qwen-QwQ-32B.jinja", Map.of(), CONVERSATION));
    }

    private static final Map<String, String> MISTRAL = Map.of("bos_token", "<s>", "eos_token", "</s>");

    @Test
    void mistralNemo() {
        // Mistral v3-tekken: no spaces around [INST]; the system prompt is prefixed to the last user turn.
        String expected = "<s>[INST]What is the capital of France?[/INST]The capital of France is Paris.</s>"
                + "[INST]You are a helpful assistant.\n\nAnd of Germany?[/INST]";
        assertEquals(expected, render("mistralai-Mistral-Nemo-Instruct-2407.jinja", MISTRAL, CONVERSATION));
    }

    @Test
    void mistralSmall32() {
        String expected = "<s>[SYSTEM_PROMPT]You are a helpful assistant.[/SYSTEM_PROMPT]"
                + "[INST]What is the capital of France?[/INST]The capital of France is Paris.</s>"
                + "[INST]And of Germany?[/INST]";
        assertEquals(expected, render("Mistral-Small-3.2-24B-Instruct-2506.jinja", MISTRAL, CONVERSATION));
    }

    @Test
    void mistralSmall32DefaultSystemPromptCarriesTodaysDate() {
        String prompt = render("Mistral-Small-3.2-24B-Instruct-2506.jinja", MISTRAL, List.of(ChatMessage.user("Hi")));
        assertTrue(prompt.startsWith("<s>[SYSTEM_PROMPT]You are Mistral Small 3"), prompt);
        assertTrue(prompt.contains("The current date is 2025-03-09."), prompt);
        assertTrue(prompt.endsWith("[/SYSTEM_PROMPT][INST]Hi[/INST]"), prompt);
    }

    @Test
    void mistralRejectsRolesThatDoNotAlternate() {
        String template = TemplateAssets.read("mistralai-Mistral-Nemo-Instruct-2407.jinja"); // outside assertThrows: may skip
        var e = assertThrows(ChatTemplateException.class,
                () -> ChatTemplate.of(template, MISTRAL).render(List.of(ChatMessage.user("a"), ChatMessage.user("b")), true));
        assertEquals("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
    }

    @Test
    void gemma2RejectsSystemRoleWithItsOwnMessage() {
        String template = TemplateAssets.read("google-gemma-2-2b-it.jinja");
        var e = assertThrows(ChatTemplateException.class,
                () -> ChatTemplate.of(template, Map.of("bos_token", "<bos>")).render(CONVERSATION, true));
        assertEquals("System role not supported", e.getMessage());
    }

    @Test
    void gemma2() {
        String expected = "<bos><start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n"
                + "<start_of_turn>model\nThe capital of France is Paris.<end_of_turn>\n"
                + "<start_of_turn>user\nAnd of Germany?<end_of_turn>\n<start_of_turn>model\n";
        assertEquals(expected, render("google-gemma-2-2b-it.jinja", Map.of("bos_token", "<bos>"), CONVERSATION.subList(1, 4)));
    }

    @Test
    void phi35() {
        String expected = "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nWhat is the capital of France?<|end|>\n"
                + "<|assistant|>\nThe capital of France is Paris.<|end|>\n<|user|>\nAnd of Germany?<|end|>\n<|assistant|>\n";
        assertEquals(expected, render("microsoft-Phi-3.5-mini-instruct.jinja", Map.of("eos_token", "<|endoftext|>"), CONVERSATION));
    }

    @Test
    void deepSeekR1DistillStartsTheReplyWithThink() {
        String expected = "<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>What is the capital of France?"
                + "<｜Assistant｜>The capital of France is Paris.<｜end▁of▁sentence｜><｜User｜>And of Germany?<｜Assistant｜><think>\n";
        assertEquals(expected, render("deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
                Map.of("bos_token", "<｜begin▁of▁sentence｜>", "eos_token", "<｜end▁of▁sentence｜>"), CONVERSATION));
    }
}
