package dev.moa.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Every {@code moa} command line of {@code scripts/gpu-check.sh} parses, and every Python script it runs compiles: a
 * GPU machine is lent rarely and for minutes,
 * and an option renamed here since the script was written would cost its step there (a usage error, found only then).
 * The script's variables are given values of the same kind (the 1B plan, which only {@code scripts/device-bundle}
 * writes, as the demo model's plan).
 */
class GpuCheckScriptTest {
    static final Path ROOT = Path.of(System.getProperty("moa.repo.root", ".."));

    @Test
    void everyMoaCommandLineOfTheScriptParses() throws IOException {
        String script = Files.readString(ROOT.resolve("scripts/gpu-check.sh")).replace("\\\n", " ");
        Matcher plainArray = Pattern.compile("(?m)^plain=\\(([^)]*)\\)").matcher(script);
        assertTrue(plainArray.find(), "the script's plain=(...) options");
        String goldens;
        try (Stream<Path> files = Files.list(ROOT.resolve("tests/src/test/resources/golden"))) {
            goldens = String.join(",", files.filter(f -> f.toString().endsWith(".json")).map(Path::toString).sorted().toList());
        }
        String plan = ROOT.resolve("models/moa-demo/moa-plan-50.json").toString();
        Map<String, String> values = Map.of("plan", plan, "goldens", goldens, "root", ROOT.toString(), "MOA_HOME", "/tmp/moa-home",
                "modes", "dense;uniform:0,0.5;window:16;moa:" + plan); // (modes as the script builds them with the plan there)
        int lines = 0;
        for (String line : script.split("\n")) {
            int at = line.indexOf("\"${java[@]}\"");
            if (at < 0 || line.stripLeading().startsWith("java=")) continue;
            String command = line.substring(at + "\"${java[@]}\"".length()).replace("\"${plain[@]}\"", plainArray.group(1));
            List<String> words = words(command, values);
            lines++;
            try {
                CommandLine.ParseResult parsed = Main.commandLine().parseArgs(words.toArray(String[]::new));
                assertTrue(parsed.hasSubcommand(), "a command: " + words);
            } catch (CommandLine.ParameterException e) {
                fail("gpu-check.sh's 'moa " + String.join(" ", words) + "' does not parse: " + e.getMessage());
            }
        }
        assertTrue(lines >= 15, "the script's moa command lines were found: " + lines);
    }

    /** Every Python script the check runs compiles (a syntax error there would cost its step on the GPU machine). */
    @Test
    void everyPythonScriptOfTheScriptCompiles() throws Exception {
        String script = Files.readString(ROOT.resolve("scripts/gpu-check.sh"));
        Matcher python = Pattern.compile("python3 (scripts/\\S+\\.py)").matcher(script);
        List<String> scripts = new ArrayList<>();
        while (python.find()) scripts.add(python.group(1));
        assertTrue(scripts.size() >= 3, "the script's Python steps were found: " + scripts);
        boolean interpreter;
        try {
            interpreter = new ProcessBuilder("python3", "--version").start().waitFor() == 0;
        } catch (IOException e) {
            interpreter = false;
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(interpreter, "python3 is not on PATH: the scripts are not compiled");
        for (String file : scripts) {
            Path source = ROOT.resolve(file);
            assertTrue(Files.isRegularFile(source), file + " is in the repository");
            Process p = new ProcessBuilder("python3", "-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", source.toString())
                    .redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes());
            assertEquals(0, p.waitFor(), file + ": " + log);
        }
    }

    /** A shell command's words: quotes removed, {@code $name} and {@code "$name"} replaced by {@code values}. */
    static List<String> words(String command, Map<String, String> values) {
        List<String> words = new ArrayList<>();
        StringBuilder word = null;
        for (int i = 0; i < command.length(); i++) {
            char c = command.charAt(i);
            if (Character.isWhitespace(c)) {
                if (word != null) words.add(word.toString());
                word = null;
                continue;
            }
            if (word == null) word = new StringBuilder();
            if (c == '\'' || c == '"') {
                int end = command.indexOf(c, i + 1);
                assertTrue(end > i, "a closing quote in: " + command);
                String quoted = command.substring(i + 1, end);
                word.append(c == '"' ? expand(quoted, values) : quoted);
                i = end;
            } else if (c == '$') {
                Matcher name = Pattern.compile("\\$\\{?([A-Za-z_]+)}?").matcher(command).region(i, command.length());
                assertTrue(name.lookingAt(), "a variable in: " + command);
                word.append(expand(name.group(), values));
                i = name.end() - 1;
            } else {
                word.append(c);
            }
        }
        if (word != null) words.add(word.toString());
        return words;
    }

    static String expand(String text, Map<String, String> values) {
        Matcher m = Pattern.compile("\\$\\{?([A-Za-z_]+)}?").matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String value = values.get(m.group(1));
            if (value == null) fail("no value for $" + m.group(1) + " (in gpu-check.sh: " + text + ")");
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }

    @Test
    void wordsAreTheShellsWords() {
        assertEquals(List.of("check", "--attention", "dense;window:16", "--plan", "/p.json", "x/p.json"),
                words("check --attention \"dense;window:16\" --plan \"$plan\" x/${plan_name}", Map.of("plan", "/p.json", "plan_name", "p.json")));
    }
}
