"""The model bundle: one ``.tflite`` file that describes itself.

The edgecast metadata (feature schema and statistics, window, horizons, model kind,
graph form, quantisation, training data range, measured MAE) is stored as JSON in the
flatbuffer's standard ``metadata`` table under the name ``edgecast``, so the file stays
a valid TFLite model for any tool (Netron, benchmark_model) and one file is all a box
needs.

Checksum: the JSON carries ``"sha256": "<64 hex>"``, the SHA-256 of the whole file
computed while that field held 64 zeros. Verifying puts the zeros back in a copy and
hashes again, so the model, its weights and every metadata byte are covered.

Reading uses a ~40-line flatbuffer walk below (no TensorFlow, no flatbuffers package).
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

from .band import check_levels
from .schema import CURVE_HORIZONS, HORIZON_HOURS, FeatureSchema

FORMAT = "edgecast-bundle/1"
METADATA_NAME = "edgecast"
CHECKSUM_PLACEHOLDER = "0" * 64
_CHECKSUM_KEY = b'"sha256": "'
IDENTITY_TEXTS = ("kind", "graph_form", "quantization")


class BundleError(Exception):
    """The bundle cannot be served; the message says why (it goes into the payload)."""


@dataclass
class Bundle:
    path: Path
    model_bytes: bytes
    meta: dict
    schema: FeatureSchema

    @property
    def identity(self) -> dict:
        return {
            "kind": self.meta.get("kind"),
            "sha256": self.meta["sha256"][:12],
            "graph_form": self.meta.get("graph_form"),
            "quantization": self.meta.get("quantization"),
            "horizons": len(self.horizons),
        }

    @property
    def horizons(self) -> list[int]:
        """Hours ahead of the model's outputs, in order: [24], or [1, …, 24] for a curve
        bundle (a bundle without the list predates curves and forecasts +24 h)."""
        return self.meta.get("horizons", [HORIZON_HOURS])

    @property
    def quantiles(self) -> list[float] | None:
        """Quantile levels of a band bundle (ascending, 0.5 among them: its output is
        (1, H, Q)), or None for a point bundle (output (1, H))."""
        levels = self.meta.get("quantiles")
        return None if levels is None else [float(x) for x in levels]


# --- a minimal flatbuffer reader for Model.metadata (TFLite schema) -------------------------
def _u32(buf: bytes, pos: int) -> int:
    return struct.unpack_from("<I", buf, pos)[0]


def _field(buf: bytes, table: int, index: int) -> int | None:
    """Absolute position of field ``index`` of the table at ``table``, or None if absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    vtable_size = struct.unpack_from("<H", buf, vtable)[0]
    slot = 4 + 2 * index
    if slot >= vtable_size:
        return None
    offset = struct.unpack_from("<H", buf, vtable + slot)[0]
    return table + offset if offset else None


def _deref(buf: bytes, pos: int) -> int:
    return pos + _u32(buf, pos)


def _vector(buf: bytes, pos: int) -> tuple[int, int]:
    """(first element position, length) of the vector referenced at ``pos``."""
    vec = _deref(buf, pos)
    return vec + 4, _u32(buf, vec)


def tflite_metadata(buf: bytes) -> dict[str, tuple[int, int]]:
    """{metadata name: (byte offset, length)} of a TFLite flatbuffer's metadata entries."""
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise BundleError("not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        model = _deref(buf, 0)
        buffers_at, metadata_at = _field(buf, model, 4), _field(buf, model, 6)
        if buffers_at is None or metadata_at is None:
            return {}
        buffers, n_buffers = _vector(buf, buffers_at)
        entries, n_entries = _vector(buf, metadata_at)
        found = {}
        for i in range(n_entries):
            entry = _deref(buf, entries + 4 * i)
            name_at, index_at = _field(buf, entry, 0), _field(buf, entry, 1)
            if name_at is None or index_at is None:
                continue
            name_pos, name_len = _vector(buf, name_at)
            name = buf[name_pos:name_pos + name_len].decode()
            index = _u32(buf, index_at)
            if index >= n_buffers:
                raise BundleError(f"metadata {name!r} points past the buffer table")
            data_at = _field(buf, _deref(buf, buffers + 4 * index), 0)
            found[name] = _vector(buf, data_at) if data_at else (0, 0)
        return found
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise BundleError(f"corrupt TFLite flatbuffer ({exc})") from None


# --- checksum ---------------------------------------------------------------------------------
def _checksum_position(buf: bytes, start: int, length: int) -> int:
    pos = buf.find(_CHECKSUM_KEY, start, start + length)
    if pos < 0:
        raise BundleError("edgecast metadata has no sha256 field")
    return pos + len(_CHECKSUM_KEY)


def seal(buf: bytes) -> bytes:
    """Fill the checksum placeholder of a freshly written bundle (export side)."""
    start, length = tflite_metadata(buf)[METADATA_NAME]
    pos = _checksum_position(buf, start, length)
    if buf[pos:pos + 64] != CHECKSUM_PLACEHOLDER.encode():
        raise ValueError("bundle is already sealed")
    digest = hashlib.sha256(buf).hexdigest().encode()
    return buf[:pos] + digest + buf[pos + 64:]


def read_bundle(path: str | Path) -> Bundle:
    """Load and verify a bundle; BundleError(reason) if it must not be served."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"model file {path} does not exist") from None
    except OSError as exc:
        raise BundleError(f"model file {path} cannot be read ({exc.strerror})") from None
    entries = tflite_metadata(buf)
    if METADATA_NAME not in entries:
        raise BundleError(f"{path.name} is a plain TFLite model without edgecast metadata; "
                          "make bundles with `edgecast export`")
    start, length = entries[METADATA_NAME]
    try:
        meta = json.loads(buf[start:start + length])
    except ValueError as exc:
        raise BundleError(f"{path.name}: edgecast metadata is not valid JSON ({exc})") from None
    if meta.get("format") != FORMAT:
        raise BundleError(f"{path.name}: bundle format {meta.get('format')!r}, this edgecast reads {FORMAT!r}")
    pos = _checksum_position(buf, start, length)
    recorded = buf[pos:pos + 64].decode(errors="replace")
    actual = hashlib.sha256(buf[:pos] + CHECKSUM_PLACEHOLDER.encode() + buf[pos + 64:]).hexdigest()
    if recorded != actual:
        raise BundleError(f"{path.name}: checksum mismatch (recorded {recorded[:12]}…, file hashes to "
                          f"{actual[:12]}…): the file is damaged or was modified")
    return Bundle(path, buf, meta, _checked_schema(path, meta))


def _checked_schema(path: Path, meta: dict) -> FeatureSchema:
    """The feature schema of verified metadata, after every field the daemon reads is checked."""
    for key in IDENTITY_TEXTS:  # published with every forecast (Bundle.identity)
        value = meta.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 80):
            raise BundleError(f"{path.name}: metadata {key} is not a name of at most 80 characters "
                              f"({str(value)[:40]!r})")
    try:
        schema = FeatureSchema.from_dict(meta["schema"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{path.name}: feature schema does not fit this edgecast ({exc})") from None
    if not schema.mean:
        raise BundleError(f"{path.name}: feature schema has no normalisation statistics")
    if meta.get("horizons", [HORIZON_HOURS]) not in ([HORIZON_HOURS], list(CURVE_HORIZONS)):
        raise BundleError(f"{path.name}: horizons {str(meta.get('horizons'))[:80]} are neither [24] nor 1 … 24 h")
    if meta.get("quantiles") is not None:
        try:
            check_levels(meta["quantiles"])
        except ValueError as exc:
            raise BundleError(f"{path.name}: {exc}") from None
    return schema
