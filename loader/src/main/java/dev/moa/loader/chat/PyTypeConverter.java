package dev.moa.loader.chat;

import com.hubspot.jinjava.el.TruthyTypeConverter;

/**
 * Coercions inside expressions with Python's meaning: truthiness for {@code not}, {@code and},
 * {@code or} and conditional expressions, and str() for {@code ~} ("True", "None"-free output of
 * undefined values, Python reprs of lists and dicts).
 */
final class PyTypeConverter extends TruthyTypeConverter {
    private static final long serialVersionUID = 1L;

    @Override
    protected Boolean coerceToBoolean(Object value) {
        return PyTruth.test(value);
    }

    /** Jinja2 renders undefined as "" and {@code ~} joins str() of each side; jinjava's null is undefined. */
    @Override
    protected String coerceToString(Object value) {
        return value == null ? "" : PyValues.str(value);
    }
}
