package dev.moa.plans;

import java.util.Locale;

/**
 * A plan at one length as an SVG picture: one cell per (layer, query head), colour = span / N (dark: short
 * window, bright: the whole context), with the layer's mean density at the end of each row.
 */
public final class PlanHeatmap {
    private static final int CELL = 14, LEFT = 60, TOP = 40, RIGHT = 150, BOTTOM = 50;
    /** A perceptually ordered ramp (viridis anchors), interpolated linearly. */
    private static final int[][] RAMP = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};

    private PlanHeatmap() {
    }

    public static String svg(MoaPlan plan, int length, String title) {
        int layers = plan.layers(), heads = plan.heads(0);
        int width = LEFT + heads * CELL + RIGHT, height = TOP + layers * CELL + BOTTOM;
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">%n", width, height));
        s.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", width, height));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"18\" font-size=\"13\">%s — span / N at N = %d</text>%n", LEFT, escape(title), length));
        for (int l = 0; l < layers; l++) {
            int y = TOP + l * CELL;
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">L%d</text>%n", LEFT - 6, y + CELL - 3, l));
            double sum = 0;
            for (int h = 0; h < heads; h++) {
                double fraction = Math.min(1.0, plan.rule(l, h).span(length) / (double) length);
                sum += fraction;
                s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>layer %d head %d: span %d (%.0f%%)</title></rect>%n",
                        LEFT + h * CELL, y, CELL - 1, CELL - 1, colour(fraction), l, h, plan.rule(l, h).span(length), 100 * fraction));
            }
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%.0f%%</text>%n", LEFT + heads * CELL + 6, y + CELL - 3, 100 * sum / heads));
        }
        int axisY = TOP + layers * CELL + 14;
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">query head 0 … %d</text>%n", LEFT, axisY, heads - 1));
        for (int i = 0; i <= 10; i++) {
            s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"10\" fill=\"%s\"/>%n", LEFT + i * 12, axisY + 10, colour(i / 10.0)));
        }
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">0 … 100%% of N</text>%n", LEFT + 11 * 12 + 6, axisY + 19));
        return s.append("</svg>\n").toString();
    }

    static String colour(double t) {
        double x = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
        int i = Math.min((int) x, RAMP.length - 2);
        double f = x - i;
        int r = (int) Math.round(RAMP[i][0] + f * (RAMP[i + 1][0] - RAMP[i][0]));
        int g = (int) Math.round(RAMP[i][1] + f * (RAMP[i + 1][1] - RAMP[i][1]));
        int b = (int) Math.round(RAMP[i][2] + f * (RAMP[i + 1][2] - RAMP[i][2]));
        return String.format(Locale.ROOT, "#%02x%02x%02x", r, g, b);
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
