package dev.moa.loader.tokenizer;

import dev.moa.loader.tokenizer.PreTokenizer.Metaspace.PrependScheme;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code decoder} of a tokenizer.json: turns token strings back into text. As in HF, each
 * decoder maps a list of token strings to a new list ({@code decode_chain}), so they compose in a
 * Sequence; the final text is the concatenation.
 */
sealed interface Decoder {
    List<String> decodeChain(List<String> tokens);

    default String decode(List<String> tokens) {
        return String.join("", decodeChain(tokens));
    }

    /** {@code "decoder": null}: HF joins the tokens with spaces. */
    Decoder NONE = new Decoder.JoinWithSpaces();

    static Decoder parse(JsonNode node) {
        if (node.isNull()) return NONE;
        return switch (node.type()) {
            case "ByteLevel" -> new ByteLevel();
            case "Replace" -> new Replace(HfPattern.parse(node.get("pattern")), node.string("content"));
            case "ByteFallback" -> new ByteFallback();
            case "Fuse" -> new Fuse();
            case "Strip" -> new Strip(stripContent(node.get("content")), node.integer("start", 0), node.integer("stop", 0));
            case "Metaspace" -> {
                PreTokenizer.Metaspace m = PreTokenizer.Metaspace.parse(node);
                yield new Metaspace(m.replacement(), m.prependScheme());
            }
            case "Sequence" -> new Sequence(node.get("decoders").items().stream().map(Decoder::parse).toList());
            default -> throw node.get("type").unsupported("decoder type '" + node.type() + "'",
                    "ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence");
        };
    }

    private static int stripContent(JsonNode content) {
        String s = content.string();
        if (s.codePointCount(0, s.length()) != 1) throw content.expected("a single character");
        return s.codePointAt(0);
    }

    record JoinWithSpaces() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            return List.of(String.join(" ", tokens));
        }
    }

    record Sequence(List<Decoder> decoders) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            for (Decoder d : decoders) tokens = d.decodeChain(tokens);
            return tokens;
        }
    }

    /**
     * Maps byte-alphabet characters back to bytes and the bytes to UTF-8 text. A token holding a
     * character outside the alphabet (an added token like "<|eot_id|>" always maps, but e.g. CJK
     * added tokens do not) contributes its own UTF-8 bytes. Invalid UTF-8 becomes U+FFFD.
     */
    record ByteLevel() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            for (String token : tokens) {
                byte[] mapped = new byte[token.length()];
                boolean inAlphabet = true;
                for (int i = 0; i < token.length() && inAlphabet; i++) {
                    int b = ByteLevelAlphabet.byteOf(token.charAt(i));
                    inAlphabet = b >= 0;
                    mapped[i] = (byte) b;
                }
                bytes.writeBytes(inAlphabet ? mapped : token.getBytes(StandardCharsets.UTF_8));
            }
            return List.of(bytes.toString(StandardCharsets.UTF_8));
        }
    }

    record Replace(HfPattern pattern, String content) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            return tokens.stream().map(t -> pattern.replaceAll(t, content)).toList();
        }
    }

    /**
     * Turns runs of {@code <0xNN>} tokens into the text their bytes spell. A run that is not valid
     * UTF-8 becomes one U+FFFD per byte (HF's rule, which differs from lossy UTF-8 decoding).
     */
    record ByteFallback() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            ByteArrayOutputStream run = new ByteArrayOutputStream();
            for (String token : tokens) {
                int b = byteToken(token);
                if (b >= 0) {
                    run.write(b);
                    continue;
                }
                flush(run, out);
                out.add(token);
            }
            flush(run, out);
            return out;
        }

        /** The byte of a {@code <0xNN>} token, or -1. */
        static int byteToken(String token) {
            if (token.length() != 6 || !token.startsWith("<0x") || token.charAt(5) != '>') return -1;
            int hi = Character.digit(token.charAt(3), 16);
            int lo = Character.digit(token.charAt(4), 16);
            return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
        }

        private static void flush(ByteArrayOutputStream run, List<String> out) {
            if (run.size() == 0) return;
            try {
                out.add(StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(run.toByteArray())).toString());
            } catch (CharacterCodingException e) {
                for (int i = 0; i < run.size(); i++) out.add("\uFFFD");
            }
            run.reset();
        }
    }

    record Fuse() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            return List.of(String.join("", tokens));
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} characters of each token. */
    record Strip(int content, int start, int stop) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            return tokens.stream().map(this::strip).toList();
        }

        private String strip(String token) {
            int from = 0;
            for (int n = 0; n < start && from < token.length() && token.codePointAt(from) == content; n++) {
                from += Character.charCount(content);
            }
            int to = token.length();
            for (int n = 0; n < stop && to > from && token.codePointBefore(to) == content; n++) {
                to -= Character.charCount(content);
            }
            return token.substring(from, to);
        }
    }

    /**
     * "▁" back to spaces. HF drops every "▁" of the first token (not only a leading one) unless
     * the prepend scheme is "never"; kept as is for exact agreement.
     */
    record Metaspace(String replacement, PrependScheme prependScheme) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                boolean dropMarker = i == 0 && prependScheme != PrependScheme.NEVER;
                out.add(tokens.get(i).replace(replacement, dropMarker ? "" : " "));
            }
            return out;
        }
    }
}
