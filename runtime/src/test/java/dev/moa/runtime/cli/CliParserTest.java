package dev.moa.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The command line on picocli, in process: help, typed values checked before a model loads, one-line errors. */
class CliParserTest {
    record Result(int exit, String out, String err) {}

    static Result run(String... argv) {
        PrintStream out = System.out, err = System.err;
        var o = new ByteArrayOutputStream();
        var e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
        try {
            int exit = Main.run(argv);
            return new Result(exit, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void everyCommandHasHelp() {
        for (var cli : CliReference.commands()) {
            String name = cli.getCommandSpec().qualifiedName();
            String[] argv = (name.replaceFirst("^moa ?", "") + " --help").trim().split(" ");
            Result r = run(argv);
            assertEquals(0, r.exit(), name + ": " + r.err());
            assertTrue(r.out().startsWith("Usage: " + name), name + ": " + r.out());
        }
        assertTrue(run("generate", "--help").out().contains("--max-tokens=N         most new tokens (default: 256"));
    }

    @Test
    void anOptionLikeValueIsAValueAndDebugIsAnOption() {
        var parsed = Main.commandLine().parseArgs("generate", "--model", "m", "--prompt", "--debug");
        GenerateCommand generate = parsed.subcommand().commandSpec().commandLine().getCommand();
        assertEquals("--debug", generate.prompt.text);
        assertEquals(Path.of("m"), generate.model.dir);
    }

    @Test
    void valuesAreCheckedBeforeTheModelLoads() {
        String missing = "/nonexistent/model";
        Result topP = run("generate", "--model", missing, "--prompt", "x", "--top-p", "2");
        assertEquals(2, topP.exit());
        assertEquals("moa: --top-p must be in (0, 1], got 2.0\n", topP.err());
        Result notInt = run("generate", "--model", missing, "--prompt", "x", "--max-tokens", "lots");
        assertEquals(2, notInt.exit());
        assertTrue(notInt.err().contains("Invalid value for option '--max-tokens': 'lots' is not an int"), notInt.err());
        Result plan = run("forward", "--model", missing, "--tokens", "1", "--attention", "moa:/nonexistent/plan.json");
        assertEquals(2, plan.exit());
        assertTrue(plan.err().contains("/nonexistent/plan.json: plan file not found") && !plan.err().contains("model"), plan.err());
        Result density = run("compress", "--model", missing, "--density", "1.5", "--out", "/tmp/x");
        assertTrue(density.err().contains("must be in (0, 1], got 1.5"), density.err());
        Result products = run("bench", "decode", "--model", missing, "--batch", "8", "--products", "matvec,fast");
        assertEquals(2, products.exit());
        assertEquals("moa: bench decode: --products takes auto, matvec or tensor, not 'fast'\n", products.err());
        Result kernel = run("bench", "decode", "--model", missing, "--decode-attention", "fast");
        assertEquals("moa: bench decode: --decode-attention takes staged or grouped, not 'fast'\n", kernel.err());
        Result kernelOnCpu = run("bench", "decode", "--model", missing, "--decode-attention", "grouped");
        assertEquals("moa: bench decode: --decode-attention applies to a device step (--device cuda or emulator)\n", kernelOnCpu.err());
        Result precision = run("generate", "--model", missing, "--prompt", "x", "--prompt-precision", "bf16");
        assertEquals("moa: --prompt-precision bf16 applies to prompts on a device (--device cuda or emulator)\n", precision.err());
        Result precisionName = run("generate", "--model", missing, "--prompt", "x", "--device", "emulator", "--prompt-precision", "fp8");
        assertTrue(precisionName.err().contains("'fp8' is not a prompt precision: f32 or bf16"), precisionName.err());
        Result launch = run("bench", "decode", "--model", missing, "--dependent-launch", "maybe");
        assertEquals("moa: bench decode: --dependent-launch takes on or off, not 'maybe'\n", launch.err());
        Result launchOnEmulator = run("bench", "long-context", "--model", missing, "--device", "emulator", "--dependent-launch", "off");
        assertEquals("moa: bench long-context: --dependent-launch applies to a CUDA device (--device cuda)\n", launchOnEmulator.err());
        Result ahead = run("bench", "decode", "--model", missing, "--step-ahead", "maybe");
        assertEquals("moa: bench decode: --step-ahead takes on or off, not 'maybe'\n", ahead.err());
        Result aheadOnEmulator = run("check", "--model", missing, "--device", "emulator", "--step-ahead", "off");
        assertEquals("moa: check: --step-ahead applies to a CUDA device (--device cuda)\n", aheadOnEmulator.err());
        Result checkLaunch = run("check", "--model", missing, "--device", "emulator", "--dependent-launch", "off");
        assertEquals("moa: check: --dependent-launch applies to a CUDA device (--device cuda)\n", checkLaunch.err());
        Result onCpu = run("bench", "long-context", "--model", missing, "--products", "matvec");
        assertEquals("moa: bench long-context: --products applies to a device step (--device cuda or emulator)\n", onCpu.err());
        Result budget = run("bench", "long-context", "--model", missing, "--kv-budget", "8G");
        assertEquals("moa: bench long-context: --kv-budget steps many sessions together: it runs on a device (--device cuda or emulator)\n", budget.err());
        Result both = run("generate", "--model", missing, "--prompt", "x", "--prompt-file", "f");
        assertTrue(both.err().contains("mutually exclusive"), both.err());
        assertEquals(1, both.err().lines().count(), both.err());
    }

    @Test
    void benchModesAreSubCommandsWithOnlyTheirOwnOptions() {
        Result r = run("bench", "kernels", "--lengths", "3");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("Unknown option") && r.err().contains("moa bench kernels --help"), r.err());
        // the spellings the docs used before keep working
        assertArrayEquals(new String[] {"bench", "kernels"}, Main.legacy(new String[] {"bench", "--kernels"}));
        assertArrayEquals(new String[] {"bench", "decode"}, Main.legacy(new String[] {"bench"}));
        assertArrayEquals(new String[] {"--threads", "2", "bench", "decode", "--torch"}, Main.legacy(new String[] {"--threads", "2", "bench", "--torch"}));
        assertArrayEquals(new String[] {"bench", "attention", "--modes", "dense,moa", "--lengths", "4096"},
                Main.legacy(new String[] {"bench", "--attention", "dense,moa", "--lengths", "4096"}));
        assertArrayEquals(new String[] {"bench", "long-context", "--lengths", "4096"}, Main.legacy(new String[] {"bench", "--long-context", "--lengths", "4096"}));
        String[] prompt = {"generate", "--prompt", "bench"};
        assertArrayEquals(prompt, Main.legacy(prompt));
        assertArrayEquals(new String[] {"bench", "--help"}, Main.legacy(new String[] {"bench", "--help"}));
    }

    @Test
    void errorsOfTheJvmAreOneLineWithTheirHint() {
        assertTrue(Main.describe(new OutOfMemoryError("Java heap space")).contains("MOA_HEAP=16g"));
        assertTrue(Main.describe(new StackOverflowError()).contains("MOA_JAVA_OPTS=-Xss64m"));
        assertEquals("could not start: MOA_THREADS must be a positive integer",
                Main.describe(new ExceptionInInitializerError(new IllegalArgumentException("MOA_THREADS must be a positive integer"))));
        assertEquals("x.json: no such file or directory", Main.describe(new NoSuchFileException("x.json")));
        assertTrue(Main.describe(new IllegalStateException()).contains("IllegalStateException (an internal error; --debug shows where)"));
        assertFalse(Main.describe(new RuntimeException("first\nsecond")).contains("second"));
    }

    @Test
    void argumentsPassedToTheRelaunchedJvmComeBackExactly() {
        String[] argv = {"generate", "--prompt", "café ☕ naïve 100% a+b", "--stop", " "};
        var encoded = CommandLineText.encoded(argv);
        assertTrue(encoded.stream().allMatch(a -> a.chars().allMatch(c -> c < 128)));
        System.setProperty(CommandLineText.ENCODED, "true");
        try {
            assertArrayEquals(argv, CommandLineText.of(encoded.toArray(String[]::new)));
        } finally {
            System.clearProperty(CommandLineText.ENCODED);
        }
    }

    /** README's CLI section and docs/cli.md are the real help (scripts/update-cli-docs regenerates them). */
    @Test
    void theDocumentedCliIsTheRealHelp() throws Exception {
        Path root = Path.of(System.getProperty("moa.repo.root", ".."));
        String readme = Files.readString(root.resolve("README.md"));
        assertTrue(readme.contains(CliReference.readmeSection()), "README.md's CLI section is out of date: run scripts/update-cli-docs");
        assertEquals(CliReference.fullReference(), Files.readString(root.resolve("docs/cli.md")), "docs/cli.md is out of date: run scripts/update-cli-docs");
    }
}
