"""How one configuration key is declared, checked and shown: the schema machinery.

A key is a dataclass field made by ``setting()``: its default (which also fixes its
type), one doc line, whether a SIGHUP applies it live or it needs a restart, and its
limit check. Validation, live reload, ``edgecast run --print-config`` and the table in
docs/daemon.md all read these declarations (config.py), so a key's rules live in one
place. Input adapters declare their own table (``[input.rtl433]``, a ``subsection``) the
same way (adapters/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, Field, field, fields

# check(value, cfg) -> why the value cannot be used ("must be 1..65535"), or None.
# ``cfg`` is the whole Config, for keys whose limits depend on another key. A check may
# instead raise ConfigError itself when it can name a more precise key (input.map.<key>).
Check = Callable[[object, object], "str | None"]


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key."""


def setting(default, doc: str, *, live: bool = False, check: Check | None = None, empty: str = "",
            kind: type | None = None, example=None) -> Field:
    """One key. ``live``: a SIGHUP applies it to the running daemon (else: at the next
    restart); ``empty``: what the default "" (or an unset key) stands for, in the docs table.
    A key with no default (``None``: unset unless the file sets it) names its ``kind``
    (``float``) and an ``example`` value for ``--print-config``, which shows it commented out."""
    if default is None and (kind is None or example is None):
        raise TypeError("a setting without a default needs its kind and an example")
    meta = {"doc": doc, "live": live, "check": check, "empty": empty, "kind": kind, "example": example}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


def subsection(cls: type, doc: str, *, when: Callable[[object], bool] | None = None) -> Field:
    """A table inside a section (``[input.rtl433]``): its own keys, declared with setting().
    ``when(section)``: whether the parent's values make this table apply (its checks run
    only then); None = always."""
    return field(default_factory=cls, metadata={"doc": doc, "live": False, "subsection": True, "when": when})


def is_subsection(f: Field) -> bool:
    return f.metadata.get("subsection", False)


def settings_of(cls) -> list[Field]:
    """The keys of a section, without its sub-tables."""
    return [f for f in fields(cls) if not is_subsection(f)]


def subsections_of(cls) -> list[Field]:
    return [f for f in fields(cls) if is_subsection(f)]


def live_keys(sections: dict) -> list[str]:
    """The dotted names (``alerts.frost_c``, ``input.rtl433.<key>``) of every key a SIGHUP
    applies to the running daemon, in declaration order."""
    out = []
    for name, cls in sections.items():
        out += [f"{name}.{f.name}" for f in settings_of(cls) if f.metadata["live"]]
        out += live_keys({f"{name}.{sub.name}": sub.default_factory for sub in subsections_of(cls)})
    return out


def default_of(f: Field):
    return f.default_factory() if f.default is MISSING else f.default


# --- limit checks (the message says what is allowed) -------------------------------------------
def between(lo, hi) -> Check:
    return lambda v, cfg: None if lo <= v <= hi else f"must be {lo}..{hi}"


def at_least(lo, why: str = "") -> Check:
    return lambda v, cfg: None if v >= lo else (why or f"must be >= {lo}")


def one_of(allowed: tuple, why: str, normalise=lambda v: v) -> Check:
    return lambda v, cfg: None if normalise(v) in allowed else why


# --- reading a [section] table -------------------------------------------------------------------
def check_type(key: str, value, default):
    """``value`` as the type of ``default``, or ConfigError naming ``key``."""
    # bool is an int in Python; `port = true` must not pass as port 1.
    if isinstance(default, dict):  # a mapping table: string keys, string values
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__} {value!r}")
        for k, v in value.items():
            if not isinstance(v, str):
                raise ConfigError(f"{key}.{k}: expected str, got {type(v).__name__} {v!r}")
        return dict(value)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"{key}: expected {type(default).__name__}, got {type(value).__name__} {value!r}")
    return value


def read_section(name: str, cls, table) -> object:
    """A [name] table as ``cls``: unknown keys and wrong types refused (limits: check_section).

    A section class may explain an unknown key with a ``misplaced(key)`` static method
    (where that key belongs instead), appended to the error."""
    if not isinstance(table, dict):
        raise ConfigError(f"{name}: expected a [{name}] table, got {type(table).__name__}")
    known = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in known:
            hint = getattr(cls, "misplaced", lambda key: None)(key)
            raise ConfigError(f"{name}.{key}: unknown key" + (f": {hint}" if hint else
                                                               f" (known: {', '.join(sorted(known))})"))
    values = {}
    for k, v in table.items():
        if is_subsection(known[k]):
            values[k] = read_section(f"{name}.{k}", known[k].default_factory, v)
        else:
            values[k] = check_type(f"{name}.{k}", v, _typed_default(known[k]))
    return cls(**values)


def _typed_default(f: Field):
    """The default, or for an optional key (default None) a value of its kind."""
    default = default_of(f)
    return f.metadata["kind"]() if default is None else default


def check_section(name: str, section, cfg) -> None:
    """Every key's limit check, in declaration order; the first failure names its key."""
    for f in fields(section):
        if is_subsection(f):
            when = f.metadata["when"]
            if when is None or when(section):
                check_section(f"{name}.{f.name}", getattr(section, f.name), cfg)
            continue
        check = f.metadata["check"]
        value = getattr(section, f.name)
        problem = check(value, cfg) if check and value is not None else None
        if problem:
            raise ConfigError(f"{name}.{f.name}: {problem}")


# --- showing the schema --------------------------------------------------------------------------
def toml_value(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f'{k} = "{v}"' for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def applies(f: Field) -> str:
    return "live" if f.metadata["live"] else "restart"


def _flat(sections: dict):
    """(table name, its doc or None, its keys, whether it applies by default) of every
    section, each followed by its sub-tables."""
    for name, cls in sections.items():
        yield name, None, settings_of(cls), True
        for sub in subsections_of(cls):
            when = sub.metadata["when"]
            yield (f"{name}.{sub.name}", sub.metadata["doc"], settings_of(sub.default_factory),
                   when is None or when(cls()))


def toml_text(sections: dict) -> str:
    """The defaults as a TOML file, each key under its doc line; a sub-table that does not
    apply with the defaults (another input format's) is shown commented out."""
    lines = []
    for name, doc, keys, active in _flat(sections):
        off = "" if active else "# "
        lines += ([f"# {doc}"] if doc else []) + [f"{off}[{name}]"]
        for f in keys:
            lines.append(f"# {f.metadata['doc']} [{applies(f)}]")
            if default_of(f) is None:  # unset by default: shown commented out, with an example
                lines.append(f"# {f.name} = {toml_value(f.metadata['example'])}")
            else:
                lines.append(f"{off}{f.name} = {toml_value(default_of(f))}")
        lines.append("")
    return "\n".join(lines)


def markdown_table(sections: dict) -> str:
    """The docs table: key, default, when a change applies, meaning (a table without keys
    of its own has no row)."""
    rows = ["| key | default | on SIGHUP | meaning |", "|---|---|---|---|"]
    for name, _doc, keys, _active in _flat(sections):
        for n, f in enumerate(keys):
            key = f"`[{name}] {f.name}`" if n == 0 else f"`{f.name}`"
            default = "unset" if default_of(f) is None else f"`{toml_value(default_of(f))}`"
            if f.metadata["empty"]:
                default += f" → {f.metadata['empty']}"
            rows.append(f"| {key} | {default} | {applies(f)} | {f.metadata['doc'].replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


class FromConfig:
    """A station part that keeps settings in its own form (a limit in seconds): ``settings(cfg)``
    is the one place that maps the Config to its keyword arguments, read when the part is
    built (``from_config``) and again on every SIGHUP (``reconfigure``)."""

    @staticmethod
    def settings(cfg) -> dict:
        raise NotImplementedError

    def apply_settings(self, **values) -> None:
        raise NotImplementedError

    @classmethod
    def from_config(cls, cfg, **rest):
        return cls(**cls.settings(cfg), **rest)

    def reconfigure(self, cfg) -> None:
        self.apply_settings(**self.settings(cfg))
