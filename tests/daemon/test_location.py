"""The box knows where it is: [station] latitude/longitude, validated,
per [[stations]] entry, shown in stats and Home Assistant, handed to the model; unset,
Jena's is assumed with one warning."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from edgecast.daemon import config as config_mod
from edgecast.daemon.homeassistant import configs
from edgecast.replay import reading_payload
from edgecast.resample import HOUR
from edgecast.schema import FeatureSchema
from edgecast.solar import JENA, Location
from harness.offline import offline_station

from .test_forecast_rules import StandIn


def test_latitude_and_longitude_are_validated_and_go_together():
    cfg = config_mod.parse("[station]\nlatitude = 36.17\nlongitude = -115\n")
    assert cfg.station.location == Location(36.17, -115.0) and not cfg.station.location_assumed
    assert config_mod.Config().station.location == JENA and config_mod.Config().station.location_assumed
    for text, message in (("latitude = 90.5\nlongitude = 0", "station.latitude: must be -90..90"),
                          ("latitude = 0\nlongitude = -181", "station.longitude: must be -180..180"),
                          ("latitude = 40", "station.latitude: set station.latitude and station.longitude"),
                          ("longitude = 40", "station.longitude: set station.latitude and station.longitude"),
                          ('latitude = "50N"\nlongitude = 1', "station.latitude: expected float"),
                          ("latitude = true\nlongitude = 1", "station.latitude: expected float")):
        with pytest.raises(config_mod.ConfigError, match=f"^{message}"):
            config_mod.parse(f"[station]\n{text}\n")


def test_each_of_several_stations_has_its_own_place():
    cfg = config_mod.parse('[[stations]]\nid = "a"\nlatitude = -33.9\nlongitude = 151.2\n[[stations]]\nid = "b"\n')
    a, b = cfg.station_configs()
    assert a.station.location == Location(-33.9, 151.2) and b.station.location_assumed
    with pytest.raises(config_mod.ConfigError, match=r"^stations\[0\] \('a'\): station.latitude: must be"):
        config_mod.parse('[[stations]]\nid = "a"\nlatitude = -93\nlongitude = 0\n')
    with pytest.raises(config_mod.ConfigError, match=r"^stations\[0\].latitude: expected float"):
        config_mod.parse('[[stations]]\nid = "a"\nlatitude = "x"\n')


class Where(StandIn):
    """A stand-in model that records the location it was given."""

    def __init__(self):
        super().__init__(["T (degC)", "solar_hour_sin"])
        self.schema = FeatureSchema(features=["T (degC)", "solar_hour_sin"])
        self.locations = []

    def forecast(self, values, times, location=None):
        self.locations.append(location)
        return super().forecast(values, times, location)


def feed(s, hours=121):
    """``hours`` hourly readings of plain values (T 5 °C), 1970-02-11 on."""
    for h in range(1000, 1000 + hours):
        s.on_payload(reading_payload(np.datetime64(h * HOUR, "s"), np.full(14, 5.0)))


def station(tmp_path, where=""):
    cfg = config_mod.parse(f'[station]\nid = "x"\n{where}[state]\ndir = "{tmp_path}"\n'
                           f'[model]\npath = "{tmp_path}/none.tflite"\n')
    return offline_station(cfg)


def test_the_model_gets_the_place_and_stats_show_it(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        s = station(tmp_path, "latitude = 36.17\nlongitude = -115.14\n")
    assert "assuming Jena" not in caplog.text
    s.forecaster, s.model_error = Where(), None
    feed(s, 125)
    assert s.forecaster.locations and set(s.forecaster.locations) == {Location(36.17, -115.14)}
    stats = [p for name, p in s.link.published if name == "stats"][-1]
    assert stats["location"] == {"latitude": 36.17, "longitude": -115.14, "assumed": False}


def test_unset_place_is_jenas_with_one_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        s = station(tmp_path)
    warnings = [r.getMessage() for r in caplog.records if "latitude/longitude" in r.getMessage()]
    assert warnings == ["no [station] latitude/longitude: assuming Jena's (50.911° N, 11.568° E); set them so "
                        "the sun features match your roof"]
    s.forecaster, s.model_error = Where(), None
    feed(s, 125)
    assert set(s.forecaster.locations) == {JENA}
    assert [p for name, p in s.link.published if name == "stats"][-1]["location"]["assumed"] is True
    assert len([r for r in caplog.records if "latitude/longitude" in r.getMessage()]) == 1


def test_a_sun_reading_model_without_a_place_does_not_serve():
    from edgecast.forecaster import Forecaster, ModelCannotServe
    fake = Forecaster.__new__(Forecaster)
    fake.schema = FeatureSchema(features=["T (degC)", "sun_elevation"])
    with pytest.raises(ModelCannotServe, match="location is not known"):
        fake.forecast(np.zeros((120, 14)), np.arange(120) * np.timedelta64(1, "h") + np.datetime64("2020-01-01"))


def test_home_assistant_shows_the_place_on_the_skill_sensor():
    cfg = config_mod.parse("[station]\nid = \"x\"\nlatitude = 1\nlongitude = 2\n")
    skill = configs(cfg)["homeassistant/sensor/edgecast_x_skill_30d/config"]
    assert skill["json_attributes_topic"] == skill["state_topic"] == "edgecast/x/stats"
    for key in ("location.latitude", "location.longitude", "location.assumed"):
        assert f"value_json.{key}" in skill["json_attributes_template"]
