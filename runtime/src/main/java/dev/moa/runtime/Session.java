package dev.moa.runtime;

import dev.moa.plans.HeadSpans;
import dev.moa.runtime.device.Accelerator;
import dev.moa.runtime.device.DeviceDecoder;
import dev.moa.runtime.model.DenseKvCache;
import dev.moa.runtime.model.NonFiniteException;
import dev.moa.runtime.model.KvCache;
import dev.moa.runtime.model.KvFormat;
import dev.moa.runtime.model.LlamaModel;
import dev.moa.runtime.model.MoaKvCache;
import dev.moa.plans.MoaPlan;
import java.util.List;

/**
 * One conversation's state: its KV cache, scratch buffers and the next position. A session is used by one
 * thread at a time; many sessions can share one {@link Model}.
 *
 * <p>Dense sessions hold up to {@code capacity} positions. Sparse (MoA) sessions size their per-head cache at
 * the first prefill, when N = prompt length + {@code allowance} is known, and can then run to the model's
 * maximum position. Either cache takes memory as it is written (see {@link #kvResidentBytes}): a session decoding on
 * a device keeps its keys and values there and none on the heap.
 */
public final class Session implements AutoCloseable {
    private final LlamaModel model;
    private final int capacity;
    private final MoaPlan plan;
    private final int allowance;
    private final int chunk;
    private final LlamaModel.State state;
    private final Accelerator accelerator;
    private final KvFormat kvFormat;
    /** Who hears how far a prefill got ({@link #onPrefillProgress}), or null. */
    private java.util.function.IntConsumer prefillProgress;
    /** The prompt {@link #prefillStep} runs on the device, until it is done; null otherwise. */
    private Accelerator.Prompt promptRun;
    /** How far {@link #prefillStep}'s prompt got, in tokens. */
    private int promptDone;
    private KvCache cache;
    private int position;
    /**
     * The device step this session is row {@code deviceRow} of, with the sessions {@code deviceRows}
     * (just this one when it decodes alone); null while its cache is on the CPU (before its first decoded token, or
     * on the CPU backend).
     */
    private DeviceDecoder device;
    private int deviceRow;
    private List<Session> deviceRows;
    /**
     * This session's slots in the device's KV pool, from its device prompt or first device step until it is closed or
     * reset; {@code inRegion} says whether they hold its cache yet (a device prompt fills them; else the first step,
     * from the CPU cache).
     */
    private dev.moa.runtime.device.KvPool.Region region;
    private boolean inRegion;

    Session(LlamaModel model, Accelerator accelerator, int capacity, int chunk, MoaPlan plan, int allowance, KvFormat kvFormat) {
        this.model = model;
        this.kvFormat = kvFormat;
        this.accelerator = accelerator;
        this.capacity = capacity;
        this.plan = plan;
        this.allowance = allowance;
        this.chunk = chunk;
        this.state = new LlamaModel.State(model.config(), chunk);
        if (plan == null) cache = new DenseKvCache(model.config(), capacity, kvFormat);
    }

    /** Runs the prompt (in chunks) and returns the logits after its last token. */
    public float[] prefill(int[] tokens) {
        return prefill(tokens, null);
    }

    /**
     * Runs the prompt like {@link #prefill(int[])} and, when {@code everyPosition} is not null, also hands it the
     * next-token logits of every position (perplexity and answer-token loss without a decode step per token).
     */
    public float[] prefill(int[] tokens, LlamaModel.PositionLogits everyPosition) {
        if (position == 0 && plan != null) sizeCacheFor(tokens.length);
        if (accelerator != null && position == 0 && tokens.length > 0) {
            // a fresh prompt runs on the device (when the device takes this model); its keys and values stay there for
            // the first decode step (a prompt whose every position is wanted, for evaluation, brings them back here)
            requireRoom(tokens.length);
            for (int token : tokens) requireToken(token);
            // straight into the session's region of the device's KV pool, unless every position is wanted (evaluation)
            var into = everyPosition == null ? ownRegion() : null;
            float[] logits = accelerator.prefill(cache, tokens, everyPosition, prefillProgress, into);
            if (logits != null) {
                inRegion = into != null;
                NonFiniteException.check(logits, 1, logits.length, new int[] {tokens.length - 1}, "the output head's logits");
                position = tokens.length;
                return logits;
            }
        }
        return append(tokens, everyPosition);
    }

    /**
     * Runs the next piece of a fresh prompt, for a server that interleaves prompts with other sessions' decode steps;
     * call it with the same prompt until it returns the logits after the prompt's last token (null before). On a
     * device a piece is the next chunk of the next layer, as many as make {@code pieceTokens} tokens' work through
     * the whole model (the prompt runs layer by layer); on the CPU, the next {@code pieceTokens} tokens (rounded down
     * to whole prefill chunks, at least one). Either way the pieces compute what {@link #prefill(int[])} does, bit for
     * bit. A prompt the device does not take (its model, or its memory) runs on the CPU. {@link #promptTokensDone}
     * says how far it got.
     */
    public float[] prefillStep(int[] prompt, int pieceTokens) {
        if (prompt.length == 0) throw new IllegalArgumentException("an empty prompt");
        if (pieceTokens < 1) throw new IllegalArgumentException("a prompt piece of " + pieceTokens + " tokens");
        if (promptRun == null && (device != null || position != promptDone || position >= prompt.length)) {
            throw new IllegalStateException("prefillStep runs a fresh session's prompt to its end; this session is at position " + position);
        }
        if (promptRun == null && position == 0 && promptDone == 0 && accelerator != null) {
            requireRoom(prompt.length);
            for (int token : prompt) requireToken(token);
            if (plan != null) sizeCacheFor(prompt.length);
            promptRun = accelerator.startPrompt(cache, prompt, ownRegion());
        }
        if (promptRun != null) {
            int target = promptRun.tokensDone() + pieceTokens;
            do {
                if (!promptRun.advance()) { // out of the device's memory: the CPU runs the prompt from its start
                    promptRun = null;
                    break;
                }
                promptDone = promptRun.tokensDone();
            } while (!promptRun.piecesDone() && promptRun.tokensDone() < target);
            if (promptRun != null) {
                if (!promptRun.piecesDone()) return null;
                float[] logits = promptRun.finish();
                inRegion = region != null;
                promptRun = null;
                NonFiniteException.check(logits, 1, logits.length, new int[] {prompt.length - 1}, "the output head's logits");
                position = prompt.length;
                promptDone = prompt.length;
                return logits;
            }
        }
        int piece = Math.max(chunk, pieceTokens / chunk * chunk);
        int count = Math.min(piece, prompt.length - position);
        if (plan != null && cache == null) sizeCacheFor(prompt.length); // (a device that gave the prompt up left its cache as it was)
        requireRoom(count);
        float[] logits = model.forward(state, cache, prompt, position, count, position, null);
        position += count;
        promptDone = position;
        return position == prompt.length ? logits : null;
    }

    /** Of the prompt {@link #prefillStep} is running, the tokens run so far (on a device: the share of its work done, in tokens). */
    public int promptTokensDone() {
        return promptDone;
    }

    /** The positions a prefill of this session computes per forward chunk: pieces fed at its multiples equal one prefill. */
    public int prefillChunk() {
        return chunk;
    }

    /** A sparse session's cache, made at its first prompt: every head's span for N = prompt + allowance. */
    private void sizeCacheFor(int promptLength) {
        cache = new MoaKvCache(model.config(), HeadSpans.of(plan, (int) Math.min(Integer.MAX_VALUE, (long) promptLength + allowance)), promptLength, kvFormat);
    }

    /** Feeds one generated token and returns the logits for the next one. */
    public float[] decode(int token) {
        return append(new int[] {token}, null);
    }

    private float[] append(int[] tokens, LlamaModel.PositionLogits everyPosition) {
        if (accelerator != null && position > 0) return appendOnDevice(tokens, everyPosition);
        if (cache == null) throw new IllegalStateException("a sparse session starts with prefill(prompt)");
        requireRoom(tokens.length);
        if (prefillProgress == null || tokens.length <= chunk) {
            float[] logits = model.forward(state, cache, tokens, 0, tokens.length, position, everyPosition);
            position += tokens.length;
            return logits;
        }
        // pieces of whole chunks (about 1 % of the prompt each) compute exactly what one forward does, and say how far it got
        int piece = chunk * Math.max(1, tokens.length / chunk / 100);
        float[] logits = null;
        for (int done = 0; done < tokens.length; ) {
            int n = Math.min(piece, tokens.length - done);
            logits = model.forward(state, cache, tokens, done, n, position, everyPosition);
            position += n;
            done += n;
            prefillProgress.accept(done);
        }
        return logits;
    }

    /**
     * Hands {@code tokensDone} the prompt tokens a prefill has run so far (for a progress line): on the CPU about every
     * 1 % of the prompt; on a device after each chunk of each layer, as the tokens that share of the work stands for
     * (the prompt runs there layer by layer). Null to stop.
     */
    public void onPrefillProgress(java.util.function.IntConsumer tokensDone) {
        this.prefillProgress = tokensDone;
    }

    /**
     * Tokens after the prompt run on the accelerator, one decode step each, over the session's region of the device's
     * KV pool (a prompt run on the CPU goes into it at the first one). (Past the prompt the CPU also attends token by token, so this is the same computation.)
     */
    private float[] appendOnDevice(int[] tokens, LlamaModel.PositionLogits everyPosition) {
        requireRoom(tokens.length);
        for (int token : tokens) requireToken(token);
        int vocab = model.config().vocabSize();
        float[] logits = null;
        for (int token : tokens) {
            dev.moa.runtime.device.DeviceDecoder.Chosen step;
            synchronized (accelerator) { // no other session grows the KV pool between choosing the step and running it
                ownDevice();
                step = device.decodeWithLogits(new int[] {token}, new int[] {position});
            }
            logits = step.logits()[0];
            // the device's argmax step also says whether every logit is finite: the host scans them only where one is not
            if (step.tokens()[0] < 0) NonFiniteException.check(logits, 1, vocab, new int[] {position}, "the output head's logits");
            if (everyPosition != null && position >= everyPosition.firstPosition()) everyPosition.accept(position, logits);
            position++;
        }
        return logits;
    }

    /**
     * Appends {@code token} and returns the likeliest next token (greedy decoding): on a device the argmax runs there
     * and no logits are read back; on the CPU it is the argmax of {@link #decode}'s logits.
     */
    public int decodeGreedy(int token) {
        if (accelerator == null || position == 0) return dev.moa.runtime.generate.Sampler.argmax(decode(token));
        requireRoom(1);
        requireToken(token);
        int next;
        synchronized (accelerator) { // no other session grows the KV pool between choosing the step and running it
            ownDevice();
            next = device.decodeGreedy(token, position);
        }
        if (next < 0) NonFiniteException.check(device.logits()[0], 1, model.config().vocabSize(), new int[] {position}, "the output head's logits");
        position++;
        return next;
    }

    /**
     * Appends {@code token} and returns the next token {@code sampler} draws (taking one uniform of its sequence; the
     * argmax where it is greedy): on a device the draw runs there and no logits are read back (but where the device
     * gives none, a safeguard: then the host draws from them with the same uniform, walking the distribution as the
     * device does); on the CPU it is {@code sampler.next} of {@link #decode}'s logits.
     */
    public int decodeDrawing(int token, dev.moa.runtime.generate.Sampler sampler) {
        if (sampler.greedy()) return decodeGreedy(token);
        if (accelerator == null || position == 0) return sampler.next(decode(token));
        requireRoom(1);
        requireToken(token);
        DeviceDecoder.Draw draw = DeviceDecoder.Draw.of(sampler);
        DeviceDecoder.Chosen step;
        synchronized (accelerator) { // no other session grows the KV pool between choosing the step and running it
            ownDevice();
            // (and the draw after it, its uniform left in the sampler's sequence: the step after this one is queued with it)
            step = device.decodeDrawing(new int[] {token}, new int[] {position}, new DeviceDecoder.Draw[] {draw},
                    new DeviceDecoder.Draw[] {DeviceDecoder.Draw.next(sampler)});
        }
        int next = step.token(0, draw, sampler, position);
        position++;
        return next;
    }

    /** This session's device step after its first decoded token, if it decodes on an accelerator. */
    public java.util.Optional<DeviceDecoder> deviceStep() {
        return java.util.Optional.ofNullable(device);
    }

    /** Where this session's decode steps run: "cpu" or the accelerator's name. */
    public String device() {
        return accelerator == null ? "cpu" : accelerator.name();
    }

    /** Makes this session the only row of its device step (a new step over its cache where it was in a shared one). */
    private void ownDevice() {
        if (device != null && deviceRows.size() == 1 && !device.stale()) return;
        newStep(List.of(this));
    }

    /**
     * Puts {@code sessions} (in row order) into one new device step over their regions of the device's KV pool (a
     * session's first step fills its region: see {@link DeviceDecoder.Row}); nothing is copied for the others. Each
     * session then leaves its old step, which closes when the last of its sessions has left. Sessions of an old step
     * that are not moving stay in it.
     */
    static DeviceDecoder newStep(List<Session> sessions) {
        List<Session> rows = List.copyOf(sessions);
        // the sessions new to the device get their regions together: the pool grows at most once for them
        List<Session> fresh = rows.stream().filter(s -> s.region == null).toList();
        if (!fresh.isEmpty()) {
            var made = rows.get(0).accelerator.kvRegions(fresh.stream().map(s -> s.cache).toList());
            for (int i = 0; i < made.length; i++) fresh.get(i).region = made[i];
        }
        DeviceDecoder step = rows.get(0).accelerator.decoder(rows.stream().map(Session::asDeviceRow).toList());
        for (Session s : rows) {
            s.detach();
            s.inRegion = true;
        }
        for (int b = 0; b < rows.size(); b++) {
            Session s = rows.get(b);
            s.device = step;
            s.deviceRow = b;
            s.deviceRows = rows;
        }
        return step;
    }

    /** Leaves this session's device step (its cache stays in its region); the step closes when none of its sessions is left. */
    private void detach() {
        if (device == null) return;
        DeviceDecoder step = device;
        List<Session> others = deviceRows;
        device = null;
        deviceRows = null;
        for (Session s : others) if (s.device == step) return;
        step.close();
    }

    /** The device step holding exactly {@code sessions} in this order, or null. */
    static DeviceDecoder sharedStep(List<Session> sessions) {
        DeviceDecoder step = sessions.get(0).device;
        if (step == null || step.stale() || sessions.get(0).deviceRows.size() != sessions.size()) return null;
        for (int b = 0; b < sessions.size(); b++) if (sessions.get(b).device != step || sessions.get(b).deviceRow != b) return null;
        return step;
    }

    /** This session's cache as a device step takes it: its region of the KV pool ({@link #newStep} makes missing ones), filled or not. */
    private DeviceDecoder.Row asDeviceRow() {
        return new DeviceDecoder.Row(cache, position, capacity(), region, inRegion);
    }

    /** This session's region of the device's KV pool, made now for a prompt to run into; null where the device has no room. */
    private dev.moa.runtime.device.KvPool.Region ownRegion() {
        if (region == null) region = accelerator.kvRegionIfRoom(cache);
        return region;
    }

    Accelerator accelerator() {
        return accelerator;
    }

    /**
     * Frees the session's device state (its prompt in progress; its region of the KV pool; its step, once no other
     * session is in it); a CPU session holds none. Other sessions stepped with it keep their caches on the device.
     */
    @Override
    public void close() {
        if (promptRun != null) promptRun.close();
        promptRun = null;
        detach();
        if (region != null) region.close();
        region = null;
        inRegion = false;
    }

    public int position() {
        return position;
    }

    LlamaModel model() {
        return model;
    }

    /** The cache the next decoded token goes into, checked as {@link #decode} checks it. */
    KvCache cacheForDecode() {
        if (cache == null) throw new IllegalStateException("a sparse session starts with prefill(prompt)");
        requireRoom(1);
        return cache;
    }

    /** Refuses {@code more} tokens past the session's context. */
    private void requireRoom(int more) {
        if (position + more > capacity()) {
            throw new ContextOverflowException("the session's context holds " + capacity() + " tokens; " + position + " are used and "
                    + more + (more == 1 ? " more was given" : " more were given"));
        }
    }

    /** Refuses a token id without an embedding row (on the CPU the embedding lookup refuses it). */
    private void requireToken(int token) {
        int vocab = model.config().vocabSize();
        if (token < 0 || token >= vocab) throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, " + vocab + ")");
    }

    /** A token of this session went through a {@link BatchDecoder} step. */
    void advance() {
        position++;
    }

    /** Positions this session can reach. */
    public int capacity() {
        return plan == null ? capacity : model.config().maxPositions();
    }

    /** Bytes of the KV cache as decode keeps it (0 for a sparse session before its prefill). */
    public long kvCacheBytes() {
        return cache == null ? 0 : cache.byteSize();
    }

    /**
     * Bytes of memory holding this session's keys and values on the CPU now ({@link KvCache#residentBytes}): what
     * it has written there, none while they live on a device.
     */
    public long kvResidentBytes() {
        return cache == null ? 0 : cache.residentBytes();
    }

    /** Bytes of K and V the next decode step reads at the least (see {@link KvCache#bytesRead}); 0 before prefill. */
    public long kvBytesReadNext() {
        return cache == null ? 0 : cache.bytesRead(position);
    }

    /** The per-head spans of a sparse session after prefill; null for dense. */
    public HeadSpans spans() {
        return cache instanceof MoaKvCache moa ? moa.spans() : null;
    }

    /** Forgets all tokens (the cache is overwritten from position 0; a sparse cache is rebuilt at the next prefill). */
    public void reset() {
        close();
        position = 0;
        promptDone = 0;
        if (plan != null) cache = null;
    }
}
