package dev.moa.loader.chat;

import java.util.ArrayList;
import java.util.List;

/**
 * Python str methods that chat templates call ({@code .strip()}, {@code .split()}, {@code .startswith()},
 * ...). Java's look-alikes differ (String.split takes a regex and drops trailing empties, strip() has
 * no character-set form), so these follow CPython's semantics exactly.
 */
final class PyStrings {
    private PyStrings() {}

    /** Python's str.isspace for one char (Unicode whitespace, including NBSP and U+0085). */
    static boolean isSpace(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
    }

    private static boolean strippable(char c, String chars) {
        return chars == null ? isSpace(c) : chars.indexOf(c) >= 0;
    }

    static String strip(String s, String chars) {
        return rstrip(lstrip(s, chars), chars);
    }

    static String lstrip(String s, String chars) {
        int start = 0;
        while (start < s.length() && strippable(s.charAt(start), chars)) start++;
        return s.substring(start);
    }

    static String rstrip(String s, String chars) {
        int end = s.length();
        while (end > 0 && strippable(s.charAt(end - 1), chars)) end--;
        return s.substring(0, end);
    }

    /** str.split(sep=None, maxsplit=-1). */
    static List<String> split(String s, String sep, int maxsplit) {
        List<String> parts = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) i++;
                if (i >= n) break;
                if (maxsplit >= 0 && parts.size() == maxsplit) {
                    parts.add(rstrip(s.substring(i), null));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) j++;
                parts.add(s.substring(i, j));
                i = j;
            }
            return parts;
        }
        requireSeparator(sep);
        int start = 0;
        int at;
        while ((maxsplit < 0 || parts.size() < maxsplit) && (at = s.indexOf(sep, start)) >= 0) {
            parts.add(s.substring(start, at));
            start = at + sep.length();
        }
        parts.add(s.substring(start));
        return parts;
    }

    /** str.rsplit(sep=None, maxsplit=-1). */
    static List<String> rsplit(String s, String sep, int maxsplit) {
        if (maxsplit < 0) return split(s, sep, maxsplit);
        List<String> parts = new ArrayList<>();
        if (sep == null) {
            int j = s.length();
            while (true) {
                while (j > 0 && isSpace(s.charAt(j - 1))) j--;
                if (j <= 0) break;
                if (parts.size() == maxsplit) {
                    parts.add(0, lstrip(s.substring(0, j), null));
                    break;
                }
                int i = j;
                while (i > 0 && !isSpace(s.charAt(i - 1))) i--;
                parts.add(0, s.substring(i, j));
                j = i;
            }
            return parts;
        }
        requireSeparator(sep);
        int end = s.length();
        int at;
        while (parts.size() < maxsplit && (at = s.lastIndexOf(sep, end - sep.length())) >= 0 && end - sep.length() >= 0) {
            parts.add(0, s.substring(at + sep.length(), end));
            end = at;
        }
        parts.add(0, s.substring(0, end));
        return parts;
    }

    private static void requireSeparator(String sep) {
        if (sep.isEmpty()) throw new IllegalArgumentException("empty separator");
    }

    /** str.replace(old, new, count=-1); an empty {@code old} inserts between every character, as in Python. */
    static String replace(String s, String old, String replacement, int count) {
        if (count < 0) return s.replace(old, replacement);
        StringBuilder out = new StringBuilder();
        int start = 0;
        int done = 0;
        if (old.isEmpty()) {
            for (int i = 0; i <= s.length() && done < count; i++, done++) {
                out.append(s, start, i).append(replacement);
                start = i;
            }
            return out.append(s.substring(start)).toString();
        }
        int at;
        while (done < count && (at = s.indexOf(old, start)) >= 0) {
            out.append(s, start, at).append(replacement);
            start = at + old.length();
            done++;
        }
        return out.append(s.substring(start)).toString();
    }

    /** str.title(): first cased letter of each run of letters upper-cased, the rest lower-cased. */
    static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            out.append(previousCased ? Character.toLowerCase(c) : Character.toTitleCase(c));
            previousCased = Character.isLetter(c);
        }
        return out.toString();
    }

    /** str.capitalize(): first character upper-cased, the rest lower-cased. */
    static String capitalize(String s) {
        if (s.isEmpty()) return s;
        return Character.toTitleCase(s.charAt(0)) + s.substring(1).toLowerCase(java.util.Locale.ROOT);
    }

    /** str.format with positional ({@code {}}, {@code {0}}) and named ({@code {name}}) fields, no format specs. */
    static String format(String template, List<Object> args, java.util.Map<String, Object> kwargs) {
        StringBuilder out = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < template.length(); i++) {
            char c = template.charAt(i);
            if (c == '{' && i + 1 < template.length() && template.charAt(i + 1) == '{') {
                out.append('{');
                i++;
            } else if (c == '}' && i + 1 < template.length() && template.charAt(i + 1) == '}') {
                out.append('}');
                i++;
            } else if (c == '{') {
                int close = template.indexOf('}', i);
                if (close < 0) throw new IllegalArgumentException("Single '{' encountered in format string");
                String field = template.substring(i + 1, close);
                if (field.contains(":") || field.contains("!")) {
                    throw new IllegalArgumentException("format specs are not supported: {" + field + "}");
                }
                Object value;
                if (field.isEmpty()) {
                    value = args.get(auto++);
                } else if (field.chars().allMatch(Character::isDigit)) {
                    value = args.get(Integer.parseInt(field));
                } else if (kwargs.containsKey(field)) {
                    value = kwargs.get(field);
                } else {
                    throw new IllegalArgumentException("KeyError: '" + field + "'");
                }
                out.append(PyValues.str(value));
                i = close;
            } else if (c == '}') {
                throw new IllegalArgumentException("Single '}' encountered in format string");
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /** str.splitlines(): splits on every Unicode line boundary, no trailing empty line. */
    static List<String> splitlines(String s) {
        List<String> lines = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if ("\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029".indexOf(c) >= 0) {
                lines.add(s.substring(start, i));
                if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') i++;
                start = i + 1;
            }
        }
        if (start < s.length()) lines.add(s.substring(start));
        return lines;
    }

}
