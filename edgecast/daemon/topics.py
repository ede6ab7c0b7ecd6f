"""What an MQTT topic, template or id of ours may hold (config.py and adapters/ both ask).

Topic templates may only use ``{station}``; ``str.format`` would evaluate
``{station.__class__}`` and allocate ``{station:>999999999}`` (a gigabyte and a minute).
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata

from .settings import ConfigError

TOPIC_MAX_BYTES = 65535  # MQTT's limit for a UTF-8 string

# What Home Assistant accepts as a discovery node/object id (its discovery topic pattern);
# also a file name on every filesystem.
SAFE_KEY = re.compile(r"[a-zA-Z0-9_-]+")
KEY_MAX = 48  # a slug of at most 39 characters, "_" and 8 hex digits
# Characters that render as nothing although Unicode counts them as letters or symbols
# (Hangul fillers, the blank Braille pattern); with whitespace, combining marks and format
# characters they make an id nobody can see in a log line or a Home Assistant device name.
BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5")


def control_char(text: str) -> str | None:
    """The first character MQTT topics should not carry (C0/C1 controls, DEL, U+FFFE/U+FFFF
    non-characters: MQTT 3.1.1 section 1.5.3), or None. A newline in a topic also forges log
    lines; format characters (bidi overrides such as U+202E, zero-width spaces, BOM) and
    line/paragraph separators make an id or topic read as something it is not."""
    for ch in text:
        o = ord(ch)
        if o < 0x20 or 0x7F <= o <= 0x9F or (o & 0xFFFE) == 0xFFFE or 0xFDD0 <= o <= 0xFDEF \
                or (o > 0x9F and unicodedata.category(ch) in ("Cf", "Zl", "Zp")):
            return ch
    return None


def invisible(text: str) -> bool:
    """True when no character of ``text`` would show: only whitespace, combining marks
    (U+034F, variation selectors), format characters or blank glyphs (U+3164, U+2800)."""
    return all(ch.isspace() or ch in BLANK_GLYPHS or unicodedata.category(ch) in ("Mn", "Me", "Cf")
               for ch in text)


def station_key(station: str) -> str:
    """The one name of a station where only ``[a-zA-Z0-9_-]`` will do: Home Assistant's
    unique ids, device identifiers and discovery topics, and the state file name. A safe
    id is its own key (so existing entities and state files keep their names); any other
    gets an ASCII slug of it plus 8 hex digits of its SHA-256, so ``roof.north`` and
    ``roof_north`` stay apart and 60 emoji still fit a 255-byte file name."""
    if SAFE_KEY.fullmatch(station) and len(station) <= KEY_MAX:
        return station
    ascii_text = unicodedata.normalize("NFKD", station).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "_", ascii_text).strip("_")[:KEY_MAX - 9]
    digest = hashlib.sha256(station.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{slug}_{digest}" if slug else digest


def fill_template(key: str, template: str, station: str) -> str:
    """A topic template with ``{station}`` filled in: the only placeholder, with no attribute
    access, indexing, conversion or format spec."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:  # an unmatched brace
        raise ConfigError(f"{key}: {template[:80]!r} is not a valid template ({exc}; "
                          "write a literal brace as {{ or }})") from None
    out = []
    for literal, field, spec, conversion in parts:
        out.append(literal)
        if field is None:
            continue
        if field != "station" or spec or conversion:
            found = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ConfigError(f"{key}: {template[:80]!r} may only use the placeholder {{station}} "
                              f"(found {found[:40]!r})")
        out.append(station)
    return "".join(out)


def topic_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be one of ours (None when fine); wildcards are checked by the caller."""
    if not topic:
        return "must not be empty"
    bad = control_char(topic)
    if bad is not None:
        return f"must not contain control characters (found {bad!r})"
    if topic.startswith("$"):
        return "must not start with $ (reserved for the broker: $SYS/...)"
    if len(topic.encode("utf-8", "surrogatepass")) > TOPIC_MAX_BYTES:
        return f"is longer than MQTT's {TOPIC_MAX_BYTES} bytes"
    return None


def publish_topic_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be published to (wildcards included), with the topic quoted."""
    if not topic or any(ch in topic for ch in ("+", "#", "\0")):
        return f"{topic!r} must be a non-empty topic without wildcards (+ #) or NUL"
    problem = topic_problem(topic)
    return f"{topic[:80]!r} {problem}" if problem else None


def subscription_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be subscribed to (``+``/``#`` only as whole levels, ``#`` last)."""
    problem = topic_problem(topic)
    if problem:
        return f"{topic[:80]!r} {problem}"
    levels = topic.split("/")
    if "\0" in topic or any(("+" in lv or "#" in lv) and lv not in ("+", "#") for lv in levels) \
            or "#" in levels[:-1]:
        return f"{topic!r} is not a valid subscription"
    return None
