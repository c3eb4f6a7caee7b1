package dev.moa.loader.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The Jinja2 / transformers behaviour chat templates rely on, each checked on a small template with
 * the output Python's jinja2 gives for it (transformers' environment: trim_blocks, lstrip_blocks).
 */
class ChatTemplateTest {
    private static final List<ChatMessage> CHAT = List.of(
            ChatMessage.system("  Be brief.  "),
            ChatMessage.user("Hello, world"),
            ChatMessage.assistant("<think>\nhmm\n</think>\n\nHi!"),
            ChatMessage.user("Bye"));

    private static String render(String template) {
        return render(template, CHAT, true);
    }

    private static String render(String template, List<ChatMessage> messages, boolean addGenerationPrompt) {
        return ChatTemplate.of(template, Map.of("bos_token", "<s>", "eos_token", "</s>"))
                .withClock(TemplateAssets.CLOCK).render(messages, addGenerationPrompt);
    }

    @Test
    void variablesAsTransformersPassesThem() {
        assertEquals("<s>|</s>|4|True|True|False|True",
                render("{{ bos_token }}|{{ eos_token }}|{{ messages|length }}|{{ add_generation_prompt }}"
                        + "|{{ messages[0].role == 'system' }}|{{ unk_token is defined }}|{{ tools is none }}"));
        assertEquals("False", render("{{ add_generation_prompt }}", CHAT, false));
    }

    @Test
    void trimBlocksAndLstripBlocks() {
        // trim_blocks drops the newline after a tag, lstrip_blocks the indentation before it.
        String template = """
                {% for m in messages %}
                    {% if m.role == 'user' %}
                [{{ m.content }}]
                    {% endif %}
                {% endfor %}
                """;
        assertEquals("[Hello, world]\n[Bye]\n", render(template));
    }

    @Test
    void lstripBlocksOnlyAtTheStartOfALine() {
        // Blanks before a tag that follows other text on its line stay; "{%+" keeps them anyway.
        assertEquals("1 2 |a  x|\nx|1\nx|\n \t x", render("{% for m in [1, 2] %}{{ m }} {% endfor %}|a  {% if 1 %}x{% endif %}|"
                + "\n  {% if 1 %}x{% endif %}|{{ 1 }}\n  {# c #}x|\n \t {%+ if 1 %}x{% endif %}"));
    }

    @Test
    void onlyTheTemplatesOwnTrailingNewlineIsDropped() {
        // keep_trailing_newline=False removes one newline at the end of the template source, never output ones.
        assertEquals("x", render("x\n"));
        assertEquals("x\n", render("x\n\n"));
        assertEquals("assistant\n", render("{{ 'assistant\\n' }}\n"));
    }

    @Test
    void pythonStringMethods() {
        assertEquals("Be brief.|Be brief.  |  Be brief.|['a', 'b', 'c']|['a', 'b|c']|['', 'x', '']|True|True|False",
                render("{{ messages[0].content.strip() }}|{{ messages[0].content.lstrip() }}|{{ messages[0].content.rstrip() }}"
                        + "|{{ ' a  b\\tc '.split() }}|{{ 'a|b|c'.split('|', 1) }}|{{ '|x|'.split('|') }}"
                        + "|{{ 'Hello'.startswith('He') }}|{{ 'Hello'.endswith(('x', 'lo')) }}|{{ 'Hello'.startswith('lo') }}"));
        assertEquals("Hi!|\nhmm|HELLO, WORLD|hello, world|Hello World|a-b|x1y2|2",
                render("{{ messages[2].content.split('</think>')[-1].lstrip('\\n') }}"
                        + "|{{ messages[2].content.split('</think>')[0].split('<think>')[-1].rstrip('\\n') }}"
                        + "|{{ messages[1].content.upper() }}|{{ messages[1].content.lower() }}|{{ 'hello world'.title() }}"
                        + "|{{ '-'.join(['a', 'b']) }}|{{ 'x{}y{}'.format(1, 2) }}|{{ 'banana'.count('an') }}"));
    }

    @Test
    void pythonStringMethodsAreNotJavaOnes() {
        // Java's String.split would take "." as a regex; Python's splits on the literal dot.
        assertEquals("['a', 'b']", render("{{ 'a.b'.split('.') }}"));
        var e = assertThrows(ChatTemplateException.class, () -> render("{{ 'abc'.length() }}"));
        assertTrue(e.getMessage().contains("'str' object has no attribute 'length'"), e.getMessage());
    }

    @Test
    void slicesAndNegativeIndices() {
        assertEquals("3|user|Bye|Bye,Hello, world|ell|olleH|Hlo",
                render("{{ messages[1:]|length }}|{{ messages[1:][0].role }}|{{ messages[-1].content }}"
                        + "|{{ messages[::-2]|map(attribute='content')|join(',') }}|{{ 'Hello'[1:-1] }}|{{ 'Hello'[::-1] }}|{{ 'Hello'[::2] }}"));
    }

    @Test
    void loopVariables() {
        assertEquals("0:first:system:-:user|1:user:system:assistant|2:assistant:user:user|3:last:user:assistant:-|",
                render("{% for m in messages %}{{ loop.index0 }}:{% if loop.first %}first:{% endif %}{% if loop.last %}last:{% endif %}"
                        + "{{ m.role }}:{{ loop.previtem.role if loop.previtem else '-' }}{% if not loop.last %}:{{ loop.nextitem.role }}{% endif %}"
                        + "{% if loop.last %}:-{% endif %}|{% endfor %}"));
    }

    @Test
    void loopFilterElseBreakAndContinue() {
        assertEquals("1.Hello, world 2.Bye |none|system,user|user,user",
                render("{% for m in messages if m.role == 'user' %}{{ loop.index }}.{{ m.content }} {% endfor %}"
                        + "|{% for m in messages if m.role == 'tool' %}x{% else %}none{% endfor %}"
                        + "|{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}{{ m.role }}{% if not loop.last and loop.index < 2 %},{% endif %}{% endfor %}"
                        + "|{% for m in messages %}{% if m.role != 'user' %}{% continue %}{% endif %}{{ m.role }}{% if not loop.last %},{% endif %}{% endfor %}"));
    }

    @Test
    void namespaceCarriesStateOutOfLoops() {
        assertEquals("3|Bye", render("{% set ns = namespace(last=-1, text='') %}"
                + "{% for m in messages %}{% if m.role == 'user' %}{% set ns.last = loop.index0 %}{% set ns.text = m.content %}{% endif %}{% endfor %}"
                + "{{ ns.last }}|{{ ns.text }}"));
        // A keyword argument's value is a whole expression, filters and arithmetic included.
        assertEquals("3", render("{% set ns = namespace(i=messages|length - 1) %}{{ ns.i }}"));
    }

    @Test
    void testsOperatorsAndPrecedence() {
        assertEquals("False|True|True|True|False|True|False|True",
                render("{{ not add_generation_prompt is defined }}|{{ not foo is defined }}|{{ messages[0].content is string }}"
                        + "|{{ messages[0].content is iterable }}|{{ messages[0] is string }}|{{ messages[0] is mapping }}"
                        + "|{{ 1 == '1' }}|{{ 'a' in 'cat' }}"));
        assertEquals("<s>x|ab1|B|z|True|0", render("{{ bos_token + 'x' }}|{{ 'a' ~ 'b' ~ 1 }}|{{ (none or 'B') }}|{{ 'x' and 'z' }}"
                + "|{{ True }}|{{ 0 and 1 }}"));
        // In Python "+" does not join str with anything else, and an undefined name is an error there too.
        assertThrows(ChatTemplateException.class, () -> render("{{ 'a' + 1 }}"));
        assertThrows(ChatTemplateException.class, () -> render("{{ 'a' + no_such_variable }}"));
    }

    @Test
    void pythonTruthiness() {
        // jinjava alone would treat the string "false" as false and drop this message.
        assertEquals("[False]", render("{% for m in messages %}{% if m.content %}[{{ m.content }}]{% endif %}{% endfor %}",
                List.of(ChatMessage.user("False"), ChatMessage.user("")), false));
    }

    @Test
    void dictionaries() {
        assertEquals("a=1;b=2;|a=1;b=2;|['a', 'b']|1|none|x|{'a': 1, 'b': [True, None]}",
                render("{% set d = {'a': 1, 'b': 2} %}{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"
                        + "|{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}|{{ d.keys()|list }}|{{ d.get('a') }}"
                        + "|{{ d.get('z', 'none') }}|{{ messages[0].get('name', 'x') }}|{{ {'a': 1, 'b': [true, none]} }}"));
    }

    @Test
    void tojsonMatchesTransformers() {
        // transformers' tojson is json.dumps(ensure_ascii=False): ", " and ": " separators, non-ASCII kept.
        assertEquals("{\"name\": \"café\", \"n\": [1, 2.5, true, null], \"q\": \"say \\\"hi\\\"\\n\"}",
                render("{{ {'name': 'café', 'n': [1, 2.5, true, none], 'q': 'say \"hi\"\\n'}|tojson }}"));
        assertEquals("{\n  \"a\": [\n    1\n  ]\n}", render("{{ {'a': [1]}|tojson(indent=2) }}"));
        assertEquals("\"Hello, world\"", render("{{ messages[1].content|tojson }}"));
    }

    @Test
    void filters() {
        assertEquals("Be brief.|2|user,user|Bye|  a\n  b|x|x", render("{{ messages[0].content|trim }}"
                + "|{{ messages|selectattr('role', 'equalto', 'user')|list|length }}"
                + "|{{ messages|map(attribute='role')|select('equalto', 'user')|join(',') }}|{{ (messages|last).content }}"
                + "|{{ 'a\\nb'|indent(2, true) }}|{{ nothing|default('x') }}|{{ ''|default('x', true) }}"));
        var e = assertThrows(ChatTemplateException.class, () -> render("{{ 'x'|from_json }}"));
        assertTrue(e.getMessage().contains("No filter named 'from_json'"), e.getMessage());
    }

    @Test
    void filterBlockGenerationBlockAndComments() {
        assertEquals("[x]", render("[{% filter trim %}  x  {% endfilter %}]"));
        assertEquals("Hi!", render("{% generation %}{{ messages[2].content.split('\\n\\n')[-1] }}{% endgeneration %}"));
        // A comment between a trimming tag and indented text must not eat the indentation (jinjava would).
        assertEquals("[    {]", render("{%- macro f() -%}\n{# c #}\n    {\n{%- endmacro -%}\n[{{ f() }}]"));
    }

    @Test
    void messageContentIsDataNotTemplate() {
        assertEquals("{{ bos_token }} {% if %}", render("{{ messages[0].content }}",
                List.of(ChatMessage.user("{{ bos_token }} {% if %}")), false));
    }

    @Test
    void stringLiteralsUsePythonEscapes() {
        assertEquals("é\t\\s A", render("{{ '\\u00e9\\t\\s \\x41' }}"));
    }

    @Test
    void strftimeNowReadsTheClock() {
        assertEquals("09 Mar 2025|2025-03-09|Sunday, March 9", render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d') }}"
                + "|{{ strftime_now('%A, %B %-d') }}"));
        assertEquals("True", render("{{ strftime_now is defined }}"));
    }

    @Test
    void raiseExceptionCarriesTheTemplatesMessage() {
        String template = "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok";
        var e = assertThrows(ChatTemplateException.class, () -> render(template));
        assertEquals("System role not supported", e.getMessage());
        assertEquals("ok", render(template, CHAT.subList(1, 4), true));
    }

    @Test
    void engineErrorsNameTheLine() {
        var e = assertThrows(ChatTemplateException.class, () -> render("line one\n{% if %}\n"));
        assertTrue(e.getMessage().startsWith("chat template error at line 2"), e.getMessage());
        e = assertThrows(ChatTemplateException.class, () -> render("{% for m in messages %}"));
        assertTrue(e.getMessage().contains("endfor"), e.getMessage());
        e = assertThrows(ChatTemplateException.class, () -> render("\n\n{{ no_such_function(1) }}"));
        assertTrue(e.getMessage().startsWith("chat template error at line 3"), e.getMessage());
    }

    @Test
    void iteratingToolsNoneFailsAsInTransformers() {
        // transformers passes tools=None; Python cannot iterate None (an undefined name iterates nothing).
        assertThrows(ChatTemplateException.class, () -> render("{% for t in tools %}{{ t }}{% endfor %}"));
        assertEquals("", render("{% for t in no_such_list %}{{ t }}{% endfor %}"));
    }

    @Test
    void rendersConcurrently() throws Exception {
        // One engine serves all templates; renders on many threads must not see each other's state.
        String template = "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
                + "{{ m.role }}:{{ m.content|trim }};{% endfor %}{{ ns.n }}{{ strftime_now('%Y') }}";
        var pool = java.util.concurrent.Executors.newFixedThreadPool(8);
        try {
            List<java.util.concurrent.Future<String>> results = new java.util.ArrayList<>();
            for (int i = 0; i < 200; i++) {
                List<ChatMessage> messages = List.of(ChatMessage.user("q" + i), ChatMessage.assistant(" a" + i + " "));
                results.add(pool.submit(() -> render(template, messages, true)));
            }
            for (int i = 0; i < results.size(); i++) {
                assertEquals("user:q" + i + ";assistant:a" + i + ";22025", results.get(i).get());
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
