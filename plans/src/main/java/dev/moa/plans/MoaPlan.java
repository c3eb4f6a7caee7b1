package dev.moa.plans;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.moa.loader.io.InputFiles;
import dev.moa.loader.json.StrictJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A MoA plan: one {@link ElasticRule} per (layer, query head), in the reference's file format
 * {@code {"alphas": [layer][head], "betas": [layer][head]}}, read and written unchanged.
 */
public final class MoaPlan {
    private final String source;
    private final ElasticRule[][] rules;

    private MoaPlan(String source, ElasticRule[][] rules) {
        this.source = source;
        this.rules = rules;
    }

    /** A plan from rules already built, {@code [layer][query head]} (copied). */
    public static MoaPlan of(String source, ElasticRule[][] rules) {
        ElasticRule[][] copy = new ElasticRule[rules.length][];
        for (int l = 0; l < rules.length; l++) {
            copy[l] = rules[l].clone();
            for (int h = 0; h < copy[l].length; h++) {
                if (copy[l][h] == null) throw new IllegalArgumentException(source + ": layer " + l + " head " + h + " has no rule");
            }
        }
        return new MoaPlan(source, copy);
    }

    /** The same rule for every head (e.g. StreamingLLM's uniform 0 + 0.5·N). */
    public static MoaPlan uniform(int layers, int heads, ElasticRule rule) {
        ElasticRule[][] rules = new ElasticRule[layers][heads];
        for (ElasticRule[] layer : rules) java.util.Arrays.fill(layer, rule);
        return new MoaPlan("uniform:" + rule.alpha() + "," + rule.beta(), rules);
    }

    public static MoaPlan load(Path file) throws IOException {
        return parse(InputFiles.readText(file, InputFiles.SMALL_JSON), file.toString());
    }

    public static MoaPlan parse(String json, String source) {
        JsonObject root;
        try {
            root = StrictJson.parseObject(json);
        } catch (StrictJson.Error e) {
            throw new PlanException(source + ": not valid JSON (" + e.getMessage() + ")");
        }
        double[][] alphas = matrix(root, "alphas", source);
        double[][] betas = matrix(root, "betas", source);
        if (alphas.length != betas.length) {
            throw new PlanException(source + ": alphas has " + alphas.length + " layers but betas has " + betas.length);
        }
        ElasticRule[][] rules = new ElasticRule[alphas.length][];
        for (int l = 0; l < alphas.length; l++) {
            if (alphas[l].length != betas[l].length) {
                throw new PlanException(source + ": layer " + l + " has " + alphas[l].length + " alphas but " + betas[l].length + " betas");
            }
            rules[l] = new ElasticRule[alphas[l].length];
            for (int h = 0; h < alphas[l].length; h++) {
                try {
                    rules[l][h] = new ElasticRule(alphas[l][h], betas[l][h]);
                } catch (IllegalArgumentException e) {
                    throw new PlanException(source + ": layer " + l + " head " + h + ": " + e.getMessage());
                }
            }
        }
        return new MoaPlan(source, rules);
    }

    private static double[][] matrix(JsonObject root, String field, String source) {
        JsonElement e = root.get(field);
        if (e == null || !e.isJsonArray()) throw new PlanException(source + ": field '" + field + "' must be an array [layer][head] of numbers");
        JsonArray layers = e.getAsJsonArray();
        double[][] values = new double[layers.size()][];
        for (int l = 0; l < values.length; l++) {
            if (!layers.get(l).isJsonArray()) throw new PlanException(source + ": " + field + "[" + l + "] must be an array of numbers");
            JsonArray heads = layers.get(l).getAsJsonArray();
            values[l] = new double[heads.size()];
            for (int h = 0; h < heads.size(); h++) {
                JsonElement v = heads.get(h);
                if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) {
                    throw new PlanException(source + ": " + field + "[" + l + "][" + h + "] is not a number: " + v);
                }
                values[l][h] = v.getAsDouble();
            }
        }
        return values;
    }

    /** Checks the plan against a model's shape; the error names the plan, the model and the first mismatch. */
    public MoaPlan validateFor(int layers, int queryHeads, String modelName) {
        if (rules.length != layers) {
            throw new PlanException(source + ": plan has " + rules.length + " layers but model " + modelName + " has " + layers);
        }
        for (int l = 0; l < layers; l++) {
            if (rules[l].length != queryHeads) {
                throw new PlanException(source + ": layer " + l + " has " + rules[l].length + " heads but model "
                        + modelName + " has " + queryHeads + " query heads per layer");
            }
        }
        return this;
    }

    public int layers() {
        return rules.length;
    }

    public int heads(int layer) {
        return rules[layer].length;
    }

    public ElasticRule rule(int layer, int head) {
        return rules[layer][head];
    }

    public String source() {
        return source;
    }

    /** The plan in the reference's JSON format. */
    public String toJson() {
        JsonObject root = new JsonObject();
        JsonArray alphas = new JsonArray(), betas = new JsonArray();
        for (ElasticRule[] layer : rules) {
            JsonArray a = new JsonArray(), b = new JsonArray();
            for (ElasticRule r : layer) {
                a.add(r.alpha());
                b.add(r.beta());
            }
            alphas.add(a);
            betas.add(b);
        }
        root.add("alphas", alphas);
        root.add("betas", betas);
        return root.toString();
    }

    public void write(Path file) throws IOException {
        Files.writeString(file, toJson());
    }
}
