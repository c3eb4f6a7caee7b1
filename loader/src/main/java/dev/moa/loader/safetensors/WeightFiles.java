package dev.moa.loader.safetensors;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.moa.loader.io.InputFiles;
import dev.moa.loader.json.StrictJson;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * All weights of a Hugging Face model directory: either one {@code model.safetensors} or the shards listed
 * by {@code model.safetensors.index.json}. Files are memory-mapped (zero copy, no 2 GB limit) in one
 * shared arena, so {@link #close()} unmaps every file deterministically.
 */
public final class WeightFiles implements AutoCloseable {
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path directory;
    private final Arena arena;
    private final Map<String, Tensor> tensors;

    private WeightFiles(Path directory, Arena arena, Map<String, Tensor> tensors) {
        this.directory = directory;
        this.arena = arena;
        this.tensors = tensors;
    }

    public static WeightFiles open(Path directory) throws IOException {
        Path index = directory.resolve(INDEX_FILE);
        Path single = directory.resolve(SINGLE_FILE);
        Arena arena = Arena.ofShared();
        try {
            // present, even as a broken link into the HF cache's blobs: opening it then says what is wrong
            if (InputFiles.present(index)) return openSharded(directory, index, arena);
            if (InputFiles.present(single)) {
                return new WeightFiles(directory, arena, SafetensorsFile.open(single, arena).tensors());
            }
            throw new SafetensorsException(directory + ": no " + SINGLE_FILE + " or " + INDEX_FILE + " found");
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static WeightFiles openSharded(Path directory, Path index, Arena arena) throws IOException {
        Map<String, String> weightMap = readWeightMap(index);
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        for (String shard : new TreeSet<>(weightMap.values())) {
            Path shardPath = directory.resolve(shard).normalize();
            if (!shardPath.startsWith(directory.normalize()) || !InputFiles.present(shardPath)) {
                throw new SafetensorsException(index + ": shard '" + shard + "' listed in weight_map does not exist in " + directory);
            }
            shards.put(shard, SafetensorsFile.open(shardPath, arena));
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : weightMap.entrySet()) {
            Tensor t = shards.get(e.getValue()).tensors().get(e.getKey());
            if (t == null) {
                throw new SafetensorsException(index + ": tensor '" + e.getKey() + "' is mapped to shard '"
                        + e.getValue() + "' but that shard has no such tensor");
            }
            tensors.put(e.getKey(), t);
        }
        return new WeightFiles(directory, arena, Collections.unmodifiableMap(tensors));
    }

    private static Map<String, String> readWeightMap(Path index) throws IOException {
        JsonObject root;
        try {
            root = StrictJson.parseObject(InputFiles.readText(index, InputFiles.SMALL_JSON));
        } catch (StrictJson.Error e) {
            throw new SafetensorsException(index + ": not valid JSON (" + e.getMessage() + ")", e);
        }
        JsonElement map = root.get("weight_map");
        if (map == null || !map.isJsonObject()) {
            throw new SafetensorsException(index + ": field 'weight_map' must be an object {tensor name: shard file}");
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : map.getAsJsonObject().entrySet()) {
            if (!e.getValue().isJsonPrimitive() || !e.getValue().getAsJsonPrimitive().isString()) {
                throw new SafetensorsException(index + ": weight_map['" + e.getKey() + "'] must be a shard file name");
            }
            weightMap.put(e.getKey(), e.getValue().getAsString());
        }
        if (weightMap.isEmpty()) throw new SafetensorsException(index + ": weight_map is empty");
        return weightMap;
    }

    public Path directory() {
        return directory;
    }

    public Optional<Tensor> find(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    /** The named tensor; a missing tensor is an error naming the model directory. */
    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new SafetensorsException(directory + ": tensor '" + name + "' not found in the model's safetensors files");
        return t;
    }

    public Set<String> names() {
        return tensors.keySet();
    }

    public long totalBytes() {
        return tensors.values().stream().mapToLong(t -> t.data().byteSize()).sum();
    }

    @Override
    public void close() {
        arena.close();
    }
}
