package dev.moa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moa.loader.tokenizer.Tokenizer;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The jar's stdin, stdout and argv as a shell gives them: prompts from stdin, a closed pipe, a POSIX locale. */
class CliStreamsTest {
    static final Path DEMO = TestPaths.repoRoot().resolve("models/moa-demo");

    @TempDir
    Path work;

    static ProcessBuilder jar(Map<String, String> env, String... args) {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-jar",
                TestPaths.repoRoot().resolve("runtime/target/moa.jar").toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().putAll(env);
        return pb;
    }

    private CliTest.Run run(ProcessBuilder pb, Path stdin) throws Exception {
        Path out = Files.createTempFile(work, "out", ".txt"), err = Files.createTempFile(work, "err", ".txt");
        if (stdin != null) pb.redirectInput(stdin.toFile());
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertTrue(p.waitFor(3, TimeUnit.MINUTES), "did not finish");
        return new CliTest.Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }

    @Test
    void aPromptFromStdinGivesWhatThePromptOptionGives() throws Exception {
        String prompt = "It is a truth universally acknowledged, that";
        Path file = work.resolve("prompt.txt");
        Files.writeString(file, prompt + "\n"); // as `echo` writes it: the newline is dropped
        CliTest.Run direct = run(jar(Map.of(), "generate", "--model", DEMO.toString(), "--prompt", prompt, "--max-tokens", "12"), null);
        CliTest.Run stdin = run(jar(Map.of(), "generate", "--model", DEMO.toString(), "--prompt-file", "-", "--max-tokens", "12"), file);
        CliTest.Run fromFile = run(jar(Map.of(), "generate", "--model", DEMO.toString(), "--prompt-file", file.toString(), "--max-tokens", "12"), null);
        assertEquals(0, direct.exit(), direct.err());
        assertEquals(direct.out(), stdin.out(), stdin.err());
        assertEquals(direct.out(), fromFile.out(), fromFile.err());
    }

    /** Before, System.out swallowed the broken pipe and generation ran on to --max-tokens for nobody. */
    @Test
    void aClosedPipeStopsGenerationQuietly() throws Exception {
        Process p = jar(Map.of(), "generate", "--model", DEMO.toString(), "--prompt", "Once", "--max-tokens", "100000")
                .redirectError(work.resolve("err.txt").toFile()).start();
        try (InputStream out = p.getInputStream()) {
            assertEquals(5, out.readNBytes(5).length);
        }
        long start = System.nanoTime();
        // 4,000 tokens of the demo model take minutes; stopping at the next token takes well under a second
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "generation went on after stdout closed");
        assertEquals(0, p.exitValue());
        List<String> errors = Files.readAllLines(work.resolve("err.txt")).stream()
                .filter(l -> !l.contains("incubator") && !l.startsWith("loaded ") && !l.contains("--max-tokens 100000 is more than")).toList();
        assertEquals(List.of(), errors, "quietly: no error, no statistics");
        assertTrue((System.nanoTime() - start) / 1e9 < 30);
    }

    /** Under LANG unset (a POSIX locale) the JVM decodes argv as ASCII: "café" would reach the tokenizer as "caf??". */
    @Test
    void nonAsciiArgumentsSurviveAPosixLocale() throws Exception {
        Assumptions.assumeTrue("UTF-8".equals(System.getProperty("sun.jnu.encoding")), "this JVM itself cannot pass the bytes on");
        String prompt = "café ☕ naïve déjà vu";
        int expected = Tokenizer.load(DEMO.resolve("tokenizer.json")).encode(prompt, true).length;
        for (String locale : List.of("C", "POSIX", "C.UTF-8")) {
            ProcessBuilder pb = jar(Map.of("LC_ALL", locale), "generate", "--model", DEMO.toString(), "--prompt", prompt, "--max-tokens", "1");
            pb.environment().remove("LANG");
            CliTest.Run r = run(pb, null);
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.err().contains("prompt tokens: " + expected + ","), locale + ": " + r.err());
        }
    }
}
