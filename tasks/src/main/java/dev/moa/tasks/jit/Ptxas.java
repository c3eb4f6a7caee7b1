package dev.moa.tasks.jit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** NVIDIA's offline assembler, when installed: checks generated PTX and reports registers, shared memory and spills. */
public final class Ptxas {
    /**
     * {@code ptxas -v} figures (of the first entry when the PTX has several) and the machine code of every entry, read
     * from the cubin ({@link Cubin}).
     */
    public record Report(int registers, int sharedBytes, int spillStores, int spillLoads, String log, Map<String, Cubin.Kernel> code) {
        /** Registers of one entry of a module with several (ptxas reports each after "Compiling entry function"). */
        public int registersOf(String entry) {
            int at = log.indexOf("entry function '" + entry + "'");
            return at < 0 ? -1 : number(log.substring(at), "Used (\\d+) registers");
        }
    }

    private Ptxas() {
    }

    public static boolean available() {
        try {
            Process p = new ProcessBuilder("ptxas", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * Assembles {@code ptx} for {@code target}; throws with ptxas's own message when it rejects the code. Its
     * files in {@code workDirectory} are deleted again either way.
     */
    public static Report assemble(String ptx, String target, Path workDirectory) throws IOException, InterruptedException {
        Path source = Files.createTempFile(workDirectory, "kernel", ".ptx");
        Path cubin = source.resolveSibling(source.getFileName() + ".cubin");
        try {
            Files.writeString(source, ptx);
            Process p = new ProcessBuilder("ptxas", "-v", "-arch=" + target, "-o", cubin.toString(), source.toString())
                    .redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("ptxas timed out on " + source);
            }
            if (p.exitValue() != 0) throw new IllegalStateException("ptxas rejected the PTX for " + target + ":\n" + log + "\n" + numbered(ptx));
            return new Report(number(log, "Used (\\d+) registers"), number(log, "(\\d+) bytes smem"),
                    number(log, "(\\d+) bytes spill stores"), number(log, "(\\d+) bytes spill loads"), log, Cubin.kernels(Files.readAllBytes(cubin)));
        } finally {
            Files.deleteIfExists(cubin);
            Files.deleteIfExists(source);
        }
    }

    private static int number(String log, String regex) {
        Matcher m = Pattern.compile(regex).matcher(log);
        return m.find() ? Integer.parseInt(m.group(1)) : 0;
    }

    private static String numbered(String text) {
        StringBuilder out = new StringBuilder();
        String[] lines = text.split("\n");
        for (int i = 0; i < lines.length; i++) out.append(String.format("%4d  %s%n", i + 1, lines[i]));
        return out.toString();
    }
}
