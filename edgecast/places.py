"""The ``stations`` protocol: split by place, so a model is judged on roofs it never saw.

Nearby places share their weather (Beijing sites 22–60 km apart: 24-hour temperature
changes correlated at 0.85), so a held-out place with a neighbour in training, recorded
over the same dates, scores far better than a new roof will. The roles below keep every
validation and test place more than MIN_DISTANCE_KM from every training place whose
record overlaps it in time (tests/test_places.py checks this against stations.json):

- train: Jena (targets before 2021, so the ``years`` protocol's 2021/2022 stay unseen),
  Szeged, the seven Beijing sites, the seven western US cities (2012–2017) and Recife
  (2019–2021): continental, monsoon, marine, desert, tropical;
- val (recipe and epoch choices): Atlanta and Jacksonville (2012–2013, ≥ 1,900 km from
  Denver and Albuquerque), and the northern and central Brazilian stations of 2025;
- test (reported, never chosen on): the southern and south-eastern Brazilian stations of
  2025 — a hemisphere and climates no training place shares.

Each place is laid out on its own hourly grid (the daemon's rule); the grids are put end
to end with a gap no window spans, each row carrying its place's location.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .resample import OBSERVED
from .schema import TARGET_INDEX

JENA_ID = "jena"
ROLES: dict[str, tuple[str, ...]] = {
    "train": (JENA_ID, "szeged", "beijing_aotizhongxin", "beijing_dongsi", "beijing_gucheng", "beijing_huairou",
              "beijing_shunyi", "beijing_wanliu", "beijing_wanshouxigong", "kaggle_portland",
              "kaggle_san_francisco", "kaggle_los_angeles", "kaggle_san_diego", "kaggle_las_vegas",
              "kaggle_albuquerque", "kaggle_denver", "inmet_a301_recife"),
    "val": ("kaggle_atlanta", "kaggle_jacksonville", "inmet_a201_belem", "inmet_a242_oiapoque",
            "inmet_a104_rio_branco", "inmet_a316_caico", "inmet_a401_salvador", "inmet_a001_brasilia",
            "inmet_a901_cuiaba"),
    "test": ("inmet_a717_nhumirim", "inmet_a521_belo_horizonte", "inmet_a701_sao_paulo",
             "inmet_a706_campos_do_jordao", "inmet_a621_rio_de_janeiro", "inmet_a807_curitiba",
             "inmet_a868_itajai", "inmet_a881_dom_pedrito", "inmet_a802_rio_grande"),
}
MIN_DISTANCE_KM = 1500.0
JENA_BEFORE_YEAR = 2021  # the years protocol's validation year: Jena's windows end before it
STATIONS_DIR = "stations"


class Places(dict):
    """Station id -> its Series (edgecast.data), in ROLES order."""

    @property
    def sources(self) -> list[str]:
        return [src for series in self.values() for src in series.sources]

    def layout(self, protocol_name: str, channels):
        return places_layout(protocol_name, self, channels)


def role_of(station: str) -> str | None:
    return next((role for role, ids in ROLES.items() if station in ids), None)


def load_places(data_dir: str | Path, log=print) -> Places:
    """Jena's files and every station of ``data_dir``/stations that has a role."""
    from . import protocol
    from .data import DataError, load
    data_dir = Path(data_dir)
    if not (data_dir / STATIONS_DIR).is_dir():
        raise DataError(f"{data_dir}: the stations protocol reads a data folder holding Jena's files and "
                        f"{STATIONS_DIR}/ (with stations.json); e.g. --data ../shared/data")
    places = Places()
    for station in (s for ids in ROLES.values() for s in ids):
        if station == JENA_ID:
            places[station] = load([data_dir / f for f in protocol.YEARS_FILES])
        else:
            places[station] = load(data_dir / STATIONS_DIR / f"{station}.csv.xz")
        log(f"  {station}: {len(places[station])} rows, {places[station].location.describe()}")
    return places


def distance_km(a, b) -> float:
    """Great-circle distance between two Locations."""
    la1, lo1, la2, lo2 = map(np.deg2rad, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return float(2 * 6371.0 * np.arcsin(np.sqrt(h)))


def places_layout(protocol_name: str, places: Places, channels):
    """One Layout over all places: each part holds the windows of its role's places."""
    from . import protocol
    from .data import DataError
    from .solar import Location
    gap = protocol.delay_rows(1) + 1  # NaN rows between places: no window spans two of them
    chunks, parts = [], {role: [] for role in ROLES}
    offset = 0
    for station, series in places.items():
        role = role_of(station)
        series.require(channels, f"the model (at {station})")
        grid = series.hourly(protocol.CARRY_FORWARD_HOURS)
        starts = protocol.usable_starts(grid, channels, station)
        if station == JENA_ID:
            starts = starts[protocol.target_years(grid, starts) < JENA_BEFORE_YEAR]
        parts[role].append(starts + offset)
        chunks.append((station, series.location, grid))
        offset += len(grid) + gap
    if not any(len(s) for s in parts["train"]):
        raise DataError("the stations protocol found no training window")
    n = offset
    times = np.zeros(n, "datetime64[s]")
    values = np.full((n, 14), np.nan)
    observed = np.zeros(n, bool)
    lat, lon = np.zeros(n), np.zeros(n)
    station_of = np.full(n, "", dtype=object)
    train_rows = np.zeros(n, bool)
    row = 0
    for station, location, grid in chunks:
        rows = slice(row, row + len(grid))
        times[rows], values[rows] = grid.times, grid.values
        times[row + len(grid):row + len(grid) + gap] = grid.times[-1]
        observed[rows] = grid.status[:, TARGET_INDEX] == OBSERVED
        lat[rows], lon[rows] = location.latitude, location.longitude
        lat[row + len(grid):row + len(grid) + gap] = location.latitude
        lon[row + len(grid):row + len(grid) + gap] = location.longitude
        station_of[rows] = station
        train_rows[rows] = role_of(station) == "train"
        row += len(grid) + gap
    return protocol.Layout(protocol_name, times, values, values, 1,
                           {role: np.concatenate(s) if s else np.zeros(0, int) for role, s in parts.items()},
                           train_rows, places.sources, observed=observed, location=Location(lat, lon),
                           station=station_of)
