package dev.moa.loader.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code post_processor} of a tokenizer.json: adds special tokens (BOS, CLS/SEP) around an
 * encoded single sequence. Only applied when {@code encode(text, addSpecialTokens = true)}.
 */
sealed interface PostProcessor {
    int[] process(int[] ids);

    /** {@code "post_processor": null}. */
    PostProcessor NONE = new Sequence(List.of());

    static PostProcessor parse(JsonNode node) {
        if (node.isNull()) return NONE;
        return switch (node.type()) {
            case "TemplateProcessing" -> Template.parse(node);
            // ByteLevel only trims offsets, which this tokenizer does not report.
            case "ByteLevel" -> NONE;
            case "Sequence" -> new Sequence(node.get("processors").items().stream().map(PostProcessor::parse).toList());
            case "RobertaProcessing", "BertProcessing" -> new Surround(tokenId(node.get("cls")), tokenId(node.get("sep")));
            default -> throw node.get("type").unsupported("post_processor type '" + node.type() + "'",
                    "TemplateProcessing, ByteLevel, Sequence, RobertaProcessing, BertProcessing");
        };
    }

    /** Roberta/Bert store tokens as {@code ["<s>", 0]}. */
    private static int tokenId(JsonNode pair) {
        List<JsonNode> items = pair.items();
        if (items.size() != 2) throw pair.expected("[\"token\", id]");
        return items.get(1).tokenId();
    }

    record Sequence(List<PostProcessor> processors) implements PostProcessor {
        @Override
        public int[] process(int[] ids) {
            for (PostProcessor p : processors) ids = p.process(ids);
            return ids;
        }
    }

    /** {@code cls ids sep}. */
    record Surround(int cls, int sep) implements PostProcessor {
        @Override
        public int[] process(int[] ids) {
            int[] out = new int[ids.length + 2];
            out[0] = cls;
            System.arraycopy(ids, 0, out, 1, ids.length);
            out[out.length - 1] = sep;
            return out;
        }
    }

    /**
     * TemplateProcessing's {@code single} template: a list of {@code {"SpecialToken": {"id": name}}}
     * items (expanded to the ids listed under {@code special_tokens[name]}) and {@code {"Sequence":
     * {"id": "A"}}} (the encoded text).
     */
    record Template(List<int[]> pieces) implements PostProcessor {
        /** Stands for the encoded sequence among the pieces. */
        private static final int[] SEQUENCE = new int[0];

        static Template parse(JsonNode node) {
            Map<String, int[]> specials = new HashMap<>();
            JsonNode specialTokens = node.get("special_tokens");
            if (!specialTokens.isNull()) {
                for (Map.Entry<String, JsonNode> e : specialTokens.entries()) {
                    List<JsonNode> ids = e.getValue().get("ids").items();
                    specials.put(e.getKey(), ids.stream().mapToInt(JsonNode::tokenId).toArray());
                }
            }
            List<int[]> pieces = new ArrayList<>();
            for (JsonNode item : node.get("single").items()) {
                if (item.has("Sequence")) {
                    String id = item.get("Sequence").string("id");
                    if (!id.equals("A")) throw item.get("Sequence").get("id").expected("\"A\" in the single template");
                    pieces.add(SEQUENCE);
                } else if (item.has("SpecialToken")) {
                    JsonNode name = item.get("SpecialToken").get("id");
                    int[] ids = specials.get(name.string());
                    if (ids == null) throw name.error("special token '" + name.string() + "' is not listed in special_tokens");
                    pieces.add(ids);
                } else {
                    throw item.expected("{\"SpecialToken\": ...} or {\"Sequence\": ...}");
                }
            }
            return new Template(pieces);
        }

        @Override
        public int[] process(int[] ids) {
            IntList out = new IntList(ids.length + 4);
            for (int[] piece : pieces) out.addAll(piece == SEQUENCE ? ids : piece);
            return out.toArray();
        }
    }
}
