package dev.moa.runtime.eval;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * A PNG grid of retrieval accuracy: one row per prompt length, one column per key-position decile, red (0) through
 * yellow to green (1), each cell labelled with its value.
 */
public final class AccuracyHeatmap {
    private static final int CELL_W = 64, CELL_H = 40, LEFT = 150, TOP = 56, BOTTOM = 44;

    private AccuracyHeatmap() {
    }

    public static void write(RetrievalEval.Result result, Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        var lengths = result.settings().lengths();
        int width = LEFT + CELL_W * RetrievalEval.DECILES + 16, height = TOP + CELL_H * lengths.size() + BOTTOM;
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        for (int row = 0; row < lengths.size(); row++) {
            int length = lengths.get(row);
            for (int d = 0; d < RetrievalEval.DECILES; d++) {
                double accuracy = result.accuracy(length, d);
                int x = LEFT + d * CELL_W, y = TOP + row * CELL_H;
                g.setColor(color(accuracy));
                g.fillRect(x, y, CELL_W, CELL_H);
                g.setColor(Color.WHITE);
                g.setStroke(new BasicStroke(1));
                g.drawRect(x, y, CELL_W, CELL_H);
                label(g, String.format("%.2f", accuracy), x + CELL_W / 2, y + CELL_H / 2 + 5, Color.BLACK, true);
            }
            label(g, String.format("%d (%.2f)", length, result.accuracy(length)), LEFT - 8, TOP + row * CELL_H + CELL_H / 2 + 5,
                    Color.BLACK, false);
        }
        for (int d = 0; d < RetrievalEval.DECILES; d++) {
            label(g, d * 10 + "%", LEFT + d * CELL_W + CELL_W / 2, TOP + CELL_H * lengths.size() + 18, Color.DARK_GRAY, true);
        }
        label(g, "LongEval retrieval, " + result.attention() + " attention, " + result.model(), width / 2, 22, Color.BLACK, true);
        label(g, "length (all)", LEFT - 8, TOP - 10, Color.DARK_GRAY, false);
        label(g, "position of the asked key in the record", LEFT + CELL_W * RetrievalEval.DECILES / 2,
                TOP + CELL_H * lengths.size() + 38, Color.DARK_GRAY, true);
        g.dispose();
        ImageIO.write(image, "png", file.toFile());
    }

    /** Red → yellow → green; grey where a bin had no questions. */
    static Color color(double accuracy) {
        if (Double.isNaN(accuracy)) return Color.LIGHT_GRAY;
        double a = Math.max(0, Math.min(1, accuracy));
        int red = a < 0.5 ? 230 : (int) (230 - (a - 0.5) * 2 * 170);
        int green = a < 0.5 ? (int) (80 + a * 2 * 140) : (int) (220 - (a - 0.5) * 2 * 40);
        return new Color(red, green, 90);
    }

    /** Text centred on x (or right-aligned to x); skipped where the JDK has no fonts, so the grid is still written. */
    private static void label(Graphics2D g, String text, int x, int y, Color color, boolean centred) {
        try {
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
            int w = g.getFontMetrics().stringWidth(text);
            g.setColor(color);
            g.drawString(text, centred ? x - w / 2 : x - w, y);
        } catch (Error | RuntimeException noFonts) {
            // headless JDKs without fontconfig cannot draw text; the colours still carry the result
        }
    }
}
