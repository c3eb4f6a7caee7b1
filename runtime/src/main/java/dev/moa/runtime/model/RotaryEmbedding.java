package dev.moa.runtime.model;

import dev.moa.loader.config.ModelConfig;

/**
 * Rotary position embedding as Hugging Face Llama applies it ("rotate half"): element i of a head is paired
 * with element i + d/2, and the pair is rotated by angle {@code position · invFreq[i]}, with
 * {@code invFreq[i] = theta^(−2i/d)} adjusted once by the model's rope_scaling. Angles and their cos/sin are
 * computed in double, so long positions lose no precision.
 */
public final class RotaryEmbedding {
    private final double[] inverseFrequency;
    private final int headDim;

    public RotaryEmbedding(ModelConfig config) {
        this.headDim = config.headDim();
        int half = headDim / 2;
        inverseFrequency = new double[half];
        for (int i = 0; i < half; i++) {
            double base = 1.0 / Math.pow(config.ropeTheta(), (2.0 * i) / headDim);
            inverseFrequency[i] = config.ropeScaling().scale(base);
        }
    }

    /** cos and sin of every (position, pair) angle: {@code table[t·d/2 + i]}. */
    public record Angles(float[] cos, float[] sin) {}

    public Angles angles(int[] positions, int count) {
        int half = headDim / 2;
        float[] cos = new float[count * half], sin = new float[count * half];
        for (int t = 0; t < count; t++) {
            for (int i = 0; i < half; i++) {
                double angle = positions[t] * inverseFrequency[i];
                cos[t * half + i] = (float) Math.cos(angle);
                sin[t * half + i] = (float) Math.sin(angle);
            }
        }
        return new Angles(cos, sin);
    }

    /**
     * The vector–Jacobian product of {@link #rotate}: a rotation's transpose is the rotation by the opposite angle,
     * so the gradient with respect to the unrotated vector is the gradient rotated back.
     */
    public void rotateBackward(float[] dx, int offset, int heads, Angles angles, int t) {
        rotate(dx, offset, heads, angles, t, -1f);
    }

    /** Rotates the {@code heads} consecutive heads stored at x[offset ..] for the token whose angles are row t. */
    public void rotate(float[] x, int offset, int heads, Angles angles, int t) {
        rotate(x, offset, heads, angles, t, 1f);
    }

    /** Rotation by the angles times {@code direction} (+1 forward, -1 its transpose). */
    private void rotate(float[] x, int offset, int heads, Angles angles, int t, float direction) {
        int half = headDim / 2;
        for (int h = 0; h < heads; h++) {
            int base = offset + h * headDim;
            for (int i = 0; i < half; i++) {
                float c = angles.cos[t * half + i], s = direction * angles.sin[t * half + i];
                float x1 = x[base + i], x2 = x[base + i + half];
                x[base + i] = x1 * c - x2 * s;
                x[base + i + half] = x2 * c + x1 * s;
            }
        }
    }
}
