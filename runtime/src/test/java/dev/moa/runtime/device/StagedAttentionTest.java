package dev.moa.runtime.device;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.moa.loader.safetensors.DType;
import dev.moa.plans.ElasticRule;
import dev.moa.plans.MoaPlan;
import dev.moa.runtime.Model;
import dev.moa.runtime.bench.LongContextBenchmark;
import dev.moa.runtime.generate.Sampler;
import dev.moa.runtime.model.KvFormat;
import dev.moa.runtime.synthetic.SyntheticModel;
import dev.moa.tasks.cuda.DeviceChoice;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The grouped decode attention with its keys and values staged in shared memory ({@code decodeStaged}, the default)
 * against the one that reads them as it uses them ({@code decodeGrouped}), through whole batched decode steps in the
 * emulator: sessions of different lengths (one to three splits, the last split's tiles partly filled), dense and
 * uniform spans, on models whose heads are 64 and 128 wide (tiles of 128, 64 and 32 rows: one, two or four work-items
 * scoring a key), F32 and BF16 caches. Every logit within 1e-5 of the largest and the same greedy tokens; and with the
 * products on the tensor cores, where the staged kernel writes the output projection's BF16 parts, within 1e-4.
 */
class StagedAttentionTest {
    @TempDir
    Path dir;

    @Test
    void stagedAttentionDecodesAsTheGroupedKernel() throws Exception {
        Path golden = Path.of(System.getProperty("moa.repo.root", "..")).resolve("tests/src/test/resources/golden/llama3-gqa-bf16.json");
        JsonObject g = JsonParser.parseString(Files.readString(golden)).getAsJsonObject();
        for (int headDim : new int[] {64, 128}) {
            JsonObject config = g.getAsJsonObject("config").deepCopy();
            config.addProperty("head_dim", headDim); // four query heads over two KV heads, as the golden
            Path model = Files.createDirectories(dir.resolve("d" + headDim));
            SyntheticModel.write(model, config, DType.BF16, g.get("model_seed").getAsLong());
            try (Model m = Model.load(model, new DeviceChoice(DeviceChoice.Kind.EMULATOR, ""))) {
                var c = m.config();
                Accelerator accelerator = m.accelerator().orElseThrow();
                MoaPlan half = MoaPlan.uniform(c.numLayers(), c.numHeads(), new ElasticRule(0, 0.5));
                for (KvFormat format : KvFormat.values()) {
                    List<DeviceDecoder.Row> rows = new ArrayList<>();
                    int[] lengths = {70, 300, 200, 390};
                    MoaPlan[] plans = {null, half, null, half};
                    for (int i = 0; i < lengths.length; i++) {
                        rows.add(new DeviceDecoder.Row(LongContextBenchmark.filled(c, plans[i], lengths[i], 8, format), lengths[i] - 8, lengths[i]));
                    }
                    String what = "head dim " + headDim + ", " + format;
                    accelerator.stagedAttention(false);
                    float[][][] grouped = TensorDecodeTest.steps(accelerator, rows, Set.of("decodeGrouped"), Set.of("decodeStaged"));
                    accelerator.stagedAttention(true);
                    float[][][] staged = TensorDecodeTest.steps(accelerator, rows, Set.of("decodeStaged"), Set.of("decodeGrouped"));
                    // on the tensor cores the staged kernel's merge writes the output projection's BF16 parts
                    accelerator.tensorProductsFrom(3);
                    float[][][] parts = TensorDecodeTest.steps(accelerator, rows, Set.of("decodeStagedParts"), Set.of("decodeStaged", "splitRows"));
                    accelerator.tensorProductsFrom(dev.moa.tasks.kernels.MatVecKernels.BATCH_PASS + 1); // the default
                    for (int s = 0; s < grouped.length; s++) {
                        for (int b = 0; b < rows.size(); b++) {
                            EmulatorDecodeTest.assertClose(grouped[s][b], staged[s][b], 1e-5, what + ", step " + s + ", session " + b);
                            assertEquals(Sampler.argmax(grouped[s][b]), Sampler.argmax(staged[s][b]), what);
                            EmulatorDecodeTest.assertClose(staged[s][b], parts[s][b], what + ", tensor cores, step " + s + ", session " + b);
                        }
                    }
                }
            }
        }
    }
}
