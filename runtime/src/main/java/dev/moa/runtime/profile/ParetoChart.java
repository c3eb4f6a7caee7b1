package dev.moa.runtime.profile;

import dev.moa.plans.optimize.PlanChoice;
import dev.moa.plans.optimize.PlanOptimizer;
import dev.moa.plans.optimize.PlanProblem;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * The Pareto front as a PNG: every plan the sweep found (grey) and the non-dominated ones (blue, numbered as their
 * files), predicted loss at the shortest profiled length across, at the longest up. With one profiled length the
 * two axes are the same objective and the front is a single point.
 */
final class ParetoChart {
    private static final int W = 720, H = 540, LEFT = 90, RIGHT = 30, TOP = 50, BOTTOM = 70;

    private ParetoChart() {
    }

    static void write(PlanProblem problem, PlanOptimizer.Sweep sweep, Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int x = 0, y = problem.objectives() - 1;
        List<PlanChoice> all = sweep.solves().stream().filter(PlanOptimizer.Solve::feasible).map(PlanOptimizer.Solve::choice).toList();
        double minX = Double.MAX_VALUE, maxX = -Double.MAX_VALUE, minY = Double.MAX_VALUE, maxY = -Double.MAX_VALUE;
        for (PlanChoice c : all) {
            minX = Math.min(minX, c.objectives()[x]);
            maxX = Math.max(maxX, c.objectives()[x]);
            minY = Math.min(minY, c.objectives()[y]);
            maxY = Math.max(maxY, c.objectives()[y]);
        }
        double padX = Math.max(1e-12, (maxX - minX) * 0.08), padY = Math.max(1e-12, (maxY - minY) * 0.08);
        double x0 = minX - padX, x1 = maxX + padX, y0 = minY - padY, y1 = maxY + padY;

        BufferedImage image = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, W, H);
        g.setColor(Color.DARK_GRAY);
        g.setStroke(new BasicStroke(1));
        g.drawRect(LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
        for (int i = 0; i <= 4; i++) {
            double vx = x0 + (x1 - x0) * i / 4, vy = y0 + (y1 - y0) * i / 4;
            label(g, String.format(Locale.ROOT, "%.3g", vx), px(vx, x0, x1), H - BOTTOM + 18, true);
            label(g, String.format(Locale.ROOT, "%.3g", vy), LEFT - 8, py(vy, y0, y1) + 4, false);
        }
        g.setColor(new Color(170, 170, 170));
        for (PlanChoice c : all) g.fillOval(px(c.objectives()[x], x0, x1) - 3, py(c.objectives()[y], y0, y1) - 3, 6, 6);
        List<PlanChoice> front = sweep.front();
        g.setColor(new Color(30, 90, 200));
        for (int i = 0; i < front.size(); i++) {
            PlanChoice c = front.get(i);
            int cx = px(c.objectives()[x], x0, x1), cy = py(c.objectives()[y], y0, y1);
            g.fillOval(cx - 5, cy - 5, 10, 10);
            label(g, Integer.toString(i + 1), cx + 8, cy - 6, false, true);
        }
        g.setColor(Color.BLACK);
        label(g, String.format(Locale.ROOT, "Pareto plans at density %.2f (%d of %d solves)", problem.density(), front.size(), sweep.solves().size()), W / 2, 28, true);
        label(g, "predicted loss at " + problem.lengths()[x] + " tokens", (LEFT + W - RIGHT) / 2, H - 25, true);
        label(g, "at " + problem.lengths()[y], LEFT - 8, TOP - 10, false);
        g.dispose();
        ImageIO.write(image, "png", file.toFile());
    }

    private static int px(double v, double lo, double hi) {
        return LEFT + (int) Math.round((v - lo) / (hi - lo) * (W - LEFT - RIGHT));
    }

    private static int py(double v, double lo, double hi) {
        return H - BOTTOM - (int) Math.round((v - lo) / (hi - lo) * (H - TOP - BOTTOM));
    }

    private static void label(Graphics2D g, String text, int x, int y, boolean centred) {
        label(g, text, x, y, centred, false);
    }

    /** Text centred on x, right-aligned to x, or (leftAligned) starting at x; skipped where the JDK has no fonts. */
    private static void label(Graphics2D g, String text, int x, int y, boolean centred, boolean leftAligned) {
        try {
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            int w = g.getFontMetrics().stringWidth(text);
            g.drawString(text, leftAligned ? x : centred ? x - w / 2 : x - w, y);
        } catch (Error | RuntimeException noFonts) {
            // headless JDKs without fontconfig cannot draw text; the points still carry the result
        }
    }
}
