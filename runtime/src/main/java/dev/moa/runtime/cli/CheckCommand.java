package dev.moa.runtime.cli;

import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.device.DeviceCheck;
import dev.moa.tasks.cuda.DeviceChoice;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code moa check --model DIR --device cuda|emulator}: the device's decode steps against the CPU's, per attention
 * mode; exits 1 when a step's logits differ by more than {@link DeviceCheck#tolerance} of the largest or a greedy
 * token differs.
 */
@Command(name = "check", description = "Decode on --device against the CPU on one model: logits and greedy tokens per attention mode; "
        + "exits 1 on a mismatch.")
final class CheckCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR", description = "the model folder")
    Path model;

    @Option(names = "--golden", paramLabel = "FILE", split = ",",
            description = "instead: golden cases of the PyTorch reference (tests/src/test/resources/golden/*.json), decoded on --device")
    List<Path> goldens;

    @Option(names = "--device", paramLabel = "cuda|emulator|auto", defaultValue = DeviceChoice.AUTO,
            description = "the device checked against the CPU (default: ${DEFAULT-VALUE}: the GPU when CUDA works, else the emulator)")
    String device;

    @Option(names = "--attention", paramLabel = "MODE", split = ";", defaultValue = "dense;uniform:0,0.5;window:16",
            description = "attention modes, ';'-separated (default: ${DEFAULT-VALUE}; add moa:PLAN.json)")
    List<String> modes;

    @picocli.CommandLine.Mixin
    Options.KvCache kvCache;

    @picocli.CommandLine.Mixin
    Options.StepOptions stepOptions;

    @Option(names = "--prompt-tokens", paramLabel = "N", defaultValue = "100", description = "prompt length (default: ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "24", description = "decode steps compared (default: ${DEFAULT-VALUE})")
    int steps;

    @Override
    public Integer call() throws Exception {
        Options.require(promptTokens >= 1 && steps >= 1, "check: --prompt-tokens and --steps must be positive");
        List<AttentionMode> attention = modes.stream().map(m -> {
            try {
                return AttentionMode.parse(m.trim());
            } catch (IllegalArgumentException e) {
                throw new UsageException("check: --attention " + e.getMessage());
            }
        }).toList();
        DeviceChoice choice = Options.Device.choose(device);
        if (choice.kind() == DeviceChoice.Kind.CPU) {
            System.err.println("moa: no GPU (" + choice.note() + "): checking the GPU program in the emulator");
            choice = new DeviceChoice(DeviceChoice.Kind.EMULATOR, "");
        }
        stepOptions.check("check", choice);
        boolean passed = true;
        if (goldens != null) {
            Path work = java.nio.file.Files.createTempDirectory("moa-check");
            System.out.printf("golden cases (PyTorch float64) decoded on %s, tolerance %.0e of the largest logit%n", choice.kind(), DeviceCheck.TOLERANCE);
            System.out.println("golden                    last-step logit diff   greedy tokens   device ms/step   result");
            for (Path golden : goldens) {
                DeviceCheck.Result r = DeviceCheck.golden(golden, choice, work, stepOptions::apply);
                passed &= r.passed();
                System.out.printf("%-24s  %20.2e   %6d/%-6d   %14.2f   %s%n", shorten(r.attention()), r.worstRelative(), r.tokensAgreed(), r.steps(),
                        1e3 * r.deviceSeconds() / Math.max(1, r.steps() - 2), r.passed() ? "ok" : "MISMATCH");
            }
            return passed ? 0 : 1;
        }
        Options.require(model != null, "check: --model DIR or --golden FILE is required");
        try (Model cpu = ModelLoading.load(model, new DeviceChoice(DeviceChoice.Kind.CPU, ""), kvCache.format);
             Model other = ModelLoading.load(model, choice, kvCache.format)) {
            stepOptions.apply(other);
            System.out.printf("%s on %s against the CPU (%s KV caches on both): %d-token prompt, %d greedy steps, tolerance %.0e of the largest logit%n",
                    model.getFileName(), other.device(), kvCache.format, promptTokens, steps, DeviceCheck.tolerance(kvCache.format));
            System.out.println("attention                 worst logit diff   greedy tokens   device ms/step   result");
            for (AttentionMode mode : attention) {
                DeviceCheck.Result r = DeviceCheck.run(cpu, other, mode, promptTokens, steps, 7);
                passed &= r.passed();
                System.out.printf("%-24s  %16.2e   %6d/%-6d   %14.2f   %s%n", shorten(r.attention()), r.worstRelative(), r.tokensAgreed(), r.steps(),
                        1e3 * r.deviceSeconds() / r.steps(), r.passed() ? "ok" : "MISMATCH");
            }
            if (attention.size() > 1) {
                // every mode's session at once, prompts of different lengths, in one batched device step
                DeviceCheck.Result r = DeviceCheck.batched(cpu, other, attention, promptTokens, steps, 11);
                passed &= r.passed();
                System.out.printf("%-24s  %16.2e   %6d/%-6d   %14.2f   %s%n", r.attention(), r.worstRelative(), r.tokensAgreed(), r.steps(),
                        1e3 * r.deviceSeconds() / r.steps(), r.passed() ? "ok" : "MISMATCH");
            }
        }
        return passed ? 0 : 1;
    }

    private static String shorten(String s) {
        return s.length() <= 24 ? s : "..." + s.substring(s.length() - 21);
    }
}
