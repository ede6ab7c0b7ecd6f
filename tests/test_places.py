"""The sun features and the stations protocol: what makes a window mean the same on any roof."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgecast import features, places, protocol, solar
from edgecast.solar import Location

from .conftest import REPO

STATIONS = REPO.parent / "shared" / "data" / "stations"


def _hours(start: str, n: int) -> np.ndarray:
    return np.datetime64(start, "s") + np.arange(n) * np.timedelta64(3600, "s")


def test_solar_noon_follows_the_longitude():
    # 12:00 UTC is solar noon at 0° E and solar midnight at 180°: the daily cycle is the sun's, not the file's clock
    t = np.array(["2021-03-20T12:00:00"], dtype="datetime64[s]")
    assert np.cos(solar.solar_hour_angle(t, 0.0))[0] == pytest.approx(1.0)
    assert np.cos(solar.solar_hour_angle(t, 180.0))[0] == pytest.approx(-1.0)
    # Beijing (116° E) reaches its solar noon about 7.7 h before Greenwich
    day = _hours("2021-06-01T00:00", 24)
    noon = day[np.argmax(solar.sun_elevation_sine(day, Location(39.9, 116.4)))]
    assert noon == np.datetime64("2021-06-01T04:00:00")


def test_seasons_follow_the_hemisphere():
    june, december = np.array(["2021-06-21", "2021-12-21"], dtype="datetime64[s]")
    jena, porto_alegre, equator = 50.9, -30.0, 0.0
    assert solar.daylight(np.array([june]), jena)[0] > 0.66  # ~16 h
    assert solar.daylight(np.array([december]), jena)[0] < 0.34  # ~8 h
    assert solar.daylight(np.array([june]), porto_alegre)[0] < 0.45  # southern winter
    assert solar.daylight(np.array([december]), porto_alegre)[0] > 0.55
    assert solar.daylight(np.array([june, december]), equator) == pytest.approx([0.5, 0.5], abs=1e-6)
    march = np.array(["2021-03-20"], dtype="datetime64[s]")
    assert solar.daylight_trend(march, jena)[0] > 0 > solar.daylight_trend(march, porto_alegre)[0]


def test_location_is_validated():
    with pytest.raises(ValueError, match="latitude"):
        Location(91.0, 0.0)
    with pytest.raises(ValueError, match="longitude"):
        Location(0.0, 200.0)
    assert Location(-30.03, -51.23).describe() == "30.030° S, 51.230° W"


def test_sun_features_need_the_place():
    names = ["T (degC)", "solar_hour_sin", "daylight"]
    values = np.full((3, 14), 10.0)
    with pytest.raises(ValueError, match="location"):
        features.compute_columns(names, values, _hours("2021-01-01", 3))
    a = features.compute_columns(names, values, _hours("2021-01-01", 3), Location(50.0, 10.0))
    b = features.compute_columns(names, values, _hours("2021-01-01", 3), Location(50.0, -110.0))
    assert not np.allclose(a[:, 1], b[:, 1])  # solar time moved with the longitude
    np.testing.assert_allclose(a[:, 2], b[:, 2])  # day length is the latitude's


def test_a_station_file_carries_its_location_from_stations_json():
    from edgecast.data import load
    series = load(STATIONS / "inmet_a802_rio_grande.csv.xz")
    assert series.location.latitude == pytest.approx(-32.0789, abs=1e-3)
    assert series.location_source.endswith("stations.json")
    jena = load(REPO.parent / "shared" / "data" / "mpi_roof_2021_hourly.csv.xz")
    assert jena.location == solar.JENA and "assumed" in jena.location_source
    given = load(STATIONS / "inmet_a802_rio_grande.csv.xz", location=Location(1.0, 2.0))
    assert given.location == Location(1.0, 2.0)


def test_every_role_is_a_station_on_disk_and_roles_do_not_overlap():
    entries = {s["id"] for s in json.loads((STATIONS / "stations.json").read_text())["stations"]}
    ids = [s for role in places.ROLES.values() for s in role]
    assert len(ids) == len(set(ids))
    assert set(ids) - {places.JENA_ID} <= entries
    assert entries <= set(ids), f"stations without a role: {entries - set(ids)}"


def test_held_out_places_are_far_from_training_places_recorded_at_the_same_time():
    index = {s["id"]: s for s in json.loads((STATIONS / "stations.json").read_text())["stations"]}
    jena = {"lat": solar.JENA.latitude, "lon": solar.JENA.longitude,
            "period": {"first_utc": "2009-01-01", "last_utc": f"{places.JENA_BEFORE_YEAR - 1}-12-31"}}

    def entry(station):
        return jena if station == places.JENA_ID else index[station]

    for role in ("val", "test"):
        for held in places.ROLES[role]:
            h = entry(held)
            for trained in places.ROLES["train"]:
                t = entry(trained)
                overlap = (h["period"]["first_utc"] <= t["period"]["last_utc"]
                           and t["period"]["first_utc"] <= h["period"]["last_utc"])
                km = places.distance_km(Location(h["lat"], h["lon"]), Location(t["lat"], t["lon"]))
                assert not overlap or km > places.MIN_DISTANCE_KM, f"{held} ({role}) is {km:.0f} km from {trained}"


@pytest.mark.slow
def test_stations_layout_keeps_places_apart_and_scores_each():
    P = places.load_places(STATIONS.parent, log=lambda *_: None)
    layout = protocol.layout("stations", P, ["T (degC)", "p (mbar)", "rh (%)"])
    for role, starts in layout.parts.items():
        # a window never spans two places, and its place has this role
        first, last = layout.station[starts], layout.station[layout.target_rows(starts)]
        assert (first == last).all()
        assert set(first) == set(places.ROLES[role])
    jena_targets = layout.target_times(layout.starts("train")[layout.station[layout.starts("train")] == "jena"])
    assert jena_targets.max() < np.datetime64(f"{places.JENA_BEFORE_YEAR}-01-01")
    result = protocol.evaluate(layout, layout.naive)
    assert set(result["test_by_station"]) == set(places.ROLES["test"])
    # the per-station naive figure is the same as that station's own whole-file figure
    rio = protocol.layout("whole", P["inmet_a802_rio_grande"], ["T (degC)", "p (mbar)", "rh (%)"])
    assert result["test_by_station"]["inmet_a802_rio_grande"]["naive_mae"] == pytest.approx(
        protocol.evaluate(rio, rio.naive)["mae"], abs=1e-4)
