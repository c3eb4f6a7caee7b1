package dev.moa.runtime.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;

/**
 * The CLI's documentation, generated from the same option classes that parse the command line, so it cannot drift:
 * README.md's CLI section (the synopsis of every command) and docs/cli.md (every command's full help).
 * {@code java -cp moa.jar dev.moa.runtime.cli.CliReference README.md docs/cli.md} rewrites both; a test checks
 * they are current.
 */
public final class CliReference {
    static final String BEGIN = "<!-- cli:begin -->";
    static final String END = "<!-- cli:end -->";

    private CliReference() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) throw new IllegalArgumentException("usage: CliReference README.md docs/cli.md");
        Path readme = Path.of(args[0]), reference = Path.of(args[1]);
        Files.writeString(readme, withSection(Files.readString(readme, StandardCharsets.UTF_8), readmeSection()), StandardCharsets.UTF_8);
        Files.writeString(reference, fullReference(), StandardCharsets.UTF_8);
    }

    /** Every runnable command, parents before their sub-commands, in the order {@code moa --help} lists them. */
    static List<CommandLine> commands() {
        List<CommandLine> all = new ArrayList<>();
        collect(Main.commandLine(), all);
        return all;
    }

    private static void collect(CommandLine cli, List<CommandLine> out) {
        if (!cli.getCommandName().equals("help")) out.add(cli);
        for (CommandLine sub : cli.getSubcommands().values()) {
            if (!sub.getCommandName().equals("help")) collect(sub, out);
        }
    }

    static String usage(CommandLine cli) {
        return cli.getUsageMessage(CommandLine.Help.Ansi.OFF).stripTrailing();
    }

    /** The synopsis lines of a command's help: from "Usage:" to before its description. */
    static String synopsis(CommandLine cli) {
        String help = usage(cli);
        int description = help.indexOf('\n' + cli.getCommandSpec().usageMessage().description()[0].substring(0, 10));
        return (description < 0 ? help : help.substring(0, description)).stripTrailing();
    }

    static String readmeSection() {
        StringBuilder s = new StringBuilder(BEGIN).append("\n<!-- generated from the real help by scripts/update-cli-docs; do not edit -->\n```\n").append(usage(Main.commandLine())).append("\n```\n\n");
        s.append("Every command (`moa COMMAND --help` prints its options with defaults; all of them: [docs/cli.md](docs/cli.md)):\n\n```\n");
        List<CommandLine> commands = commands();
        for (CommandLine cli : commands.subList(1, commands.size())) {
            if (cli.getCommandSpec().userObject() instanceof java.util.concurrent.Callable<?>) {
                // without "Usage: ", and its continuation lines moved left as much
                s.append(synopsis(cli).replaceFirst("^Usage: ", "").replace("\n       ", "\n")).append('\n');
            }
        }
        return s.append("```\n").append(END).toString();
    }

    static String fullReference() {
        StringBuilder s = new StringBuilder("# moa command line\n\nGenerated from the option classes (`scripts/update-cli-docs`); "
                + "the same text as `moa COMMAND --help`.\n");
        for (CommandLine cli : commands()) {
            s.append("\n## ").append(cli.getCommandSpec().qualifiedName()).append("\n\n```\n").append(usage(cli)).append("\n```\n");
        }
        return s.toString();
    }

    /** {@code text} with the part between the markers replaced (or appended with them when it has none). */
    static String withSection(String text, String section) {
        int begin = text.indexOf(BEGIN), end = text.indexOf(END);
        if (begin < 0 || end < begin) return text.stripTrailing() + "\n\n" + section + "\n";
        return text.substring(0, begin) + section + text.substring(end + END.length());
    }
}
