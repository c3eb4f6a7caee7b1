package dev.moa.runtime.model;

import dev.moa.tasks.cpu.WeightMatrix;

/**
 * One decoder layer's parameters. Matrices stay in their stored format; norm weights and biases are small
 * and held as F32. Absent biases are null.
 */
public record LayerWeights(
        float[] attentionNorm,
        WeightMatrix wq, WeightMatrix wk, WeightMatrix wv, WeightMatrix wo,
        float[] bq, float[] bk, float[] bv, float[] bo,
        float[] ffnNorm,
        WeightMatrix gate, WeightMatrix up, WeightMatrix down) {
}
