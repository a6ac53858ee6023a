"""The cameras file (``cameras.yml``) as the detectors and the console use it.

The parser lives in :mod:`cityops.camera_config` because the city data loader (``cityops``, which imports
nothing built on it) reads the same file; this module is the detectors' name for it.
"""

from __future__ import annotations

from cityops.camera_config import (
    DETECTOR_MODES,
    CameraConfigError,
    CameraFile,
    CameraSpec,
    ObjectSize,
    ZoneSpec,
    cameras_path,
    dump_cameras,
    load_camera_file,
    parse_cameras,
    save_zone_polygon,
)

__all__ = [
    "DETECTOR_MODES",
    "CameraConfigError",
    "CameraFile",
    "CameraSpec",
    "ObjectSize",
    "ZoneSpec",
    "cameras_path",
    "dump_cameras",
    "load_camera_file",
    "parse_cameras",
    "save_zone_polygon",
]
