package dev.moa.runtime.cli;

/**
 * Text streamed to stdout as it is generated. {@link System#out} never throws: once the reader has gone (a closed
 * pipe, as in {@code moa generate ... | head -c 5}) it only sets an error flag, and generation would run on for
 * nobody. Checking the flag after each piece stops it at the next token.
 */
final class StdoutText {
    /** The reader of stdout has gone; the command ends quietly. */
    static final class Closed extends RuntimeException {
        Closed() {
            super("stdout was closed", null, false, false);
        }
    }

    private StdoutText() {
    }

    static void print(String text) {
        System.out.print(text);
        System.out.flush();
        if (System.out.checkError()) throw new Closed();
    }

    static void println(String text) {
        print(text + System.lineSeparator());
    }
}
