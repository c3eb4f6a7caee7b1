package dev.moa.loader.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.HashMap;
import java.util.Map;
import jinjava.javax.el.ExpressionFactory;

/**
 * The jinjava engine set up to behave like the jinja2 environment Hugging Face transformers renders
 * chat templates with ({@code ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)}
 * plus {@code raise_exception}, {@code strftime_now}, its own {@code tojson} and the
 * {@code {% generation %}} block), since models were trained on exactly that output.
 */
final class HfJinja {
    /** Per-render state; the key is not a valid Jinja identifier, so templates cannot reach it. */
    private static final String STATE_KEY = "moa:render-state";

    /**
     * Jinja2 semantics rather than jinjava's historical ones: Python-style printing of lists, dicts,
     * None and booleans, natural operator precedence, strict whitespace control, iterating a dict
     * yields its keys, dict-literal keys are expressions. Not LegacyOverrides.ALL: its
     * whitespaceRequiredWithinTokens stops "{%-" right after a newline from being recognised as a tag.
     */
    private static final LegacyOverrides JINJA2_SEMANTICS = LegacyOverrides.newBuilder()
            .withEvaluateMapKeys(true)
            .withIterateOverMapKeys(true)
            .withUsePyishObjectMapper(true)
            .withUseNaturalOperatorPrecedence(true)
            .withParseWhitespaceControlStrictly(true)
            .withAllowAdjacentTextNodes(true)
            .withUseTrimmingForNotesAndExpressions(true)
            .withKeepNullableLoopValues(true)
            .withHandleBackslashInQuotesOnly(true)
            .withDefaultKeepTrailingNewlineBehavior(false)
            .build();

    private static final Jinjava ENGINE = createEngine();

    private HfJinja() {}

    /** What one render needs besides the template's variables, and what it reports back. */
    static final class RenderState {
        final Clock clock;
        String raisedMessage;

        RenderState(Clock clock) {
            this.clock = clock;
        }
    }

    private static Jinjava createEngine() {
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                // lstrip_blocks is Jinja2Source's job: jinjava strips blanks before any tag, not just at line start.
                .withLstripBlocks(false)
                // jinjava's keepTrailingNewline=false strips the *output's* last newline; Jinja2 strips
                // the *template's*, which Jinja2Source does, so jinjava must keep the output intact.
                .withKeepTrailingNewline(true)
                .withLegacyOverrides(JINJA2_SEMANTICS)
                // Templates such as Apertus' render nested tool schemas with self-recursive macros.
                .withEnableRecursiveMacroCalls(true)
                .withMaxMacroRecursionDepth(64)
                // Message contents are data: never re-interpret "{{" inside a rendered value.
                .withNestedInterpretationEnabled(false)
                .withElResolver(PythonMethods.resolver())
                .withInterperterFactory(new HfInterpreter.Factory())
                .build();
        Jinjava jinjava = new Jinja2Engine(config);
        Context globals = jinjava.getGlobalContext();
        globals.registerFunction(new ELFunctionDefinition("", "raise_exception", HfJinja.class, "raiseException", Object.class));
        globals.registerFunction(new ELFunctionDefinition("", "strftime_now", HfJinja.class, "strftimeNow", String.class));
        HfFilters.register(globals);
        HfTests.register(globals);
        globals.registerTag(new GenerationTag());
        globals.registerTag(new PyForTag());
        globals.registerTag(new PyTruth.If());
        globals.registerTag(new Jinja2Source.CommentTag());
        globals.registerTag(new FilterBlockTag());
        return jinjava;
    }

    /** jinjava whose expressions are parsed with Jinja2's grammar. */
    private static final class Jinja2Engine extends Jinjava {
        private final ExpressionFactory expressions = new Jinja2Parser.Factory();

        Jinja2Engine(JinjavaConfig config) {
            super(config);
        }

        @Override
        public ExpressionFactory getExpressionFactory() {
            return expressions;
        }
    }

    /** Renders {@code template} with {@code variables}; throws on raise_exception or on any fatal engine error. */
    static String render(String template, Map<String, Object> variables, Clock clock) {
        RenderState state = new RenderState(clock);
        Map<String, Object> bindings = new HashMap<>(variables);
        bindings.put(STATE_KEY, state);
        // Jinja2 globals are also variables: templates test "strftime_now is defined".
        bindings.put("raise_exception", GlobalFunction.RAISE_EXCEPTION);
        bindings.put("strftime_now", GlobalFunction.STRFTIME_NOW);
        RenderResult result = ENGINE.renderForResult(Jinja2Source.prepare(template), bindings);
        if (state.raisedMessage != null) {
            throw new ChatTemplateException(state.raisedMessage);
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new ChatTemplateException("chat template error at line " + error.getLineno() + ": " + describe(error), error.getException());
            }
        }
        return result.getOutput();
    }

    /** The error's message plus its root cause's, which jinjava often hides behind "Error rendering tag". */
    private static String describe(TemplateError error) {
        // jinjava prefixes tag failures with the exception class; the text after it is what matters.
        String message = error.getMessage().replaceFirst("^InterpretException: ", "");
        Throwable root = error.getException();
        while (root != null && root.getCause() != null && root.getCause() != root) root = root.getCause();
        String cause = root == null ? null : root.getMessage();
        return cause == null || message.contains(cause) ? message : message + ": " + cause;
    }

    /** Stands for a global function where a template reads it as a variable. */
    private enum GlobalFunction {
        RAISE_EXCEPTION,
        STRFTIME_NOW;

        @Override
        public String toString() {
            return "<function " + name().toLowerCase(java.util.Locale.ROOT) + ">";
        }
    }

    private static RenderState state() {
        return (RenderState) JinjavaInterpreter.getCurrent().getContext().get(STATE_KEY);
    }

    /** {@code raise_exception(msg)}: templates call it to reject conversations they cannot format. */
    static Object raiseException(Object message) {
        RenderState state = state();
        String text = String.valueOf(message);
        // jinjava records errors and keeps rendering, so keep the first message: that is where Python stops.
        if (state.raisedMessage == null) state.raisedMessage = text;
        throw new ChatTemplateException(text);
    }

    /** {@code strftime_now(fmt)}: the current local date/time formatted with Python strftime codes. */
    static String strftimeNow(String format) {
        return Strftime.format(ZonedDateTime.now(state().clock), format);
    }
}
