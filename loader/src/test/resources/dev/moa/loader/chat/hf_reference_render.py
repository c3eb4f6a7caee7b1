"""Reference renderer for chat-template parity tests: Python jinja2 set up exactly as Hugging Face
transformers' apply_chat_template does (transformers/utils/chat_template_utils.py), so the Java
renderer can be compared with what the models were trained against.

stdin: JSON list of cases {template, messages, add_generation_prompt, special_tokens, now}
       ("now" is an ISO date-time standing in for the clock, so strftime_now is deterministic).
stdout: JSON list of {"text": ...} or {"error": ...}, one per case.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment


class AssistantTracker(Extension):
    # HF's {% generation %} block only marks assistant spans; for plain rendering it emits its body.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


_now = [datetime.now()]


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return _now[0].strftime(fmt)


ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                    extensions=[AssistantTracker, jinja2.ext.loopcontrols])
ENV.filters["tojson"] = tojson
ENV.globals["raise_exception"] = raise_exception
ENV.globals["strftime_now"] = strftime_now
_compiled = {}


def render(case):
    _now[0] = datetime.fromisoformat(case["now"])
    try:
        source = case["template"]
        if source not in _compiled:  # transformers caches compiled templates the same way
            _compiled[source] = ENV.from_string(source)
        template = _compiled[source]
        text = template.render(messages=case["messages"], tools=None, documents=None,
                               add_generation_prompt=case["add_generation_prompt"], **case["special_tokens"])
        return {"text": text}
    except Exception as e:  # the Java side only compares that both fail, and with which message
        return {"error": f"{type(e).__name__}: {e}"}


if __name__ == "__main__":
    cases = json.load(sys.stdin)
    json.dump([render(c) for c in cases], sys.stdout, ensure_ascii=False)
