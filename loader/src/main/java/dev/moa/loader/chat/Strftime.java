package dev.moa.loader.chat;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.Locale;

/**
 * Python's {@code datetime.strftime} (C locale) for {@code strftime_now}; templates use it for
 * "Today Date: 26 Jul 2024"-style lines. Also the glibc {@code %-d} form (no padding) that
 * some templates rely on.
 */
final class Strftime {
    private Strftime() {}

    static String format(ZonedDateTime t, String pattern) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < pattern.length(); i++) {
            char c = pattern.charAt(i);
            if (c != '%' || i + 1 >= pattern.length()) {
                out.append(c);
                continue;
            }
            char code = pattern.charAt(++i);
            boolean unpadded = false;
            if (code == '-' && i + 1 < pattern.length()) {
                unpadded = true;
                code = pattern.charAt(++i);
            }
            out.append(field(t, code, unpadded));
        }
        return out.toString();
    }

    private static String field(ZonedDateTime t, char code, boolean unpadded) {
        return switch (code) {
            case 'Y' -> String.valueOf(t.getYear());
            case 'y' -> pad(t.getYear() % 100, 2, unpadded);
            case 'm' -> pad(t.getMonthValue(), 2, unpadded);
            case 'd' -> pad(t.getDayOfMonth(), 2, unpadded);
            case 'e' -> unpadded ? String.valueOf(t.getDayOfMonth()) : String.format("%2d", t.getDayOfMonth());
            case 'j' -> pad(t.getDayOfYear(), 3, unpadded);
            case 'H' -> pad(t.getHour(), 2, unpadded);
            case 'I' -> pad(t.getHour() % 12 == 0 ? 12 : t.getHour() % 12, 2, unpadded);
            case 'M' -> pad(t.getMinute(), 2, unpadded);
            case 'S' -> pad(t.getSecond(), 2, unpadded);
            case 'f' -> String.format("%06d", t.getNano() / 1000);
            case 'p' -> t.getHour() < 12 ? "AM" : "PM";
            case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
            case 'b', 'h' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
            case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
            case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
            case 'w' -> String.valueOf(t.getDayOfWeek().getValue() % 7);
            case 'u' -> String.valueOf(t.getDayOfWeek().getValue());
            case 'F' -> format(t, "%Y-%m-%d");
            case 'T' -> format(t, "%H:%M:%S");
            case 'D' -> format(t, "%m/%d/%y");
            // transformers formats datetime.now(), a naive local time, for which these are empty.
            case 'z', 'Z' -> "";
            case '%' -> "%";
            default -> "%" + (unpadded ? "-" : "") + code; // unknown codes pass through, as in glibc
        };
    }

    private static String pad(int value, int width, boolean unpadded) {
        String digits = String.valueOf(value);
        return unpadded ? digits : "0".repeat(Math.max(0, width - digits.length())) + digits;
    }
}
