package dev.moa.runtime.cli;

import java.io.IOException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The arguments as the user typed them. Under a POSIX locale (LANG unset, as in many containers and CI jobs) the JVM
 * decodes argv as ASCII, and "café" arrives as "caf??" with the bytes lost. On Linux the exact bytes are still in
 * /proc/self/cmdline, so they are decoded again as UTF-8; and the re-launch that adds the Vector API module passes
 * them percent-encoded, since the child's argv would be decoded the same lossy way.
 */
final class CommandLineText {
    static final String ENCODED = "moa.args.encoded";

    private CommandLineText() {
    }

    /** {@code argv} with non-ASCII arguments restored where the JVM's own decoding lost them. */
    static String[] of(String[] argv) {
        if (Boolean.getBoolean(ENCODED)) return Arrays.stream(argv).map(a -> URLDecoder.decode(a, StandardCharsets.UTF_8)).toArray(String[]::new);
        if (nativeCharset().equals(StandardCharsets.UTF_8) || Arrays.stream(argv).allMatch(CommandLineText::ascii)) return argv;
        try {
            byte[] raw = Files.readAllBytes(Path.of("/proc/self/cmdline"));
            List<String> all = new ArrayList<>();
            int start = 0;
            for (int i = 0; i < raw.length; i++) {
                if (raw[i] == 0) {
                    all.add(new String(raw, start, i - start, StandardCharsets.UTF_8));
                    start = i + 1;
                }
            }
            if (all.size() < argv.length) return argv;
            String[] restored = all.subList(all.size() - argv.length, all.size()).toArray(String[]::new);
            // only where the restored text decodes to what the JVM saw for ASCII arguments: the same command line
            for (int i = 0; i < argv.length; i++) if (ascii(argv[i]) && !argv[i].equals(restored[i])) return argv;
            return restored;
        } catch (IOException | RuntimeException e) {
            return argv; // not Linux: the locale decides, as for any Java program
        }
    }

    /** Arguments for a child JVM whose own decoding would lose them: ASCII only, decoded by {@link #of}. */
    static List<String> encoded(String[] argv) {
        return Arrays.stream(argv).map(a -> URLEncoder.encode(a, StandardCharsets.UTF_8)).toList();
    }

    private static Charset nativeCharset() {
        try {
            return Charset.forName(System.getProperty("sun.jnu.encoding", "UTF-8"));
        } catch (RuntimeException e) {
            return StandardCharsets.US_ASCII;
        }
    }

    private static boolean ascii(String s) {
        return s.chars().allMatch(c -> c < 128 && c != '?' && c != '\uFFFD');
    }
}
