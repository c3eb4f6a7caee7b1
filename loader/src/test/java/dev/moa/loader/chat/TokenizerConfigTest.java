package dev.moa.loader.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerConfigTest {
    @TempDir
    Path dir;

    private Path write(String json) throws IOException {
        return Files.writeString(dir.resolve("tokenizer_config.json"), json);
    }

    private Optional<ChatTemplate> load(String json) throws IOException {
        return ChatTemplate.fromTokenizerConfig(write(json));
    }

    private String error(String json) throws IOException {
        Path file = write(json);
        String message = assertThrows(ChatTemplateException.class, () -> ChatTemplate.fromTokenizerConfig(file)).getMessage();
        assertTrue(message.contains(file.toString()), "names the file: " + message);
        return message;
    }

    @Test
    void templateWithTokensAsStringsOrAddedTokenObjects() throws IOException {
        ChatTemplate t = load("""
                {"add_bos_token": true, "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
                 "eos_token": "</s>", "pad_token": null, "unk_token": "<unk>",
                 "chat_template": "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}{{ eos_token }}"}
                """).orElseThrow();
        assertEquals(Map.of("bos_token", "<s>", "eos_token", "</s>", "unk_token", "<unk>"), t.specialTokens());
        assertEquals("<s>[hi]</s>", t.render(List.of(ChatMessage.user("hi")), false));
    }

    @Test
    void namedTemplatesPickDefault() throws IOException {
        ChatTemplate t = load("""
                {"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain"}]}
                """).orElseThrow();
        assertEquals("plain", t.render(List.of(ChatMessage.user("hi")), true));
    }

    @Test
    void noChatTemplateIsEmpty() throws IOException {
        assertTrue(load("{\"bos_token\": \"<s>\"}").isEmpty());
        assertTrue(load("{\"chat_template\": null}").isEmpty());
    }

    @Test
    void malformedJsonNamesTheFile() throws IOException {
        assertTrue(error("{\"chat_template\": \"x\",").contains("not valid JSON"));
        assertTrue(error("[1, 2]").contains("not a JSON object"));
    }

    @Test
    void wrongShapesNameFileAndField() throws IOException {
        assertTrue(error("{\"chat_template\": 42}").contains("field 'chat_template'"));
        assertTrue(error("{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}]}")
                .contains("field 'chat_template' has no template named \"default\" (has [tool_use])"));
        assertTrue(error("{\"chat_template\": [{\"name\": \"default\"}]}").contains("field 'chat_template'"));
        assertTrue(error("{\"chat_template\": \"x\", \"eos_token\": 2}").contains("field 'eos_token'"));
        assertTrue(error("{\"chat_template\": \"x\", \"bos_token\": {\"id\": 1}}").contains("field 'bos_token'"));
    }
}
