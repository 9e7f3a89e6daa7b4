"""Rendering staff-edited message templates in a sandbox, with resource limits.

Templates are rows (MessageTemplate: key × channel × language, versioned). They run in Jinja's
ImmutableSandboxedEnvironment: a template can use the context it is given and a few formatting
filters, but cannot reach config, the app, private attributes (``__class__``...) or methods that
change data. The customer and the company reach templates as plain dictionaries of display
values, never as ORM objects, so a template cannot walk relationships or sessions either.

The sandbox also bounds what a template may cost (``LIMITS``): the text it produces (counted
everywhere, ``{% set %}`` blocks and macros included), every loop round, call and filter (one
"step" each), the render time, the size of any one value built from strings or lists (``*``,
``+``, ``%``, ``~``, ``join``, ``replace``, widths...), ``range()`` sizes and the digits of
numbers (``**``, ``*``). A template over a limit fails with ``TemplateBroken`` like any other
template mistake: the preview shows it, saving refuses it, a job logs it; nothing hangs.

An e-mail's HTML part receives the rendered text as ``text_body``: the default HTML template is a
layout around it (``{{ text_body|paragraphs }}``), and staff may replace it with their own HTML.

Why one module of about 600 lines: the sandbox, its limits and the renderer are one security
boundary, reviewed together.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
    nodes,
    pass_context,
)
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import TemplateRuntimeError
from jinja2.runtime import Namespace
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape
from sqlalchemy import select

from app.core.i18n import day, language_locale, money
from app.extensions import db
from app.notifications.models import MessageTemplate


class TemplateMissing(LookupError):
    """No active template for this key, channel and language."""


class TemplateBroken(ValueError):
    """The template does not compile or render (syntax error, unknown variable, forbidden call,
    a limit exceeded). ``error`` is the message for staff, ``lineno`` the template line when
    known, ``part`` which text it is in (subject, body_text, body_html)."""

    def __init__(self, error: str, *, lineno: int | None = None, part: str | None = None):
        super().__init__(error)
        self.error = error
        self.lineno = lineno
        self.part = part


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    text: str
    html: str | None
    template: MessageTemplate


@dataclass(frozen=True)
class Limits:
    max_output: int = 500_000      # characters produced by one part (set blocks, macros too)
    max_value: int = 1_000_000     # characters of one string or written-out list/dict
    max_range: int = 10_000        # numbers in one range()
    max_steps: int = 200_000       # loop rounds + calls + filters in one part
    max_int_digits: int = 1_000    # digits of a number built with * or **
    max_seconds: float = 1.0       # CPU time of one part's rendering (its thread)
    max_source: int = 50_000       # characters of one part's template text


LIMITS = Limits()


class LimitExceeded(TemplateRuntimeError):
    """A template went over one of LIMITS (the message is for staff, translated)."""


@dataclass
class _Budget:
    limits: Limits
    deadline: float
    steps: int = 0
    produced: int = 0
    writes: int = 0


# The render deadline counts the rendering thread's own CPU time, not the clock: a template
# cannot wait on anything (no I/O in the sandbox), so only its own work can make it slow, and
# a legitimate long reminder must not fail because the host is busy with other work.
_cpu_seconds = time.thread_time

_BUDGET: ContextVar[_Budget | None] = ContextVar("creditdesk_template_budget", default=None)


def _step() -> None:
    budget = _BUDGET.get()
    if budget is None:  # compile-time constant folding: the size checks still apply
        return
    budget.steps += 1
    if budget.steps > budget.limits.max_steps:
        raise LimitExceeded(_("The template repeats too much: more than %(n)s loop rounds, "
                              "calls and filters.", n=budget.limits.max_steps))
    if not budget.steps & 15 and _cpu_seconds() > budget.deadline:
        _too_slow(budget)


def _too_slow(budget: _Budget) -> None:
    raise LimitExceeded(_("The template takes more than %(n)s second(s) to render.",
                          n=budget.limits.max_seconds))


def _limits() -> Limits:
    budget = _BUDGET.get()
    return budget.limits if budget is not None else LIMITS


def _size(value: Any, limit: int) -> int:
    """About how many characters ``value`` takes written out; counting stops past ``limit``
    (a list of a list of ... the same long string is cheap to build, not to print)."""
    if isinstance(value, str):
        return len(value)
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, Namespace):
            stack.append(vars(item))
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        else:
            total += 8
        if total > limit:
            break
    return total


def _too_big() -> LimitExceeded:
    return LimitExceeded(_("A value in the template would be longer than %(n)s characters.",
                           n=_limits().max_value))


def _check_size(value: Any) -> Any:
    if _size(value, _limits().max_value) > _limits().max_value:
        raise _too_big()
    return value


def _check_digits(bits: int) -> None:
    """A number of about ``bits`` binary digits (x 0.302: decimal digits) would be made."""
    if bits * 0.302 > _limits().max_int_digits:
        raise LimitExceeded(_("A number in the template would have more than %(n)s digits.",
                              n=_limits().max_int_digits))


_FORMAT_NUMBER = re.compile(r"\d+")


def _check_format(fmt: str, values: Iterable[Any]) -> None:
    """``"%s" % x``, ``"{}".format(x)``, ``|format``: the widths and each repeated value."""
    limit = _limits().max_value
    if any(len(n) > 7 or int(n) > limit for n in _FORMAT_NUMBER.findall(fmt)) or "*" in fmt:
        raise _too_big()
    values = list(values)
    # a number may also be a width: "{0:{1}}".format(x, 10**9)
    if any(isinstance(v, int) and abs(v) > limit for v in values):
        raise _too_big()
    largest = max((_size(v, limit) for v in values), default=0)
    fields = fmt.count("%") + fmt.count("{")
    if len(fmt) + fields * largest > limit:
        raise _too_big()


def _format_values(args: tuple, kwargs: dict) -> list:
    values = list(args) + list(kwargs.values())
    expanded = []
    for value in values:
        if isinstance(value, dict):
            expanded.extend(value.values())
        elif isinstance(value, tuple):
            expanded.extend(value)
        else:
            expanded.append(value)
    return expanded


def _check_str_method(owner: str, name: str, args: tuple, kwargs: dict) -> None:
    limit = _limits().max_value
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else kwargs.get("width", 0)
        if isinstance(width, int) and width > limit:
            raise _too_big()
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = owner.count(old) if old else len(owner) + 1
        if len(owner) + count * len(new) > limit:
            raise _too_big()
    elif name in ("format", "format_map"):
        _check_format(owner, _format_values(args, kwargs))
    elif name in ("expandtabs", "translate", "maketrans"):
        raise LimitExceeded(_("The template uses %(name)s(), which message templates cannot "
                              "use.", name=name))


# --- filters: each call is a step; the ones that can make a value grow are checked first -------

def _filter_arguments(name: str, args: tuple, kwargs: dict) -> None:
    limit = _limits().max_value
    value = args[0] if args else None
    rest = args[1:]
    if name in _STRINGIFYING and not isinstance(value, str):
        _check_size(value)
    if name == "center":
        width = rest[0] if rest else kwargs.get("width", 80)
        if isinstance(width, int) and width > limit:
            raise _too_big()
    elif name == "indent":
        width = rest[0] if rest else kwargs.get("width", 4)
        pad = width if isinstance(width, int) else len(str(width))
        if len(str(value)) + (str(value).count("\n") + 1) * pad > limit:
            raise _too_big()
    elif name == "wordwrap":
        width = rest[0] if rest else kwargs.get("width", 79)
        wrap = rest[2] if len(rest) > 2 else kwargs.get("wrapstring") or "\n"
        lines = len(str(value)) // max(int(width) if isinstance(width, int) else 1, 1) + 1
        if len(str(value)) + (lines + str(value).count("\n")) * len(str(wrap)) > limit:
            raise _too_big()
    elif name == "replace" and len(rest) >= 2:
        _check_str_method(str(value), "replace", rest[:2], {})
    elif name == "format":
        _check_format(str(value), _format_values(rest, kwargs))
    elif name in ("batch", "slice", "truncate", "round") and any(
            isinstance(a, int) and a > limit for a in (*rest, *kwargs.values())):
        raise _too_big()


_STRINGIFYING = frozenset({
    "string", "tojson", "pprint", "e", "escape", "forceescape", "urlize", "striptags",
    "wordcount", "safe", "title", "upper", "lower", "capitalize", "trim", "center", "indent",
    "wordwrap", "truncate", "replace", "format", "urlencode", "xmlattr", "paragraphs"})
_CHECKED_FILTERS = _STRINGIFYING | {"batch", "slice", "round"}


def _limited_filter(name: str, func):
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    if name == "join":
        @wraps(func)
        def join(*args, **kwargs):
            _step()
            items = list(args[offset]) if offset < len(args) else []
            separator = args[offset + 1] if len(args) > offset + 1 else kwargs.get("d", "")
            limit = _limits().max_value
            total = len(str(separator)) * len(items)
            for item in items:
                total += _size(item, limit)
                if total > limit:
                    raise _too_big()
            return _check_size(func(*args[:offset], items, *args[offset + 1:], **kwargs))
        return join

    if name in _CHECKED_FILTERS:
        @wraps(func)
        def checked(*args, **kwargs):
            _step()
            _filter_arguments(name, args[offset:], kwargs)
            return _short(func(*args, **kwargs))
        return checked

    @wraps(func)
    def counted(*args, **kwargs):  # most filters (money, date): kept to a few operations
        budget = _BUDGET.get()
        if budget is not None:
            budget.steps += 1
            if budget.steps > budget.limits.max_steps or not budget.steps & 15:
                budget.steps -= 1
                _step()
        result = func(*args, **kwargs)
        if isinstance(result, str) and len(result) > _limits().max_value:
            raise _too_big()
        return result

    return counted


def _short(result: Any) -> Any:
    if isinstance(result, str) and len(result) > _limits().max_value:
        raise _too_big()
    return result


# --- the template's own helpers, inserted by the code generator below ---------------------------

@pass_context
def _loop(context, iterable) -> Iterator[Any]:
    """What a {% for %} walks: every round is a step."""
    for item in iterable:
        _step()
        yield item


@pass_context
def _sized(context, value):
    return _check_size(value)


@pass_context
def _produce(context, value):
    """Every value a template writes goes through here (the environment's ``finalize``)."""
    budget = _BUDGET.get()
    if budget is not None:  # the hot path of every render: kept to a few operations
        budget.produced += (len(value) if isinstance(value, str)
                            else _size(value, budget.limits.max_output))
        budget.writes += 1
        if budget.produced > budget.limits.max_output:
            _too_much(budget)
        if not budget.writes & 63 and _cpu_seconds() > budget.deadline:
            _too_slow(budget)
    return value


@pass_context
def _literal(context, length: int) -> str:
    """Counts the literal text of the output node it leads (a loop or macro repeats it)."""
    budget = _BUDGET.get()
    if budget is not None:
        _count_output(budget, length)
    return ""


def _too_much(budget: _Budget) -> None:
    raise LimitExceeded(_("The template writes more than %(n)s characters.",
                          n=budget.limits.max_output))


def _count_output(budget: _Budget, length: int) -> None:
    budget.produced += length
    if budget.produced > budget.limits.max_output:
        _too_much(budget)
    budget.writes += 1
    if not budget.writes & 63 and _cpu_seconds() > budget.deadline:
        _too_slow(budget)


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > _limits().max_range:
        raise LimitExceeded(_("range() may count at most %(n)s numbers.",
                              n=_limits().max_range))
    return numbers


_INTERNAL = {"_cd_loop": _loop, "_cd_sized": _sized, "_cd_literal": _literal}


def _internal_filter(name: str, node: nodes.Expr) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Instrument(NodeTransformer):
    """Rewrites a parsed template before it is compiled: loops count their rounds, ``~``
    checks its operands and result, and each output node counts its literal text."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = _internal_filter("_cd_loop", node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Expr:
        self.generic_visit(node)
        node.nodes = [_internal_filter("_cd_sized", n) for n in node.nodes]
        return _internal_filter("_cd_sized", node)

    def visit_Output(self, node: nodes.Output) -> nodes.Output:
        self.generic_visit(node)
        literal = sum(len(n.data) for n in node.nodes if isinstance(n, nodes.TemplateData))
        if literal:
            node.nodes.insert(0, _internal_filter("_cd_literal", nodes.Const(literal,
                                                                             lineno=node.lineno)))
        return node


class _LimitedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame=None) -> None:
        _Instrument().visit(node)
        super().visit_Template(node, frame)


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with LIMITS: see the module's docstring."""

    code_generator_class = _LimitedCodeGenerator
    # Intercepted operators are also never folded at compile time ('x' * 10**9 in a template
    # would otherwise be computed while compiling it).
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(finalize=_produce, **kwargs)
        self.globals.pop("lipsum", None)  # up to n × max words of text per call
        self.globals["range"] = _range

    def install_filters(self, **filters: Any) -> None:
        self.filters.update(filters)
        self.filters.update({name: _limited_filter(name, func)
                             for name, func in self.filters.items() if name not in _INTERNAL})
        self.filters.update(_INTERNAL)

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        limit = _limits().max_value
        if operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                _check_digits(abs(left).bit_length() + abs(right).bit_length())
            else:
                sequence, times = (left, right) if isinstance(right, int) else (right, left)
                if (isinstance(times, int) and times > 0 and isinstance(sequence, str | list | tuple)
                        and _size(sequence, limit) * times > limit):
                    raise _too_big()
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0:
                _check_digits(abs(left).bit_length() * right)
        elif operator == "%" and isinstance(left, str):
            values = right if isinstance(right, tuple) else (right,)
            _check_format(left, _format_values(values, {}))
        elif (operator == "+" and isinstance(left, str | list | tuple)
              and isinstance(right, str | list | tuple)
              and _size(left, limit) + _size(right, limit) > limit):
            raise _too_big()
        return super().call_binop(context, operator, left, right)

    def call(self, context, obj, /, *args: Any, **kwargs: Any) -> Any:
        _step()
        owner = getattr(getattr(obj, "__wrapped__", obj), "__self__", None)
        if isinstance(owner, str):
            _check_str_method(owner, getattr(obj, "__name__", ""), args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, str) and len(result) > _limits().max_value:
            raise _too_big()
        return result


_URL = re.compile(r"(https?://[^\s<>\"']+)")


def paragraphs(text: Any) -> Markup:
    """Plain text -> HTML paragraphs, line breaks kept and web addresses made clickable."""
    blocks = [b for b in re.split(r"\n\s*\n", str(text or "").strip()) if b.strip()]
    html = []
    for block in blocks:
        lines = [_URL.sub(r'<a href="\1">\1</a>', str(escape(line))) for line in block.splitlines()]
        html.append("<p>" + "<br>\n".join(lines) + "</p>")
    return Markup("\n".join(html))


def _defined(func):
    """Our filters name the missing variable (not "cannot convert StrictUndefined")."""
    @wraps(func)
    def check(value, *args, **kwargs):
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return func(value, *args, **kwargs)
    return check


def _environment(autoescape: bool) -> LimitedSandbox:
    env = LimitedSandbox(autoescape=autoescape, undefined=StrictUndefined,
                         trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.install_filters(money=_defined(money), date=_defined(day),
                        paragraphs=_defined(paragraphs))
    # No globals beyond Jinja's harmless defaults (range, dict, cycler, joiner, namespace);
    # the sandbox keeps them from reaching __globals__ and friends.
    return env


_TEXT_ENV = _environment(autoescape=False)
_HTML_ENV = _environment(autoescape=True)
ENVIRONMENT = _TEXT_ENV  # for parsing and analysing sources (app.notifications.events)

_NOT_ALLOWED = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


def parse(source: str) -> nodes.Template:
    """The checked AST of a source: it compiles, and reaches for no other template.
    Raises TemplateBroken with the line."""
    if len(source or "") > LIMITS.max_source:
        raise TemplateBroken(_("The template is longer than %(n)s characters.",
                               n=LIMITS.max_source), lineno=1)
    try:
        ast = _TEXT_ENV.parse(source or "")
    except TemplateSyntaxError as exc:
        raise TemplateBroken(exc.message or str(exc), lineno=exc.lineno) from exc
    for node in ast.find_all(_NOT_ALLOWED):
        raise TemplateBroken(_("Message templates cannot include, import or extend other "
                               "templates."), lineno=node.lineno)
    return ast


@lru_cache(maxsize=1024)
def _compiled(html: bool, source: str) -> Template:
    """Compiling is the slow part of rendering; a template's source is compiled once."""
    parse(source)
    return (_HTML_ENV if html else _TEXT_ENV).from_string(source)


def check_syntax(source: str, html: bool = False) -> None:
    """Raise TemplateBroken when staff typed a template Jinja cannot compile (unknown filters
    included) or one that includes other templates."""
    parse(source)
    try:
        _compiled(html, source or "")
    except TemplateSyntaxError as exc:
        raise TemplateBroken(exc.message or str(exc), lineno=exc.lineno) from exc
    except TemplateError as exc:
        raise TemplateBroken(str(exc)) from exc


def active_template(key: str, channel: str, language: str) -> MessageTemplate:
    """The newest active version in the language, else in English (never silently nothing)."""
    for lang in dict.fromkeys((language, "en")):
        template = db.session.scalar(
            select(MessageTemplate)
            .where(MessageTemplate.key == key, MessageTemplate.channel == channel,
                   MessageTemplate.language == lang, MessageTemplate.active.is_(True))
            .order_by(MessageTemplate.version.desc()).limit(1)
        )
        if template is not None:
            return template
    raise TemplateMissing(f"{key}/{channel}/{language}")


def _template_line(exc: BaseException) -> int | None:
    """The template line of a render error (Jinja rewrites tracebacks to template lines)."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# Mistakes a template can make with real values, e.g. {{ "x"|money }} or {{ 1 / 0 }}.
_TEMPLATE_MISTAKES = (TemplateError, TypeError, ValueError, ArithmeticError, LookupError,
                      AttributeError, RecursionError)


def _render_part(part: str, html: bool, source: str, context: dict,
                 limits: Limits = LIMITS) -> str:
    """One source rendered within ``limits``; TemplateBroken names the part and line."""
    try:
        template = _compiled(html, source)
    except TemplateBroken as exc:
        raise TemplateBroken(exc.error, lineno=exc.lineno, part=part) from exc
    except TemplateSyntaxError as exc:
        raise TemplateBroken(exc.message or str(exc), lineno=exc.lineno, part=part) from exc
    budget = _Budget(limits=limits, deadline=_cpu_seconds() + limits.max_seconds)
    token = _BUDGET.set(budget)
    try:
        return "".join(template.generate(context))
    except LimitExceeded as exc:
        raise TemplateBroken(exc.message or str(exc), lineno=_template_line(exc),
                             part=part) from exc
    except RecursionError as exc:
        raise TemplateBroken(_("The template calls itself too deeply."), part=part) from exc
    except TemplateError as exc:
        raise TemplateBroken(exc.message or str(exc), lineno=_template_line(exc),
                             part=part) from exc
    except _TEMPLATE_MISTAKES as exc:
        raise TemplateBroken(f"{type(exc).__name__}: {exc}", lineno=_template_line(exc),
                             part=part) from exc
    finally:
        _BUDGET.reset(token)


def render_source(subject: str | None, body_text: str, body_html: str | None, language: str,
                  context: dict) -> tuple[str | None, str, str | None]:
    """Render template sources (a saved version, or what staff are typing in the preview)."""
    with force_locale(language_locale(language)):
        subject_out = (_render_part("subject", False, subject, context).strip()
                       if subject else None)
        subject_out = " ".join(subject_out.split()) if subject_out else subject_out
        text = _render_part("body_text", False, body_text or "", context).strip() + "\n"
        html = (_render_part("body_html", True, body_html,
                             {**context, "text_body": text, "subject": subject_out})
                if body_html else None)
    return subject_out, text, html


def render_template(template: MessageTemplate, context: dict) -> Rendered:
    """Render one template version for a context, in the template's language."""
    try:
        subject, text, html = render_source(template.subject, template.body_text,
                                            template.body_html, template.language, context)
    except TemplateBroken as exc:
        raise TemplateBroken(f"{template!r}: {exc}", lineno=exc.lineno, part=exc.part) from exc
    return Rendered(subject=subject, text=text, html=html, template=template)


def render(key: str, channel: str, language: str, context: dict) -> Rendered:
    return render_template(active_template(key, channel, language), context)
