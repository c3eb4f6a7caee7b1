package dev.moa.plans;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MoaPlanTest {
    @TempDir
    Path dir;

    @Test
    void readsWritesAndValidates() throws Exception {
        MoaPlan plan = MoaPlan.parse("{\"alphas\": [[-1024, 0], [512.5, 0]], \"betas\": [[1.0, 0.5], [0.25, 0]]}", "p.json");
        assertEquals(2, plan.layers());
        assertEquals(new ElasticRule(512.5, 0.25), plan.rule(1, 0));
        Path file = dir.resolve("plan.json");
        plan.write(file);
        MoaPlan again = MoaPlan.load(file);
        assertEquals(plan.toJson(), again.toJson());
        plan.validateFor(2, 2, "tiny");
        String layers = assertThrows(PlanException.class, () -> plan.validateFor(3, 2, "tiny")).getMessage();
        assertTrue(layers.contains("p.json") && layers.contains("2 layers") && layers.contains("tiny has 3"), layers);
        String heads = assertThrows(PlanException.class, () -> plan.validateFor(2, 4, "tiny")).getMessage();
        assertTrue(heads.contains("layer 0 has 2 heads"), heads);
    }

    @Test
    void badPlansNameTheOffendingEntry() {
        assertTrue(error("{\"alphas\": [[0]], \"betas\": [[1.5]]}").contains("layer 0 head 0: beta must be in [0, 1]"));
        assertTrue(error("{\"alphas\": [[0, \"x\"]], \"betas\": [[1, 1]]}").contains("alphas[0][1] is not a number"));
        assertTrue(error("{\"alphas\": [[0]]}").contains("'betas'"));
        assertTrue(error("{\"alphas\": [[0]], \"betas\": [[0, 1]]}").contains("layer 0 has 1 alphas but 2 betas"));
        assertTrue(error("[").contains("not valid JSON"));
        // two "betas": the second must not silently replace the first; a comment is not JSON
        assertTrue(error("{\"alphas\": [[0]], \"betas\": [[1]], \"betas\": [[0.5]]}").contains("\"betas\" appears twice"));
        assertTrue(error("{\"alphas\": [[0]], // dense\n \"betas\": [[1]]}").contains("bad.json: not valid JSON"));
    }

    private static String error(String json) {
        return assertThrows(PlanException.class, () -> MoaPlan.parse(json, "bad.json")).getMessage();
    }

    /** The reference's published plan for Llama-3.2-1B-Instruct: 16 layers x 32 query heads. */
    @Test
    void referencePlanForLlama32LoadsUnchanged() throws Exception {
        String root = System.getProperty("moa.repo.root", "..");
        Path file = Path.of(root).resolve("../shared/moa-plans/meta-llama--Llama-3.2-1B-Instruct/moa_alpha_beta.json").normalize();
        Assumptions.assumeTrue(Files.isRegularFile(file), "shared MoA plans not present: " + file);
        MoaPlan plan = MoaPlan.load(file).validateFor(16, 32, "Llama-3.2-1B");
        double density = 0;
        for (int l = 0; l < 16; l++) for (int h = 0; h < 32; h++) density += plan.rule(l, h).span(8192) / 8192.0;
        density /= 16 * 32;
        // The published plans are made for 50% density at their profiled lengths.
        assertTrue(density > 0.3 && density < 0.7, "mean span/N at 8192: " + density);
    }
}
