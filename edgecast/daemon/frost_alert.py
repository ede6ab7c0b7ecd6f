"""The station's frost warning: its alert topic's state, carried across restarts.

Every forecast moves the alert through edgecast.alerts.FrostRule (the rule the offline
figures in BENCHMARKS.md were measured with). The alert topic gets a retained JSON
payload each hour, before that hour's forecast (whose ``frost_alert`` repeats the flag):

    {"station": "jena", "frost": true, "since": "2020-01-20T04:00:00Z",
     "min_c": -2.354, "min_at": "2020-01-24T05:00:00Z", "source": "model",
     "threshold_c": 0.0, "warn_below_c": 1.0, "issued_at": "2020-01-23T18:00:00Z",
     "probability": 0.83, "rule": "margin"}

``since``: when the alert last switched (null before it ever did); ``source``: where the
curve's hours came from (the forecast's ``hourly_source``); ``probability``: the
forecast's ``frost_probability``; ``rule``: which moved the alert ("margin" or
"probability", ``[alerts] frost_rule``).
"""

from __future__ import annotations

from ..alerts import FrostRule
from .hourly import finite


class FrostAlert:
    def __init__(self):
        self.on = False
        self.since: str | None = None
        self.last: dict | None = None  # the latest alert payload (republished on connect)

    def update(self, rule: FrostRule, forecast: dict) -> str | None:
        """Move the alert with this hour's forecast; returns "on"/"off" when it switched."""
        was = self.on
        self.on = rule.next_state(was, forecast["min_c"], forecast.get("frost_probability"))
        if self.on != was:
            self.since = forecast["issued_at"]
        self.last = {"station": forecast["station"], "frost": self.on, "since": self.since,
                     "min_c": forecast["min_c"], "min_at": forecast["min_at"], "source": forecast["hourly_source"],
                     "threshold_c": rule.threshold_c, "warn_below_c": round(rule.warn_below_c, 3),
                     "issued_at": forecast["issued_at"], "probability": forecast.get("frost_probability"),
                     "rule": rule.mode}
        return None if self.on == was else ("on" if self.on else "off")

    def withdraw(self, reason: str) -> bool:
        """The readings stopped: a warning must not stand on old data. The alert turns off
        (``frost: false`` with ``stale``: why); the next forecast decides afresh. True when it was on."""
        was, self.on = self.on, False
        if self.last is not None:
            self.last = {**self.last, "frost": False, "stale": reason}
        return was

    def to_dict(self) -> dict:
        return {"on": self.on, "since": self.since, "last": self.last}

    def load_dict(self, data: dict) -> None:
        """Restore from to_dict(); ValueError when it does not fit. ``last`` is republished
        as it is at every connect: a flat object of at most MAX_FIELDS short values."""
        on, since, last = data.get("on"), data.get("since"), data.get("last")
        if not isinstance(on, bool) or not _short_text_or_none(since):
            raise ValueError("alert state is not {on: bool, since: time or null, last}")
        if last is not None and not (isinstance(last, dict) and len(last) <= MAX_FIELDS and last.get("frost") is on
                                     and all(_short_text_or_none(k) and _plain(v) for k, v in last.items())):
            raise ValueError(f"alert.last is not the alert payload (at most {MAX_FIELDS} fields of numbers, "
                             f"booleans and texts of at most {MAX_TEXT} characters)")
        self.on, self.since, self.last = on, since, last


MAX_FIELDS = 16  # the payload has 10
MAX_TEXT = 64  # station ids, ISO times, "model"/"naive"


def _short_text_or_none(x) -> bool:
    return x is None or isinstance(x, str) and len(x) <= MAX_TEXT


def _plain(x) -> bool:
    return isinstance(x, bool) or finite(x) or _short_text_or_none(x)
