package dev.moa.loader.chat;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.ext.AbsOperator;
import com.hubspot.jinjava.el.ext.AstNamedParameter;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import com.hubspot.jinjava.el.ext.NamedParameterOperator;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.function.Predicate;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.TreeBuilder;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Parser.ExtensionPoint;
import jinjava.de.odysseus.el.tree.impl.Scanner;
import jinjava.de.odysseus.el.tree.impl.Scanner.ScanException;
import jinjava.de.odysseus.el.tree.impl.Scanner.Symbol;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstBracket;
import jinjava.de.odysseus.el.tree.impl.ast.AstDot;
import jinjava.de.odysseus.el.tree.impl.ast.AstIdentifier;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstParameters;
import jinjava.de.odysseus.el.tree.impl.ast.AstUnary;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELException;

/**
 * jinjava's expression parser with the places where its grammar differs from Jinja2's fixed, each
 * of which real chat templates hit:
 * <ul>
 *   <li>{@code not} binds looser than comparisons and tests: {@code not x is defined} is
 *       {@code not (x is defined)}, not {@code (not x) is defined};</li>
 *   <li>a keyword argument's value is a whole expression: {@code namespace(i=messages|length - 1)};</li>
 *   <li>slices take a step: {@code messages[::-1]};</li>
 *   <li>{@code i+1} is an addition (jinjava scans "+1" as a unary plus and then fails);</li>
 *   <li>{@code a and b} yields an operand, as in Python, not a boolean;</li>
 *   <li>{@code ==} / {@code !=} compare as Python does, without JUEL's coercions;</li>
 *   <li>a filter or test Jinja2 does not have is an error, as in transformers (jinjava ignores
 *       unknown filters silently and has extras such as {@code from_json});</li>
 *   <li>string literals take Python's escapes (see {@link PyStringScanner}).</li>
 * </ul>
 */
final class Jinja2Parser extends ExtendedParser {
    Jinja2Parser(Builder builder, String input) {
        super(builder, input);
    }

    /** The expression factory jinjava evaluates every expression with, using this parser. */
    static final class Factory extends ExpressionFactoryImpl {
        Factory() {
            super(new Properties(), new PyTypeConverter());
        }

        @Override
        protected TreeBuilder createTreeBuilder(Properties properties, Builder.Feature... features) {
            return new SyntaxBuilder(features);
        }
    }

    private static final class SyntaxBuilder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        SyntaxBuilder(Builder.Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            return new Jinja2Parser(this, expression);
        }
    }

    /** Jinja2's built-in filters (3.1); only these exist where transformers renders templates. */
    private static final Set<String> JINJA2_FILTERS = Set.of(
            "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
            "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join",
            "last", "length", "list", "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr",
            "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags",
            "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount",
            "wordwrap", "xmlattr");

    /** Jinja2's built-in tests (3.1). */
    private static final Set<String> JINJA2_TESTS = Set.of(
            "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false", "filter",
            "float", "ge", "gt", "greaterthan", "in", "integer", "iterable", "le", "lower", "lt", "lessthan",
            "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string", "test", "true", "undefined",
            "upper", "==", "!=", ">", ">=", "<", "<=");

    /** ExtendedParser names filters "filter:NAME" and tests "exptest:NAME"; reject the ones Jinja2 lacks. */
    @Override
    protected AstIdentifier createAstIdentifier(String name, int index) {
        if (name.startsWith(FILTER_PREFIX)) {
            String filter = name.substring(FILTER_PREFIX.length());
            if (!JINJA2_FILTERS.contains(filter) || !available(ctx -> ctx.getFilter(filter) != null)) {
                throw new ELException("No filter named '" + filter + "'.");
            }
        } else if (name.startsWith(EXPTEST_PREFIX)) {
            String test = name.substring(EXPTEST_PREFIX.length());
            if (!JINJA2_TESTS.contains(test) || !available(ctx -> ctx.getExpTest(test) != null)) {
                throw new ELException("No test named '" + test + "'.");
            }
        }
        return super.createAstIdentifier(name, index);
    }

    private static boolean available(Predicate<Context> lookup) {
        JinjavaInterpreter interpreter = JinjavaInterpreter.getCurrent();
        return interpreter == null || lookup.test(interpreter.getContext());
    }

    /** Jinja2: {@code not_expr := 'not' not_expr | compare}; JUEL's {@code eq} level is where comparisons start. */
    @Override
    protected AstNode eq(boolean required) throws ScanException, ParseException {
        if (getToken().getSymbol() == Symbol.NOT) {
            consumeToken();
            return createAstUnary(eq(true), AstUnary.NOT);
        }
        return super.eq(required);
    }

    /** ExtendedParser's additive level, also taking jinjava's "+digit" token as a binary plus. */
    @Override
    protected AstNode add(boolean required) throws ScanException, ParseException {
        AstNode v = mul(required);
        if (v == null) return null;
        while (true) {
            Symbol symbol = getToken().getSymbol();
            if (symbol == Symbol.PLUS || getToken() == AbsOperator.TOKEN) {
                consumeToken();
                v = createAstBinary(v, mul(true), PY_ADD);
            } else if (symbol == Symbol.MINUS) {
                consumeToken();
                v = createAstBinary(v, mul(true), AstBinary.SUB);
            } else if (symbol == Symbol.EXTENSION && getExtensionHandler(getToken()).getExtensionPoint() == ExtensionPoint.ADD) {
                v = getExtensionHandler(consumeToken()).createAstNode(v, mul(true));
            } else {
                return v;
            }
        }
    }

    @Override
    protected AstBinary createAstBinary(AstNode left, AstNode right, AstBinary.Operator operator) {
        AstBinary.Operator op = operator;
        if (operator == AstBinary.AND) op = PY_AND;
        else if (operator == AstBinary.EQ) op = PY_EQ;
        else if (operator == AstBinary.NE) op = PY_NE;
        return super.createAstBinary(left, right, op);
    }

    /**
     * Python's {@code +}: str + str concatenates, str + anything else is a TypeError and None or
     * undefined operands fail (jinjava would print "null" or "true" into the prompt).
     */
    private static final AstBinary.Operator PY_ADD = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            try {
                return PyValues.add(left.eval(bindings, context), right.eval(bindings, context));
            } catch (IllegalArgumentException e) {
                throw new ELException(e.getMessage());
            }
        }

        @Override
        public String toString() {
            return "+";
        }
    };

    /** Python's {@code ==} and {@code !=}: JUEL's coerce ('1' == 1 is true there) and fail on bool against number. */
    private static final AstBinary.Operator PY_EQ = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            return PyValues.eq(left.eval(bindings, context), right.eval(bindings, context));
        }

        @Override
        public String toString() {
            return "==";
        }
    };

    private static final AstBinary.Operator PY_NE = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            return !PyValues.eq(left.eval(bindings, context), right.eval(bindings, context));
        }

        @Override
        public String toString() {
            return "!=";
        }
    };

    /** Python's {@code and}: the left operand when it is falsy, else the right one. */
    private static final AstBinary.Operator PY_AND = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            Object l = left.eval(bindings, context);
            return bindings.convert(l, Boolean.class) ? right.eval(bindings, context) : l;
        }

        @Override
        public String toString() {
            return "&&";
        }
    };

    /** Call arguments, where {@code name=expression} takes the whole expression as its value. */
    @Override
    protected AstParameters params(Symbol left, Symbol right) throws ScanException, ParseException {
        consumeToken(left);
        List<AstNode> args = new ArrayList<>();
        AstNode arg = argument(false);
        if (arg != null) {
            args.add(arg);
            while (getToken().getSymbol() == Symbol.COMMA) {
                consumeToken();
                // Python accepts a trailing comma.
                if (getToken().getSymbol() == right) break;
                args.add(argument(true));
            }
        }
        consumeToken(right);
        return createAstParameters(args);
    }

    private AstNode argument(boolean required) throws ScanException, ParseException {
        if (getToken().getSymbol() == Symbol.IDENTIFIER && lookahead(0) == NamedParameterOperator.TOKEN) {
            String name = consumeToken().getImage();
            consumeToken();
            return new AstNamedParameter(identifier(name), expr(true));
        }
        return expr(required);
    }

    /** ExtendedParser's postfix loop ({@code .name}, {@code .name(...)}, {@code [key]}) plus Python slices. */
    @Override
    protected AstNode value() throws ScanException, ParseException {
        boolean lvalue = true;
        AstNode v = nonliteral();
        if (v == null) {
            v = literal();
            if (v == null) return null;
            lvalue = false;
        }
        boolean methods = context.isEnabled(Builder.Feature.METHOD_INVOCATIONS);
        while (true) {
            switch (getToken().getSymbol()) {
                case DOT -> {
                    consumeToken();
                    String name = consumeToken(Symbol.IDENTIFIER).getImage();
                    AstDot dot = createAstDot(v, name, lvalue);
                    v = getToken().getSymbol() == Symbol.LPAREN && methods ? createAstMethod(dot, params()) : dot;
                }
                case LBRACK -> {
                    consumeToken();
                    AstNode start = isColon() ? null : expr(false);
                    if (isColon()) {
                        consumeToken();
                        AstNode stop = isColon() || getToken().getSymbol() == Symbol.RBRACK ? null : expr(false);
                        AstNode step = null;
                        if (isColon()) {
                            consumeToken();
                            step = expr(false);
                        }
                        consumeToken(Symbol.RBRACK);
                        v = new PySlice(v, start, stop, step);
                    } else {
                        consumeToken(Symbol.RBRACK);
                        AstBracket bracket = createAstBracket(v, start, lvalue, !context.isEnabled(Builder.Feature.NULL_PROPERTIES));
                        v = getToken().getSymbol() == Symbol.LPAREN && methods ? createAstMethod(bracket, params()) : bracket;
                    }
                }
                default -> {
                    return v;
                }
            }
        }
    }

    @Override
    protected Scanner createScanner(String expression) {
        return new PyStringScanner(expression);
    }

    /** ':' proper; jinjava's scanner also gives the keyword "else" the COLON symbol. */
    private boolean isColon() {
        return getToken().getSymbol() == Symbol.COLON && ":".equals(getToken().getImage());
    }
}
