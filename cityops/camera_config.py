"""Cameras configured in a YAML file (``cameras.yml``), in the spirit of Frigate's config (``detectors.camera_config``).

Why a file and not code: an operator adds a camera, draws its zones and picks its detector without a
release. Every field is checked on load and *all* faults are reported at once, each naming the file,
the camera, the field and what is wrong (``cameras.yml: camera CAM-0042: zones[1].polygon: point 3
(1.2, 0.4) is outside 0..1``), so a bad file is fixed in one pass and never ends in a traceback.

Format (``docs/detectors.md``, "Cameras and zones")::

    cameras:
      CAM-0042:                       # the camera id (the key, as in Frigate)
        name: 湖里区大桥路段摄像头
        lon: 118.1330                 # GCJ-02
        lat: 24.5050
        grid_code: "350206001001001"  # checked against the city's grids when a city is given
        source:
          url: rtsp://${CAM42_USER}:${CAM42_PASSWORD}@10.0.0.7/stream1   # or path: clips/x.mp4
        sample_fps: 5
        detector: coco+classical      # coco | classical | coco+classical
        min_object_size: 0.04         # a box must be this tall: fraction of frame height, or "24px"
        masks:                        # detections whose bottom-centre lies here are ignored
          - [[0.0, 0.0], [1.0, 0.0], [1.0, 0.12], [0.0, 0.12]]
        zones:
          - id: no-stopping
            name: 桥面禁停区
            polygon: [[0.30, 0.45], [1.0, 0.40], [1.0, 1.0], [0.33, 1.0]]   # normalised 0..1, ≥ 3 points
            ai_types: [illegal_parking]
            min_dwell_s: 10
            allowed: ["18:00-23:00"]  # daily windows in which these types are permitted
            min_object_size: 40px     # overrides the camera's for this zone
        label_map: {person: [mobile_vendor]}   # optional override of detectors/data/label_map.yml

Credentials never live in the file: a source URL names them as ``${ENV_NAME}`` placeholders, expanded
from the environment when the stream is opened (``detectors.sources.expand_env``); a literal
``user:password@`` in a URL is an error.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import yaml

from cityops.devices import Camera, TimeWindow, Zone
from cityops.private_files import file_lock
from cityops.schemas import AiType

if TYPE_CHECKING:
    from cityops.settings import Settings

DETECTOR_MODES = ("coco", "classical", "coco+classical")
AI_TYPES = frozenset(get_args(AiType))
CAMERA_FIELDS = frozenset({"name", "lon", "lat", "grid_code", "source", "sample_fps", "detector", "masks",
                           "zones", "min_object_size", "label_map"})
ZONE_FIELDS = frozenset({"id", "name", "polygon", "ai_types", "min_dwell_s", "allowed", "min_object_size"})
SOURCE_FIELDS = frozenset({"url", "path"})
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_PLACEHOLDER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_WINDOW = re.compile(r"^\s*\d{2}:\d{2}\s*-\s*\d{2}:\d{2}\s*$")
_PIXELS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*px\s*$")
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp")

Point = tuple[float, float]
Polygon = tuple[Point, ...]


class CameraConfigError(ValueError):
    """A cameras file is unreadable or wrong; ``errors`` lists every fault, one line each."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class ObjectSize:
    """The smallest box that counts: ``fraction`` of the frame height, or ``pixels`` of box height."""

    fraction: float = 0.0
    pixels: float = 0.0

    def __str__(self) -> str:
        return f"{self.pixels:g}px" if self.pixels else f"{self.fraction:g}"


@dataclass(frozen=True)
class ZoneSpec:
    id: str
    name: str
    polygon: Polygon
    ai_types: tuple[str, ...]
    min_dwell_s: float = 60.0
    allowed: tuple[TimeWindow, ...] = ()
    min_object_size: ObjectSize | None = None  # None: the camera's


@dataclass(frozen=True)
class CameraSpec:
    id: str
    name: str
    lon: float
    lat: float
    grid_code: str
    source: str | None  # a path, or a URL that may hold ${ENV} placeholders (expanded when opened)
    sample_fps: float
    detector: str
    zones: tuple[ZoneSpec, ...]
    masks: tuple[Polygon, ...] = ()
    min_object_size: ObjectSize = field(default_factory=ObjectSize)
    label_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_device(self) -> Camera:
        cam_size = self.min_object_size
        zones = tuple(
            Zone(z.id, z.name, z.polygon, z.ai_types, z.allowed, z.min_dwell_s,
                 min_height_frac=(z.min_object_size or cam_size).fraction,
                 min_height_px=(z.min_object_size or cam_size).pixels)
            for z in self.zones
        )
        return Camera(self.id, self.name, self.lon, self.lat, self.grid_code, zones, self.sample_fps, self.source,
                      detector=self.detector, masks=self.masks, min_height_frac=cam_size.fraction,
                      min_height_px=cam_size.pixels,
                      label_map=tuple((k, tuple(v)) for k, v in self.label_map.items()))


@dataclass(frozen=True)
class CameraFile:
    path: Path
    cameras: dict[str, CameraSpec]

    def to_devices(self) -> tuple[Camera, ...]:
        return tuple(c.to_device() for c in self.cameras.values())

    def camera(self, camera_id: str) -> CameraSpec:
        try:
            return self.cameras[camera_id]
        except KeyError:
            known = ", ".join(sorted(self.cameras)[:10])
            raise KeyError(f"{self.path.name}: no camera {camera_id!r} (cameras: {known})") from None


# ----------------------------------------------------------------------------------------- reading YAML


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML that refuses a key given twice (PyYAML would silently keep the last camera)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CameraConfigError([f"{path}: file is missing"]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise CameraConfigError([f"{path}: cannot be read as UTF-8 ({err})"]) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader (CSafeLoader/SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise CameraConfigError([f"{path.name}:{where}: not valid YAML ({problem})"]) from None


# ----------------------------------------------------------------------------------------- validation


class _Errors:
    """Collects faults with their place (``camera X: field``) instead of stopping at the first."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[str] = []

    def add(self, camera: str | None, where: str, problem: str) -> None:
        cam = f" camera {camera}:" if camera else ""
        self.items.append(f"{self.file}:{cam} {where}: {problem}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _polygon(raw: Any, errs: _Errors, cam: str, where: str) -> Polygon | None:
    if not isinstance(raw, list) or len(raw) < 3:
        errs.add(cam, where, f"must be a list of at least 3 [x, y] points, not {raw!r}")
        return None
    points: list[Point] = []
    ok = True
    for n, p in enumerate(raw, start=1):
        if not isinstance(p, list | tuple) or len(p) != 2 or _number(p[0]) is None or _number(p[1]) is None:
            errs.add(cam, where, f"point {n} {p!r} is not a pair of numbers [x, y]")
            ok = False
            continue
        x, y = float(p[0]), float(p[1])
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            errs.add(cam, where, f"point {n} ({x:g}, {y:g}) is outside 0..1")
            ok = False
        points.append((x, y))
    if ok and _area(points) <= 1e-9:
        errs.add(cam, where, "has no area (all points on one line)")
        ok = False
    return tuple(points) if ok else None


def _area(points: Sequence[Point]) -> float:
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(points, [*points[1:], points[0]], strict=True))) / 2


def _object_size(raw: Any, errs: _Errors, cam: str, where: str) -> ObjectSize | None:
    if isinstance(raw, str) and (m := _PIXELS.match(raw)):
        px = float(m.group(1))
        if 0 < px <= 16384:
            return ObjectSize(pixels=px)
    else:
        v = _number(raw)
        if v is not None and 0.0 <= v < 1.0:
            return ObjectSize(fraction=v)
    errs.add(cam, where, f"must be a fraction of the frame height in 0..1 (e.g. 0.05) or pixels (e.g. \"40px\"), "
                         f"not {raw!r}")
    return None


def _source(raw: Any, errs: _Errors, cam: str) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str):  # shorthand: a path or URL
        raw = {"url": raw} if "://" in raw else {"path": raw}
    if not isinstance(raw, dict):
        errs.add(cam, "source", f"must be {{url: …}} or {{path: …}}, not {raw!r}")
        return None
    for key in sorted(set(raw) - SOURCE_FIELDS, key=str):
        errs.add(cam, f"source.{key}", "unknown field (use url or path)")
    if ("url" in raw) == ("path" in raw):
        errs.add(cam, "source", "give exactly one of url or path")
        return None
    if "path" in raw:
        path = _text(raw["path"])
        if path is None:
            errs.add(cam, "source.path", f"must be a non-empty string, not {raw['path']!r}")
        return path
    url = _text(raw["url"])
    if url is None or "://" not in url:
        errs.add(cam, "source.url", f"must be a URL such as rtsp://host/stream, not {raw['url']!r}")
        return None
    scheme, rest = url.split("://", 1)
    if scheme.lower() not in STREAM_SCHEMES:
        errs.add(cam, "source.url", f"scheme {scheme!r} is not one of {', '.join(STREAM_SCHEMES)}")
        return None
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        userinfo = authority.rsplit("@", 1)[0]
        literal = _PLACEHOLDER.sub("", userinfo).replace(":", "")
        if literal:
            errs.add(cam, "source.url", "holds literal credentials; write them as ${ENV_NAME} placeholders "
                                        "(e.g. rtsp://${CAM_USER}:${CAM_PASSWORD}@host/…) and set the variables")
            return None
    return url


def _windows(raw: Any, errs: _Errors, cam: str, where: str) -> tuple[TimeWindow, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errs.add(cam, where, f"must be a list of \"HH:MM-HH:MM\" windows, not {raw!r}")
        return ()
    out = []
    for n, w in enumerate(raw):
        try:
            if not isinstance(w, str) or not _WINDOW.match(w):
                raise ValueError(w)
            out.append(TimeWindow.parse(w))
        except ValueError:
            errs.add(cam, f"{where}[{n}]", f"{w!r} is not a window \"HH:MM-HH:MM\"")
    return tuple(out)


def _ai_types(raw: Any, errs: _Errors, cam: str, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        errs.add(cam, where, f"must be a non-empty list of violation types, not {raw!r}")
        return ()
    bad = [t for t in raw if t not in AI_TYPES]
    for t in bad:
        errs.add(cam, where, f"{t!r} is not a violation type (one of {', '.join(sorted(AI_TYPES))})")
    return tuple(str(t) for t in raw) if not bad else ()


def _label_map(raw: Any, errs: _Errors, cam: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errs.add(cam, "label_map", f"must map detector labels to lists of violation types, not {raw!r}")
        return {}
    out = {}
    for label, types in raw.items():
        got = _ai_types(types, errs, cam, f"label_map.{label}")
        if got:
            out[str(label)] = got
    return out


def _zone(raw: Any, n: int, errs: _Errors, cam: str, seen: set[str]) -> ZoneSpec | None:
    where = f"zones[{n}]"
    if not isinstance(raw, dict):
        errs.add(cam, where, f"a zone must be a mapping, not {raw!r}")
        return None
    for key in sorted(set(raw) - ZONE_FIELDS, key=str):
        errs.add(cam, f"{where}.{key}", f"unknown field (one of {', '.join(sorted(ZONE_FIELDS))})")
    zid = raw.get("id")
    if not isinstance(zid, str) or not _ID.match(zid):
        errs.add(cam, f"{where}.id", f"must be 1-64 letters, digits or _.:- , not {zid!r}")
        zid = None
    elif zid in seen:
        errs.add(cam, f"{where}.id", f"zone {zid!r} is given twice")
    else:
        seen.add(zid)
    count = len(errs.items)
    polygon = _polygon(raw.get("polygon"), errs, cam, f"{where}.polygon")
    ai_types = _ai_types(raw.get("ai_types"), errs, cam, f"{where}.ai_types")
    dwell = _number(raw.get("min_dwell_s", 60.0))
    if dwell is None or not 0.0 <= dwell <= 86400.0:
        errs.add(cam, f"{where}.min_dwell_s", f"must be seconds in 0..86400, not {raw.get('min_dwell_s')!r}")
    name = raw.get("name", zid)
    if _text(name) is None:
        errs.add(cam, f"{where}.name", f"must be a non-empty string, not {name!r}")
    allowed = _windows(raw.get("allowed"), errs, cam, f"{where}.allowed")
    size = (_object_size(raw["min_object_size"], errs, cam, f"{where}.min_object_size")
            if raw.get("min_object_size") is not None else None)
    if len(errs.items) > count or zid is None or polygon is None or dwell is None:
        return None
    return ZoneSpec(zid, str(name).strip(), polygon, ai_types, dwell, allowed, size)


def _camera(cam: str, raw: Any, errs: _Errors, known_grids: set[str] | None) -> CameraSpec | None:
    count = len(errs.items)
    if not isinstance(raw, dict):
        errs.add(cam, "camera", f"must be a mapping of fields, not {raw!r}")
        return None
    for key in sorted(set(raw) - CAMERA_FIELDS, key=str):
        errs.add(cam, key, f"unknown field (one of {', '.join(sorted(CAMERA_FIELDS))})")
    name = _text(raw.get("name"))
    if name is None:
        errs.add(cam, "name", f"must be a non-empty string, not {raw.get('name')!r}")
    lon, lat = _number(raw.get("lon")), _number(raw.get("lat"))
    if lon is None or not -180.0 <= lon <= 180.0:
        errs.add(cam, "lon", f"must be a longitude in -180..180 (GCJ-02), not {raw.get('lon')!r}")
    if lat is None or not -90.0 <= lat <= 90.0:
        errs.add(cam, "lat", f"must be a latitude in -90..90 (GCJ-02), not {raw.get('lat')!r}")
    grid = raw.get("grid_code")
    grid_code = str(grid).strip() if isinstance(grid, str | int) and not isinstance(grid, bool) else ""
    if grid is not None and not grid_code:
        errs.add(cam, "grid_code", f"must be a grid code, not {grid!r}")
    elif known_grids is not None and not grid_code:
        errs.add(cam, "grid_code", "is missing (the city's grid the camera stands in)")
    elif known_grids is not None and grid_code not in known_grids:
        errs.add(cam, "grid_code", f"{grid_code!r} is not a grid of the city (grids.geojson)")
    source = _source(raw.get("source"), errs, cam)
    fps = _number(raw.get("sample_fps", 5.0))
    if fps is None or not 0.0 < fps <= 120.0:
        errs.add(cam, "sample_fps", f"must be frames per second in (0, 120], not {raw.get('sample_fps')!r}")
    detector = raw.get("detector", "coco+classical")
    if detector not in DETECTOR_MODES:
        errs.add(cam, "detector", f"must be one of {', '.join(DETECTOR_MODES)}, not {detector!r}")
    size = (_object_size(raw["min_object_size"], errs, cam, "min_object_size")
            if raw.get("min_object_size") is not None else ObjectSize())
    masks: list[Polygon] = []
    raw_masks = raw.get("masks") or []
    if not isinstance(raw_masks, list):
        errs.add(cam, "masks", f"must be a list of polygons, not {raw_masks!r}")
        raw_masks = []
    for n, m in enumerate(raw_masks):
        if (poly := _polygon(m, errs, cam, f"masks[{n}]")) is not None:
            masks.append(poly)
    raw_zones = raw.get("zones")
    zones: list[ZoneSpec] = []
    if not isinstance(raw_zones, list) or not raw_zones:
        errs.add(cam, "zones", f"must be a non-empty list of zones, not {raw_zones!r}")
    else:
        seen: set[str] = set()
        for n, z in enumerate(raw_zones):
            if (zone := _zone(z, n, errs, cam, seen)) is not None:
                zones.append(zone)
    label_map = _label_map(raw.get("label_map"), errs, cam)
    if len(errs.items) > count:
        return None
    assert name is not None and lon is not None and lat is not None and fps is not None and size is not None
    return CameraSpec(cam, name, lon, lat, grid_code, source, fps, str(detector), tuple(zones), tuple(masks),
                      size, label_map)


def parse_cameras(data: Any, file: str, *, known_grids: set[str] | None = None) -> dict[str, CameraSpec]:
    """The cameras of a loaded YAML document; ``CameraConfigError`` lists every fault found."""
    errs = _Errors(file)
    if not isinstance(data, dict) or not isinstance(data.get("cameras"), dict):
        raise CameraConfigError([f"{file}: cameras: the file must hold a mapping 'cameras:' of camera id → fields"])
    for key in sorted(set(data) - {"cameras"}, key=str):
        errs.add(None, str(key), "unknown top-level field (only 'cameras')")
    out: dict[str, CameraSpec] = {}
    for cam_id, raw in data["cameras"].items():
        if not isinstance(cam_id, str) or not _ID.match(cam_id):
            errs.add(str(cam_id), "id", "a camera id must be 1-64 letters, digits or _.:-")
            continue
        if (spec := _camera(cam_id, raw, errs, known_grids)) is not None:
            out[cam_id] = spec
    if not data["cameras"]:
        errs.add(None, "cameras", "lists no camera")
    if errs.items:
        raise CameraConfigError(errs.items)
    return out


def load_camera_file(path: Path, *, known_grids: set[str] | None = None) -> CameraFile:
    """Read and check a cameras file; ``known_grids`` (a city's grid codes) makes ``grid_code`` required."""
    path = Path(path)
    return CameraFile(path, parse_cameras(_read_yaml(path), path.name, known_grids=known_grids))


def cameras_path(settings: Settings) -> Path:
    """``CITYOPS_CAMERAS_FILE``, else the city data folder's ``cameras.yml``."""
    return settings.cameras_file or settings.city_dir / "cameras.yml"


# ----------------------------------------------------------------------------------------- writing YAML


_PLAIN = re.compile(r"^[A-Za-z0-9_\u3400-\u9fff\uff08\uff09][A-Za-z0-9_.\-/+()\u3400-\u9fff\uff08\uff09]*$")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if _PLAIN.match(text) and yaml.safe_load(text) == text:
        return text
    return _quoted(text)


def _quoted(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def _flow(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    return _scalar(value)


def _is_leafy(value: Any) -> bool:
    """Lists of scalars or of lists of scalars (polygons, ai_types) go on one line."""
    if isinstance(value, dict):
        return False
    return all(not isinstance(v, dict) and (not isinstance(v, list | tuple) or _is_leafy(v)) for v in value)


def _emit(value: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict) and v:
                if all(not isinstance(x, dict | list | tuple) for x in v.values()) and len(v) <= 4:
                    lines.append(f"{pad}{_scalar(k)}: {_flow(v)}")
                else:
                    lines.append(f"{pad}{_scalar(k)}:")
                    _emit(v, indent + 2, lines)
            elif isinstance(v, list | tuple) and v and not _is_leafy(v):
                lines.append(f"{pad}{_scalar(k)}:")
                _emit(v, indent + 2, lines)
            else:
                lines.append(f"{pad}{_scalar(k)}: {_flow(v)}")
    else:
        for item in value:
            if isinstance(item, dict) and item:
                sub: list[str] = []
                _emit(item, indent + 2, sub)
                sub[0] = f"{pad}- {sub[0][indent + 2:]}"
                lines.extend(sub)
            else:
                lines.append(f"{pad}- {_flow(item)}")


def dump_cameras(data: Mapping[str, Any], header: str = "") -> str:
    """Deterministic, compact YAML for a cameras document (polygons on one line each)."""
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] if header else []
    _emit(dict(data), 0, lines)
    return "\n".join(lines) + "\n"


def _size_doc(frac: float, px: float) -> float | str | None:
    if px:
        return f"{px:g}px"
    return frac or None


def camera_document(cameras: Sequence[Camera]) -> dict[str, Any]:
    """The YAML document of these cameras (the inverse of :meth:`CameraSpec.to_device`), for generated cities."""
    out: dict[str, Any] = {}
    for cam in cameras:
        item: dict[str, Any] = {"name": cam.name_zh, "lon": cam.lon, "lat": cam.lat}
        if cam.grid_code:
            item["grid_code"] = cam.grid_code
        if cam.source:
            item["source"] = {"url": cam.source} if "://" in cam.source else {"path": cam.source}
        item["sample_fps"] = cam.sample_fps
        if cam.detector != "coco+classical":
            item["detector"] = cam.detector
        cam_size = _size_doc(cam.min_height_frac, cam.min_height_px)
        if cam_size is not None:
            item["min_object_size"] = cam_size
        if cam.masks:
            item["masks"] = [[list(p) for p in m] for m in cam.masks]
        zones = []
        for z in cam.zones:
            zone: dict[str, Any] = {"id": z.id, "name": z.name_zh, "polygon": [list(p) for p in z.polygon],
                                    "ai_types": list(z.ai_types), "min_dwell_s": z.min_dwell_s}
            if z.allowed:
                zone["allowed"] = [str(w) for w in z.allowed]
            size = _size_doc(z.min_height_frac, z.min_height_px)
            if size != cam_size:
                zone["min_object_size"] = size if size is not None else 0.0
            zones.append(zone)
        item["zones"] = zones
        if cam.label_map:
            item["label_map"] = {k: list(v) for k, v in cam.label_map}
        out[cam.id] = item
    return {"cameras": out}


def _header(text: str) -> str:
    """The leading comment block of a file (kept when a zone is saved)."""
    head = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        head.append(line[1:].removeprefix(" "))
    return "\n".join(head)


def write_atomic(path: Path, text: str) -> None:
    """Write beside the file and rename over it: a reader sees the old file or the new, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_zone_polygon(path: Path, camera_id: str, zone_id: str, polygon: Sequence[tuple[float, float]]) -> None:
    """Replace one zone's polygon in the file, keeping everything else; the whole file is re-checked first.

    Comments other than the file's leading comment block are not kept (YAML libraries drop them).
    """
    path = Path(path)
    new = [[round(float(x), 4), round(float(y), 4)] for x, y in polygon]
    with file_lock(path):
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        data = _read_yaml(path)
        parse_cameras(data, path.name)  # the file must be valid before it is changed
        cam = data["cameras"].get(camera_id)
        if cam is None:
            raise CameraConfigError([f"{path.name}: camera {camera_id}: no such camera"])
        zone = next((z for z in cam["zones"] if z.get("id") == zone_id), None)
        if zone is None:
            raise CameraConfigError([f"{path.name}: camera {camera_id}: zones: no zone {zone_id!r}"])
        zone["polygon"] = new
        parse_cameras(data, path.name)  # the new polygon is checked with the message a file edit would give
        write_atomic(path, dump_cameras(data, _header(text)))
