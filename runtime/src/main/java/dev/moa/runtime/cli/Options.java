package dev.moa.runtime.cli;

import com.google.gson.JsonObject;
import dev.moa.loader.io.InputFiles;
import dev.moa.loader.json.StrictJson;
import dev.moa.runtime.AttentionMode;
import dev.moa.runtime.Model;
import dev.moa.runtime.device.PromptPrecision;
import dev.moa.runtime.model.KvFormat;
import dev.moa.tasks.cuda.DeviceChoice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** Options several commands share, as picocli mixins: each is declared, defaulted, converted and checked once. */
final class Options {
    private Options() {
    }

    /**
     * How a device step runs, to compare the ways on a GPU (or, where a device disagrees with the CPU, to find which
     * way): {@code --decode-attention}, which grouped decode attention; {@code --dependent-launch}, whether its
     * kernels overlap the one before each; {@code --share-rows}, whether its matvecs over few rows share each row
     * among warps.
     */
    static final class StepOptions {
        @Option(names = "--decode-attention", paramLabel = "KERNEL", defaultValue = "staged",
                description = "a device step's decode attention: staged (keys and values staged in shared memory, coalesced) or grouped "
                        + "(read as they are used) (default: ${DEFAULT-VALUE})")
        String kernel;

        @Option(names = "--dependent-launch", paramLabel = "on|off", defaultValue = "on",
                description = "on a CUDA device from sm_90 on, launch each kernel of a step to overlap the one before it "
                        + "(programmatic dependent launch), or one after another (off) (default: ${DEFAULT-VALUE})")
        String dependentLaunch;

        @Option(names = "--share-rows", paramLabel = "on|off", defaultValue = "on",
                description = "a device decode step's matvecs over matrices of few rows (a 1B model's q/k/v, output and down "
                        + "projections; one session, or a few below the tensor cores): each row's columns shared by several warps, more "
                        + "of the matrix in flight at once, a small matrix asked of the L2 whole while the kernel before it runs, and the "
                        + "attention's keys and values asked of the L2 by the q/k/v product (on), or a warp a row and each row's first "
                        + "kilobyte asked (off) (default: ${DEFAULT-VALUE})")
        String shareRows;

        @Option(names = "--step-ahead", paramLabel = "on|off", defaultValue = "on",
                description = "on a CUDA device, a session's decode step queues the next one (its token and position already on the device) "
                        + "before the host reads its token, so the device does not wait for the host between tokens; the benchmarks' "
                        + "fixed batches too, a server's batch of several sessions not (on); or each step waits for the host's call (off) "
                        + "(default: ${DEFAULT-VALUE})")
        String stepAhead;

        /** Checks the names, and that a device runs the step where a choice is not the default, before any work. */
        void check(String command, DeviceChoice choice) {
            if (!dependentLaunch.equals("on") && !dependentLaunch.equals("off")) {
                throw new UsageException(command + ": --dependent-launch takes on or off, not '" + dependentLaunch + "'");
            }
            require(dependentLaunch.equals("on") || choice.kind() == DeviceChoice.Kind.CUDA,
                    command + ": --dependent-launch applies to a CUDA device (--device cuda)");
            if (!kernel.equals("staged") && !kernel.equals("grouped")) {
                throw new UsageException(command + ": --decode-attention takes staged or grouped, not '" + kernel + "'");
            }
            require(kernel.equals("staged") || choice.kind() != DeviceChoice.Kind.CPU,
                    command + ": --decode-attention applies to a device step (--device cuda or emulator)");
            if (!shareRows.equals("on") && !shareRows.equals("off")) {
                throw new UsageException(command + ": --share-rows takes on or off, not '" + shareRows + "'");
            }
            require(shareRows.equals("on") || choice.kind() != DeviceChoice.Kind.CPU,
                    command + ": --share-rows applies to a device step (--device cuda or emulator)");
            if (!stepAhead.equals("on") && !stepAhead.equals("off")) {
                throw new UsageException(command + ": --step-ahead takes on or off, not '" + stepAhead + "'");
            }
            require(stepAhead.equals("on") || choice.kind() == DeviceChoice.Kind.CUDA,
                    command + ": --step-ahead applies to a CUDA device (--device cuda)");
        }

        /** Sets the model's accelerator (if any) to them. */
        void apply(dev.moa.runtime.Model model) {
            model.accelerator().ifPresent(a -> {
                a.stagedAttention(kernel.equals("staged"));
                a.dependentLaunch(dependentLaunch.equals("on"));
                a.sharedRows(shareRows.equals("on"));
                if (stepAhead.equals("off")) a.stepAhead(false); // (on is each backend's own default: a GPU's, not the emulator's)
            });
        }
    }

    /** {@code --model DIR}. */
    static final class ModelDir {
        @Option(names = "--model", required = true, paramLabel = "DIR",
                description = "Hugging Face model folder: config.json, *.safetensors, tokenizer.json")
        Path dir;
    }

    /** {@code --attention MODE}, parsed (and a plan file read) before any model loads. */
    static final class Attention {
        @Option(names = "--attention", paramLabel = "MODE", defaultValue = "dense", converter = AttentionConverter.class,
                description = "dense (default), moa:PLAN.json, uniform:ALPHA,BETA (StreamingLLM: uniform:0,0.5), window:W")
        AttentionMode mode;
    }

    /** {@code --kv-cache f32|bf16}: how every session's KV cache stores keys and values. */
    static final class KvCache {
        @Option(names = "--kv-cache", paramLabel = "f32|bf16", defaultValue = "f32", converter = KvFormatConverter.class,
                description = "how KV caches store keys and values: f32 (default) or bf16 (half the memory, so twice the context or "
                        + "sessions, and half the bytes decode's attention reads; each key and value rounded to BF16)")
        KvFormat format;
    }

    static final class PrecisionConverter implements ITypeConverter<PromptPrecision> {
        @Override
        public PromptPrecision convert(String value) {
            for (PromptPrecision p : PromptPrecision.values()) if (p.name().equalsIgnoreCase(value)) return p;
            throw new TypeConversionException("'" + value + "' is not a prompt precision: f32 or bf16");
        }
    }

    static final class KvFormatConverter implements ITypeConverter<KvFormat> {
        @Override
        public KvFormat convert(String value) {
            for (KvFormat f : KvFormat.values()) if (f.name().equalsIgnoreCase(value)) return f;
            throw new TypeConversionException("'" + value + "' is not a KV cache format: f32 or bf16");
        }
    }

    /**
     * {@code --device auto|cpu|cuda|emulator}: where prompts and decode steps run. {@code auto} takes the GPU when CUDA works,
     * else the CPU with one line saying why; {@code emulator} runs the GPU program in the kernel emulator.
     */
    static final class Device {
        @Option(names = "--device", paramLabel = "auto|cpu|cuda|emulator", defaultValue = DeviceChoice.CPU,
                description = "where prompts and decode steps run: cpu (default), cuda, auto (the GPU when CUDA works, else the CPU, saying why) "
                        + "or emulator (the GPU program in the kernel emulator on the CPU; slow, for checking kernels)")
        String option;

        @picocli.CommandLine.Mixin
        KvCache kvCache = new KvCache();

        @Option(names = "--prompt-precision", paramLabel = "f32|bf16", defaultValue = "f32", converter = PrecisionConverter.class,
                description = "how a device's prompts multiply on its tensor cores: f32 (default: each operand split in two BF16 parts; the "
                        + "CPU's results within 1e-4) or bf16 (each rounded to BF16 once, as PyTorch's bf16 runs: half the matmuls' "
                        + "tensor-core work and a third of the attention's)")
        PromptPrecision precision;

        /**
         * The choice, probing CUDA where asked; a device that cannot be used, or an option for a device where the CPU runs,
         * is a usage error naming why.
         */
        DeviceChoice choose() {
            DeviceChoice choice = choose(option);
            if (!choice.note().isEmpty()) System.err.println("moa: --device auto: running on the CPU: " + choice.note());
            require(precision == PromptPrecision.F32 || choice.kind() != DeviceChoice.Kind.CPU,
                    "--prompt-precision bf16 applies to prompts on a device (--device cuda or emulator)");
            return choice;
        }

        /** Sets the model's accelerator (if any) to these options. */
        Model apply(Model model) {
            model.accelerator().ifPresent(a -> a.promptPrecision(precision));
            return model;
        }

        /** {@link DeviceChoice#choose} with its refusals as usage errors. */
        static DeviceChoice choose(String option) {
            try {
                return DeviceChoice.choose(option);
            } catch (IllegalArgumentException | dev.moa.tasks.cuda.CudaException e) {
                throw new UsageException(e.getMessage());
            }
        }
    }

    /** {@code --json FILE|-}: a result as JSON, to a file (checked before the work starts) or to stdout. */
    static final class Json {
        @Option(names = "--json", paramLabel = "FILE|-", description = "also write the result as JSON to FILE, or to stdout with -")
        String target;

        void check() {
            if (target != null && !target.equals("-")) OutputPaths.file("--json", Path.of(target));
        }

        void write(JsonObject json) throws IOException {
            if (target == null) return;
            String text = StrictJson.write(json); // JSON has no NaN: an undefined number (no tokens, no samples) is null
            if (target.equals("-")) {
                System.out.println(text);
            } else {
                Files.writeString(Path.of(target), text + "\n");
                System.out.println("json: " + Path.of(target).toAbsolutePath());
            }
        }
    }

    static final class AttentionConverter implements ITypeConverter<AttentionMode> {
        @Override
        public AttentionMode convert(String value) {
            try {
                return AttentionMode.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** A text argument or {@code @}-less file: reads FILE (a regular file, bounded) or stdin for {@code -}. */
    static String readTextArgument(String file, String option) throws IOException {
        if (file.equals("-")) {
            byte[] bytes = System.in.readNBytes((int) InputFiles.TEXT + 1);
            if (bytes.length > InputFiles.TEXT) throw new UsageException(option + " -: stdin holds more than " + (InputFiles.TEXT >> 20) + " MiB");
            return InputFiles.utf8(bytes, "stdin");
        }
        try {
            return InputFiles.readText(Path.of(file), InputFiles.TEXT);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new UsageException(option + " " + file + ": file not found");
        }
    }

    /** Fails with a usage error naming the option unless {@code ok}. */
    static void require(boolean ok, String message) {
        if (!ok) throw new UsageException(message);
    }
}
