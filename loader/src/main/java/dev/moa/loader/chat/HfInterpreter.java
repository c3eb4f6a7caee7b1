package dev.moa.loader.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;

/**
 * The interpreter with Jinja2's way of printing {@code {{ value }}}: Python's str() ("True",
 * "['a', None]", "{'k': 1}"), and nothing for undefined. jinjava prints "true" and "null".
 */
final class HfInterpreter extends JinjavaInterpreter {
    HfInterpreter(Jinjava application, Context context, JinjavaConfig config) {
        super(application, context, config);
    }

    HfInterpreter(JinjavaInterpreter orig) {
        super(orig);
    }

    @Override
    public String getAsString(Object object) {
        return object == null ? "" : PyValues.str(object);
    }

    static final class Factory implements InterpreterFactory {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter orig) {
            return new HfInterpreter(orig);
        }

        @Override
        public JinjavaInterpreter newInstance(Jinjava application, Context context, JinjavaConfig config) {
            return new HfInterpreter(application, context, config);
        }
    }
}
