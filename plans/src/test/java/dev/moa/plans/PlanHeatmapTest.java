package dev.moa.plans;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class PlanHeatmapTest {
    @Test
    void oneCellPerHeadColouredBySpanOverN() {
        MoaPlan plan = MoaPlan.parse("{\"alphas\": [[0, 0, 0], [0, 0, 8192]], \"betas\": [[0, 0.5, 1], [0.25, 0, 0]]}", "p");
        String svg = PlanHeatmap.svg(plan, 4096, "p.json");
        var cells = Pattern.compile("<title>layer (\\d) head (\\d): span (\\d+) \\((\\d+)%\\)</title>").matcher(svg);
        int count = 0;
        while (cells.find()) count++;
        assertEquals(6, count);
        assertTrue(svg.contains("layer 0 head 0: span 128 (3%)"), svg);   // at least 128
        assertTrue(svg.contains("layer 0 head 1: span 2048 (50%)"), svg);
        assertTrue(svg.contains("layer 1 head 2: span 4096 (100%)"), svg); // capped at N
        assertTrue(svg.contains("fill=\"" + PlanHeatmap.colour(1.0) + "\"><title>layer 1 head 2"), svg);
        assertTrue(svg.contains(">51%</text>"), "layer 0 mean density (3.1 + 50 + 100) / 3");
        assertEquals("#440154", PlanHeatmap.colour(0));
        assertEquals("#fde725", PlanHeatmap.colour(1));
    }
}
