package dev.moa.loader.config;

/**
 * How a model stretches RoPE beyond its training length, as Hugging Face's {@code rope_scaling} describes it.
 * Each variant rescales the inverse frequencies {@code theta^(-2i/d)} once, at load time.
 */
public sealed interface RopeScaling {

    /** Adjusts the unscaled inverse frequency of one rotary pair. */
    double scale(double inverseFrequency);

    /** No scaling: {@code rope_scaling} absent or null. */
    record None() implements RopeScaling {
        public double scale(double inverseFrequency) {
            return inverseFrequency;
        }
    }

    /** Position interpolation: every frequency divided by {@code factor}. */
    record Linear(double factor) implements RopeScaling {
        public double scale(double inverseFrequency) {
            return inverseFrequency / factor;
        }
    }

    /**
     * Llama 3.1's scheme: long wavelengths (beyond original/lowFreqFactor) are divided by {@code factor},
     * short ones (below original/highFreqFactor) kept, and the band between is interpolated smoothly.
     */
    record Llama3(double factor, double lowFreqFactor, double highFreqFactor, double originalMaxPositions) implements RopeScaling {
        public double scale(double inverseFrequency) {
            double wavelength = 2 * Math.PI / inverseFrequency;
            double lowFreqWavelength = originalMaxPositions / lowFreqFactor;
            double highFreqWavelength = originalMaxPositions / highFreqFactor;
            if (wavelength < highFreqWavelength) return inverseFrequency;
            if (wavelength > lowFreqWavelength) return inverseFrequency / factor;
            double smooth = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
            return (1 - smooth) * inverseFrequency / factor + smooth * inverseFrequency;
        }
    }
}
