package dev.moa.loader.chat;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Every llama.cpp template, over several conversations, rendered here and by Python's jinja2 set up
 * as transformers sets it up (hf_reference_render.py). Outputs must be identical; where jinja2 fails,
 * this must fail too (with the same message when the template raised it). Needs a python3 with jinja2
 * (MOA_PYTHON, else python3 on PATH, else /usr/bin/python3); skipped without one.
 */
class Jinja2ParityTest {
    private static final Map<String, String> TOKENS = Map.of("bos_token", "<BOS>", "eos_token", "<EOS>", "unk_token", "<UNK>", "pad_token", "<PAD>");
    private static final String NOW = "2025-03-09T10:15:30"; // TemplateAssets.CLOCK as Python's naive local time

    private record Conversation(List<ChatMessage> messages, boolean addGenerationPrompt) {}

    private static final List<Conversation> CONVERSATIONS = List.of(
            new Conversation(List.of(ChatMessage.system("You are a helpful assistant."), ChatMessage.user("  Hello, who are you?  "),
                    ChatMessage.assistant("I am an AI.\n"), ChatMessage.user("What is 2+2? café")), true),
            new Conversation(List.of(ChatMessage.user("Hi"), ChatMessage.assistant("<think>\nhmm\n</think>\n\nHello!"), ChatMessage.user("Bye")), false),
            new Conversation(List.of(ChatMessage.system("Be terse.\n"),
                    ChatMessage.user("Quote: \"x\" \\ 'y' {{ not_a_var }} {% raw %} \u2028 \t tab\n\n")), false),
            new Conversation(List.of(ChatMessage.user("one")), true),
            new Conversation(List.of(ChatMessage.user("a"), ChatMessage.user("b")), true),
            new Conversation(List.of(ChatMessage.system("s"), ChatMessage.user("q"), ChatMessage.assistant("a"),
                    ChatMessage.user("q2"), ChatMessage.assistant("False")), false),
            new Conversation(List.of(ChatMessage.user("weather?"), ChatMessage.assistant("calling"),
                    new ChatMessage("tool", "{\"temp\": 20}"), ChatMessage.user("thanks")), true),
            new Conversation(List.of(ChatMessage.assistant("I start"), ChatMessage.user("ok")), true));

    @Test
    void everyTemplateRendersAsTransformersJinja2Does() throws Exception {
        List<Path> templates = TemplateAssets.allTemplates();
        String python = pythonWithJinja2();
        Assumptions.assumeTrue(python != null, "no python3 with jinja2 (set MOA_PYTHON or apt-get install python3-jinja2): skipping the jinja2 comparison");

        JsonArray cases = new JsonArray();
        List<String> labels = new ArrayList<>();
        List<String> ours = new ArrayList<>();
        for (Path file : templates) {
            String template = Files.readString(file);
            ChatTemplate chat = ChatTemplate.of(template, TOKENS).withClock(TemplateAssets.CLOCK);
            for (int c = 0; c < CONVERSATIONS.size(); c++) {
                Conversation conversation = CONVERSATIONS.get(c);
                cases.add(pythonCase(template, conversation));
                labels.add(file.getFileName() + " #" + c);
                try {
                    ours.add("TEXT:" + chat.render(conversation.messages(), conversation.addGenerationPrompt()));
                } catch (ChatTemplateException e) {
                    ours.add("ERROR:" + e.getMessage());
                }
            }
        }
        JsonArray theirs = runPython(python, cases);

        int sameText = 0;
        int sameRaise = 0;
        int bothFail = 0;
        List<String> differences = new ArrayList<>();
        for (int i = 0; i < labels.size(); i++) {
            JsonObject reference = theirs.get(i).getAsJsonObject();
            String mine = ours.get(i);
            if (reference.has("text")) {
                String expected = "TEXT:" + reference.get("text").getAsString();
                if (expected.equals(mine)) sameText++;
                else differences.add(labels.get(i) + ": " + firstDifference(expected, mine));
            } else {
                String error = reference.get("error").getAsString();
                if (error.startsWith("TemplateError: ")) { // the template's own raise_exception
                    String expected = "ERROR:" + error.substring("TemplateError: ".length());
                    if (expected.equals(mine)) sameRaise++;
                    else differences.add(labels.get(i) + ": jinja2 raised '" + error + "', here: " + abbreviate(mine));
                } else if (mine.startsWith("ERROR:")) {
                    bothFail++;
                } else {
                    differences.add(labels.get(i) + ": jinja2 failed (" + error + "), here it rendered");
                }
            }
        }
        System.out.printf("jinja2 parity: %d templates x %d conversations = %d renders: %d identical text, %d same raise_exception"
                        + " message, %d failing in both (undefined variables, None), %d different%n",
                templates.size(), CONVERSATIONS.size(), labels.size(), sameText, sameRaise, bothFail, differences.size());
        assertTrue(differences.isEmpty(), "renders that differ from jinja2:\n" + String.join("\n", differences));
    }

    private static JsonObject pythonCase(String template, Conversation conversation) {
        JsonObject c = new JsonObject();
        c.addProperty("template", template);
        JsonArray messages = new JsonArray();
        for (ChatMessage m : conversation.messages()) {
            JsonObject o = new JsonObject();
            o.addProperty("role", m.role());
            o.addProperty("content", m.content());
            messages.add(o);
        }
        c.add("messages", messages);
        c.addProperty("add_generation_prompt", conversation.addGenerationPrompt());
        JsonObject tokens = new JsonObject();
        TOKENS.forEach(tokens::addProperty);
        c.add("special_tokens", tokens);
        c.addProperty("now", NOW);
        return c;
    }

    private static JsonArray runPython(String python, JsonArray cases) throws IOException, InterruptedException, URISyntaxException {
        Path script = Path.of(Jinja2ParityTest.class.getResource("hf_reference_render.py").toURI());
        Path input = Files.createTempFile("chat-parity", ".json");
        try {
            Files.writeString(input, cases.toString());
            Process p = new ProcessBuilder(python, script.toString())
                    .redirectInput(input.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) throw new IOException("reference renderer failed: " + python + " " + script);
            JsonElement parsed = JsonParser.parseString(out);
            return parsed.getAsJsonArray();
        } finally {
            Files.deleteIfExists(input);
        }
    }

    private static String pythonWithJinja2() throws InterruptedException {
        List<String> candidates = new ArrayList<>();
        String configured = System.getenv("MOA_PYTHON");
        if (configured != null && !configured.isBlank()) candidates.add(configured);
        candidates.add("python3");
        candidates.add("/usr/bin/python3");
        for (String python : candidates) {
            try {
                Process p = new ProcessBuilder(python, "-c", "import jinja2").redirectErrorStream(true).start();
                p.getInputStream().readAllBytes();
                if (p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0) return python;
            } catch (IOException e) {
                // not installed under this name: try the next one
            }
        }
        return null;
    }

    private static String firstDifference(String expected, String actual) {
        int i = 0;
        while (i < expected.length() && i < actual.length() && expected.charAt(i) == actual.charAt(i)) i++;
        int from = Math.max(0, i - 40);
        return "at char " + i + ": jinja2 '" + escape(expected.substring(from, Math.min(expected.length(), i + 60)))
                + "' vs here '" + escape(actual.substring(from, Math.min(actual.length(), i + 60))) + "'";
    }

    private static String abbreviate(String s) {
        return escape(s.length() > 200 ? s.substring(0, 200) + "..." : s);
    }

    private static String escape(String s) {
        return s.replace("\n", "\\n");
    }
}
