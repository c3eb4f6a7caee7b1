package dev.moa.runtime.cli;

import dev.moa.tasks.cpu.Parallel;
import dev.moa.tasks.cpu.ThreadCount;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * {@code moa COMMAND [options]} on picocli: one typed options class per command holds its defaults, checks and help
 * ({@code moa COMMAND --help}). Errors are one line on stderr and a non-zero exit (2 for usage, 1 otherwise);
 * {@code --debug} adds the stack trace.
 */
@Command(name = "moa", mixinStandardHelpOptions = true, scope = ScopeType.INHERIT, version = "moa-java 0.1.0",
        description = "MoA (mixture of attention spans) inference in Java. Without a command: moa demo.",
        subcommands = {DemoCommand.class, GenerateCommand.class, ForwardCommand.class, InfoCommand.class, PlanCommand.class,
                EvalCommand.class, CompressCommands.Compress.class, CompressCommands.Calibrate.class, CompressCommands.Profile.class,
                CompressCommands.Optimize.class, CompressCommands.Validate.class, KernelsCommand.class, BenchCommand.class, CheckCommand.class, ServeCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Callable<Integer> {
    private static boolean debug;

    @Option(names = "--threads", paramLabel = "N", scope = ScopeType.INHERIT, description = "kernel threads (default: all cores, or MOA_THREADS)")
    void threads(String value) {
        try {
            Parallel.setThreads(ThreadCount.parse(value, "--threads"));
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(new CommandLine(this), e.getMessage());
        }
    }

    @Option(names = "--debug", scope = ScopeType.INHERIT, description = "print stack traces with errors")
    void debug(boolean on) {
        debug = on;
    }

    @Override
    public Integer call() throws Exception {
        return commandLine().execute("demo");
    }

    public static void main(String[] typed) throws Exception {
        String[] argv = CommandLineText.of(typed);
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            System.exit(relaunchWithVectorModule(argv));
        }
        System.setOut(new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8));
        System.exit(run(argv));
    }

    /** Runs one command line and returns the exit code; whatever goes wrong ends in one line on stderr. */
    static int run(String[] argv) {
        try {
            checkEnvironment(System.getenv());
            return commandLine().execute(legacy(argv));
        } catch (UsageException e) {
            System.err.println("moa: " + e.getMessage());
            return 2;
        } catch (StdoutText.Closed e) {
            return 0;
        } catch (Throwable e) {
            return failed(e);
        }
    }

    /** The command tree, with the error handling every command shares. */
    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        // a value that looks like an option is still a value: --prompt '--debug' is a prompt
        cli.setAllowOptionsAsOptionParameters(true);
        cli.setUsageHelpWidth(110);
        cli.setParameterExceptionHandler((e, args) -> {
            CommandLine.Model.CommandSpec spec = e.getCommandLine().getCommandSpec();
            System.err.println("moa: " + spec.qualifiedName().replaceFirst("^moa ?", "") + (spec.qualifiedName().equals("moa") ? "" : ": ")
                    + e.getMessage() + " (see: " + spec.qualifiedName() + " --help)");
            return 2;
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof UsageException) {
                System.err.println("moa: " + e.getMessage());
                return 2;
            }
            if (e instanceof StdoutText.Closed) return 0;
            return failed(e);
        });
        return cli;
    }

    /** One line for any failure, with the hint that applies; the stack trace with --debug. */
    static int failed(Throwable e) {
        System.err.println("moa: " + describe(e));
        if (debug) e.printStackTrace();
        return 1;
    }

    /** What went wrong, in one sentence a user can act on. */
    static String describe(Throwable e) {
        if (e instanceof StdoutText.Closed) return "stdout was closed";
        if (e instanceof OutOfMemoryError) {
            return "out of memory (" + e.getMessage() + "); raise the heap with MOA_HEAP=16g, or shorten the context";
        }
        if (e instanceof StackOverflowError) {
            return "stack overflow (an input nested too deeply?); run with --debug to see where, or raise the stack with MOA_JAVA_OPTS=-Xss64m";
        }
        if (e instanceof ExceptionInInitializerError init && init.getCause() != null) {
            return "could not start: " + describe(init.getCause());
        }
        if (e instanceof java.nio.file.NoSuchFileException f) return f.getFile() + ": no such file or directory";
        if (e instanceof java.nio.file.AccessDeniedException f) return f.getFile() + ": permission denied";
        if (e instanceof java.nio.file.FileSystemException f) return f.getFile() + ": " + (f.getReason() != null ? f.getReason() : "cannot be read");
        if (e instanceof java.io.UncheckedIOException u && u.getCause() != null) return describe(u.getCause());
        String message = e.getMessage();
        if (message == null || message.isBlank()) {
            return e.getCause() != null ? describe(e.getCause())
                    : e.getClass().getSimpleName() + " (an internal error; --debug shows where)";
        }
        return message.lines().findFirst().orElse(message);
    }

    /**
     * The modes {@code bench} had before it had sub-commands stay as they were documented: {@code bench --kernels}
     * is {@code bench kernels}, {@code bench --attention M} is {@code bench attention --modes M}, and {@code bench}
     * with decode options or none is {@code bench decode}.
     */
    static String[] legacy(String[] argv) {
        int at = 0; // the command: the first argument that is not a global option
        while (at < argv.length && (argv[at].equals("--debug") || argv[at].startsWith("--threads"))) at += argv[at].equals("--threads") ? 2 : 1;
        if (at >= argv.length || !argv[at].equals("bench") || (at + 1 < argv.length && !argv[at + 1].startsWith("-"))) return argv;
        List<String> rest = new ArrayList<>(Arrays.asList(argv).subList(at + 1, argv.length));
        if (rest.contains("--help") || rest.contains("-h")) return argv;
        Map<String, String> modes = Map.of("--kernels", "kernels", "--long-context", "long-context", "--profile", "profile", "--optimizer", "optimizer");
        String sub = "decode";
        for (var mode : modes.entrySet()) {
            if (rest.remove(mode.getKey())) sub = mode.getValue();
        }
        int attention = rest.indexOf("--attention");
        if (attention >= 0) {
            sub = "attention";
            rest.set(attention, "--modes");
        }
        List<String> out = new ArrayList<>(Arrays.asList(argv).subList(0, at + 1));
        out.add(sub);
        out.addAll(rest);
        return out.toArray(String[]::new);
    }

    /**
     * A jar manifest cannot add modules, so plain {@code java -jar moa.jar} starts without the Vector API; rerun
     * the same JVM binary with the flags the launcher would have passed, and mirror its exit code.
     */
    private static int relaunchWithVectorModule(String[] argv) throws Exception {
        String javaBinary = ProcessHandle.current().info().command().orElse("java");
        String jar = Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        List<String> command = new ArrayList<>(List.of(javaBinary, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-XX:MaxRAMPercentage=70",
                "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED", // the kernel emulator's continuations
                "-D" + CommandLineText.ENCODED + "=true", "-cp", jar, Main.class.getName()));
        command.addAll(CommandLineText.encoded(argv));
        return new ProcessBuilder(command).inheritIO().start().waitFor();
    }

    /**
     * Environment values are checked before anything reads them: a bad MOA_THREADS would otherwise surface as an
     * error while the thread pool is first built, or not at all in a command that never starts it.
     */
    static void checkEnvironment(Map<String, String> env) {
        String threads = env.get("MOA_THREADS");
        try {
            if (threads != null && !threads.isBlank()) ThreadCount.parse(threads, "MOA_THREADS");
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage() + " (unset, it means all cores)");
        }
    }
}
