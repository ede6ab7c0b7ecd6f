"""rtl_433 (``-F mqtt``): every decoded radio packet as JSON on ``rtl_433/<host>/events``:

    {"time":"2024-02-21 21:16:55","model":"Fineoffset-WH24","id":140,"battery_ok":1,
     "temperature_C":7.8,"humidity":87,"wind_dir_deg":212,"wind_avg_m_s":1.12,
     "wind_max_m_s":2.24,"rain_mm":1238.4,"uv":1,"uvi":0,"light_lux":0,"mic":"CRC"}

- One device only: events whose ``model`` differs from ``[input.rtl433] model``
  (required), or whose ``id``/``channel`` differ from ``id``/``channel`` there when
  those are set, are ignored (``ignored.other_device``): a receiver hears the
  neighbours' sensors too. Leave ``id`` empty if the id changes on battery swaps.
- ``time`` as rtl_433 writes it: local time without offset by default (read in
  ``[input.rtl433] timezone``), ISO with offset (``-M time:iso:tz``), or Unix seconds
  (``-M time:unix``); no ``time`` -> receive time.
- Fields (rtl_433's unit-suffixed names): temperature_C / temperature_F -> T, humidity
  -> rh, pressure_hPa / pressure_kPa -> p, wind_avg_m_s / wind_avg_km_h / wind_avg_mi_h
  -> wv, wind_max_m_s / wind_max_km_h / wind_max_mi_h -> max_wv, wind_dir_deg -> wd
  (and the older wind_speed_* / gust_speed_* names). ``[input] map`` adds others.
- Sensors repeat each packet 2-3 times within a second: a repeat of the event just
  taken (same time) is ignored (``ignored.repeat``), not counted as a duplicate.
"""

from __future__ import annotations

from ...readings import Rejection, decode
from ..settings import setting
from .base import Adapter, Ignored, bad_time, event_time, input_topic, register, timezone_setting

FIELDS = {
    "temperature_C": ("T", "degC"), "temperature_F": ("T", "degF"), "humidity": ("rh", ""),
    "pressure_hPa": ("p", "hPa"), "pressure_kPa": ("p", "kPa"),
    "wind_avg_m_s": ("wv", "m/s"), "wind_avg_km_h": ("wv", "km/h"), "wind_avg_mi_h": ("wv", "mph"),
    "wind_speed_m_s": ("wv", "m/s"), "wind_speed_km_h": ("wv", "km/h"),
    "wind_max_m_s": ("max_wv", "m/s"), "wind_max_km_h": ("max_wv", "km/h"), "wind_max_mi_h": ("max_wv", "mph"),
    "gust_speed_m_s": ("max_wv", "m/s"), "gust_speed_km_h": ("max_wv", "km/h"),
    "wind_dir_deg": ("wd", ""),
}


def _model_required(value, cfg) -> str | None:
    return None if value else 'required for format "rtl_433" (the device\'s "model" field)'


@register
class Rtl433Adapter(Adapter):
    name = "rtl_433"
    section = "rtl433"
    default_topic = "rtl_433/+/events"
    settings = {
        "model": setting("", "the one device to use, its `model` (required)", check=_model_required),
        "id": setting("", "the device's `id`", empty="any"),
        "channel": setting("", "the device's `channel`", empty="any"),
        "timezone": timezone_setting("rtl_433"),
    }
    renamed = {"rtl433_model": "model", "rtl433_id": "id", "rtl433_channel": "channel", "timezone": "timezone"}

    @classmethod
    def sensor(cls, cfg):
        own = cfg.input.rtl433  # one receiver, many devices on one topic: the filter tells them apart
        return input_topic(cfg), own.model, own.id, own.channel

    def __init__(self, cfg):
        super().__init__(cfg)
        self.fields = {**FIELDS, **self.mapping}
        self._last_time: float | None = None

    def convert(self, topic, payload, received, retained):
        obj = decode(payload, self.max_bytes)
        if isinstance(obj, Rejection):
            return obj
        want = self.own
        for key, expected in (("model", want.model), ("id", want.id), ("channel", want.channel)):
            if expected and str(obj.get(key)) != expected:
                return Ignored("other_device", f"{obj.get('model')!s:.40} id {obj.get('id')!s:.20}")
        if "time" in obj:
            time = event_time(obj["time"], want.timezone)
            if time is None:
                return bad_time("time", obj["time"])
        else:
            time = received
        if time == self._last_time:
            return Ignored("repeat", "the same packet again (sensors repeat each transmission)")
        fields = {alias: (obj[key], unit) for key, (alias, unit) in self.fields.items() if key in obj}
        result = self.reading(time, fields)
        if not isinstance(result, Rejection):
            self._last_time = time
        return result
