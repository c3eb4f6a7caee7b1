package dev.moa.loader.chat;

import com.hubspot.jinjava.el.ext.ExtendedScanner;
import jinjava.de.odysseus.el.tree.impl.Scanner;

/**
 * jinjava's scanner with string literals decoded as Jinja2 does (Python's "unicode-escape" codec):
 * {@code \\uXXXX}, {@code \\xNN}, octal, {@code \\v}, {@code \\a}, and unknown escapes such as
 * {@code \\s} kept verbatim, where jinjava would reject them.
 */
final class PyStringScanner extends ExtendedScanner {
    PyStringScanner(String input) {
        super(input);
    }

    @Override
    protected Scanner.Token nextString() throws ScanException {
        String input = getInput();
        int begin = getPosition();
        char quote = input.charAt(begin);
        StringBuilder out = new StringBuilder();
        int i = begin + 1;
        while (i < input.length()) {
            char c = input.charAt(i++);
            if (c == quote) return token(Symbol.STRING, out.toString(), i - begin);
            if (c != '\\') {
                out.append(c);
                continue;
            }
            if (i == input.length()) break;
            char e = input.charAt(i++);
            switch (e) {
                case '\\', '\'', '"' -> out.append(e);
                case 'n' -> out.append('\n');
                case 't' -> out.append('\t');
                case 'r' -> out.append('\r');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'v' -> out.append('\u000b');
                case 'a' -> out.append('\u0007');
                case '\n' -> { } // line continuation
                case 'x', 'u', 'U' -> {
                    int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    if (i + digits > input.length()) throw new ScanException(begin, "truncated \\" + e + " escape", "hex digits");
                    try {
                        out.appendCodePoint(Integer.parseInt(input.substring(i, i + digits), 16));
                    } catch (IllegalArgumentException ex) { // not hex, or not a code point
                        throw new ScanException(begin, "bad \\" + e + " escape", "hex digits");
                    }
                    i += digits;
                }
                default -> {
                    if (e >= '0' && e <= '7') {
                        int end = i - 1;
                        while (end < input.length() && end < i + 2 && input.charAt(end) >= '0' && input.charAt(end) <= '7') end++;
                        out.append((char) Integer.parseInt(input.substring(i - 1, end), 8));
                        i = end;
                    } else {
                        out.append('\\').append(e); // Python keeps unknown escapes as written
                    }
                }
            }
        }
        throw new ScanException(begin, "unterminated string", String.valueOf(quote));
    }
}
