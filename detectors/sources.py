"""Frame sources: video files, RTSP/HTTP streams and image folders, sampled to a camera's rate.

Why so defensive: containers lie (``pedestrians_720p_lamminhthien.avi`` claims 682 frames and decodes
341), files get truncated and streams drop. A source therefore never trusts ``CAP_PROP_FRAME_COUNT``:
it reads until reads stop and ends cleanly. Streams reconnect with bounded exponential backoff.

Timestamps: for files and folders, ``start + index / fps`` (replayable and deterministic); for live
streams, the wall clock at the moment the frame arrived.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2
import numpy as np

log = logging.getLogger("cityops.detectors.sources")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
DEFAULT_FPS = 25.0


class SourceError(RuntimeError):
    """A source that cannot be opened or yields no frame at all; the message says which and why."""


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(url: str, environ: dict[str, str] | None = None) -> str:
    """``${NAME}`` placeholders of a source URL from the environment (credentials never live in cameras.yml).

    Values in the ``user:password@`` part are percent-encoded, so a password may hold ``@`` or ``:``.
    A missing variable is a :class:`SourceError` naming it (never its value).
    """
    env = os.environ if environ is None else environ
    scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0] if sep else ""
    userinfo_end = len(scheme) + len(sep) + authority.rfind("@") if "@" in authority else -1

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if not env.get(name):
            raise SourceError(f"environment variable {name} (named in the camera's source) is not set")
        return quote(env[name], safe="") if m.start() < userinfo_end else env[name]

    return _PLACEHOLDER.sub(value, url)


_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s]*@")


def redact(text: str) -> str:
    """The text (a URL, or a message holding URLs) without credentials, for logs and camera status."""
    return _USERINFO.sub(r"\1***@", text)


@dataclass(frozen=True, slots=True)
class Frame:
    index: int  # index of the frame in the source (before sampling), counting across loops
    time: datetime  # aware UTC time of the frame
    image: np.ndarray


@dataclass
class SourceStats:
    frames_read: int = 0  # decoded or grabbed from the source
    frames_sampled: int = 0  # handed on for detection
    reconnects: int = 0
    passes: int = 0  # completed passes over a file (with --loop)


def _valid_fps(value: float, fallback: float = DEFAULT_FPS) -> float:
    return value if np.isfinite(value) and 0.1 <= value <= 1000.0 else fallback


class Sampler:
    """Keeps frames ``1 / sample_fps`` apart by their timestamps (not by index, so a stream whose
    real rate differs from its nominal rate is still sampled evenly)."""

    def __init__(self, sample_fps: float | None) -> None:
        self.period = 1.0 / sample_fps if sample_fps and sample_fps > 0 else 0.0
        self._next: float | None = None

    def due(self, t_s: float) -> bool:
        if self.period == 0.0:
            return True
        if self._next is None or t_s + 1e-6 >= self._next:
            # Anchor on the schedule, but never fall more than one period behind (after a stall).
            self._next = t_s + self.period if self._next is None else max(self._next + self.period, t_s)
            return True
        return False


CaptureFactory = Callable[[str], Any]


def _default_capture(spec: str) -> Any:
    return cv2.VideoCapture(spec)


class VideoFileSource:
    """A video file read to its real end; ``loop`` replays it with timestamps that keep increasing."""

    def __init__(
        self,
        path: str | Path,
        *,
        sample_fps: float | None = None,
        start: datetime | None = None,
        loop: bool = False,
        max_frames: int | None = None,
        capture_factory: CaptureFactory = _default_capture,
    ) -> None:
        self.path = Path(path)
        self.sample_fps = sample_fps
        self.start = start or datetime.now(UTC)
        self.loop = loop
        self.max_frames = max_frames
        self.capture_factory = capture_factory
        self.stats = SourceStats()
        self.fps = DEFAULT_FPS
        self.size: tuple[int, int] | None = None
        self.message = ""

    def _open(self) -> Any:
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such file")
        cap = self.capture_factory(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.path}: OpenCV cannot open it (corrupt or unsupported container)")
        self.fps = _valid_fps(float(cap.get(cv2.CAP_PROP_FPS)))
        return cap

    def __iter__(self) -> Iterator[Frame]:
        sampler = Sampler(self.sample_fps)
        offset_s = 0.0  # time of the first frame of this pass, relative to start
        index = 0
        while True:
            cap = self._open()
            read_this_pass = 0
            try:
                while self.max_frames is None or self.stats.frames_read < self.max_frames:
                    t_s = offset_s + read_this_pass / self.fps
                    if not sampler.due(t_s):
                        if not cap.grab():  # skip without converting the frame
                            break
                        read_this_pass += 1
                        index += 1
                        self.stats.frames_read += 1
                        continue
                    ok, image = cap.read()
                    if not ok or image is None:
                        break
                    if self.size is None:
                        self.size = (image.shape[1], image.shape[0])
                    read_this_pass += 1
                    self.stats.frames_read += 1
                    self.stats.frames_sampled += 1
                    yield Frame(index, self.start + timedelta(seconds=t_s), image)
                    index += 1
            finally:
                cap.release()
            if read_this_pass == 0:
                if self.stats.passes == 0:
                    raise SourceError(f"{self.path}: no frame could be decoded (corrupt or unsupported file)")
                break
            if self.max_frames is not None and self.stats.frames_read >= self.max_frames:
                break
            self.stats.passes += 1  # reads stopped: the real end of the file
            offset_s += read_this_pass / self.fps
            if not self.loop:
                break
        self.message = f"{self.path.name}: end of file after {self.stats.frames_read} frames"


class StreamSource:
    """A live RTSP/HTTP stream; a dropped stream reconnects with bounded exponential backoff."""

    def __init__(
        self,
        url: str,
        *,
        sample_fps: float | None = None,
        max_frames: int | None = None,
        max_reconnects: int = 10,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        capture_factory: CaptureFactory = _default_capture,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.url = url
        self.sample_fps = sample_fps
        self.max_frames = max_frames
        self.max_reconnects = max_reconnects
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.capture_factory = capture_factory
        self.sleep = sleep
        self.clock = clock
        self.stats = SourceStats()
        self.size: tuple[int, int] | None = None
        self.message = ""
        self.delays: list[float] = []  # the backoff delays actually waited (for logs and tests)
        self.reconnecting = False  # backing off after a drop, until the next good frame (camera health)

    def _redacted(self) -> str:
        """The URL without credentials, for logs."""
        return redact(self.url)

    def __iter__(self) -> Iterator[Frame]:
        sampler = Sampler(self.sample_fps)
        failures = 0
        index = 0
        t0 = self.clock()
        while True:
            # Placeholders are expanded at each (re)connect, so rotated credentials are picked up.
            cap = self.capture_factory(expand_env(self.url))
            if cap.isOpened():
                while self.max_frames is None or self.stats.frames_read < self.max_frames:
                    ok, image = cap.read()
                    if not ok or image is None:
                        break
                    failures = 0  # a good read resets the backoff
                    self.reconnecting = False
                    now = self.clock()
                    self.stats.frames_read += 1
                    index += 1
                    if self.size is None:
                        self.size = (image.shape[1], image.shape[0])
                    if sampler.due((now - t0).total_seconds()):
                        self.stats.frames_sampled += 1
                        yield Frame(index - 1, now, image)
            cap.release()
            if self.max_frames is not None and self.stats.frames_read >= self.max_frames:
                self.message = f"stopped after {self.stats.frames_read} frames"
                return
            if failures >= self.max_reconnects:
                self.message = f"{self._redacted()}: gave up after {failures} failed reconnects"
                log.error(self.message)
                if self.stats.frames_read == 0:
                    raise SourceError(self.message)
                return
            delay = min(self.backoff_s * (2**failures), self.max_backoff_s)
            failures += 1
            self.reconnecting = True
            self.stats.reconnects += 1
            self.delays.append(delay)
            log.warning(
                "%s: stream dropped or unreachable; reconnect %d/%d in %.1fs",
                self._redacted(),
                failures,
                self.max_reconnects,
                delay,
            )
            self.sleep(delay)


class ImageFolderSource:
    """Images of a folder in sorted name order, as frames ``1 / folder_fps`` apart."""

    def __init__(
        self,
        folder: str | Path,
        *,
        sample_fps: float | None = None,
        start: datetime | None = None,
        folder_fps: float = 1.0,
        loop: bool = False,
        max_frames: int | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.sample_fps = sample_fps
        self.start = start or datetime.now(UTC)
        self.fps = _valid_fps(folder_fps, 1.0)
        self.loop = loop
        self.max_frames = max_frames
        self.stats = SourceStats()
        self.size: tuple[int, int] | None = None
        self.message = ""

    def __iter__(self) -> Iterator[Frame]:
        files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SourceError(f"{self.folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        sampler = Sampler(self.sample_fps)
        index = 0
        while True:
            good = 0
            for path in files:
                if self.max_frames is not None and self.stats.frames_read >= self.max_frames:
                    return
                t_s = index / self.fps
                index += 1
                self.stats.frames_read += 1
                if not sampler.due(t_s):
                    continue
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None:
                    log.warning("%s: not a readable image, skipped", path)
                    continue
                good += 1
                if self.size is None:
                    self.size = (image.shape[1], image.shape[0])
                self.stats.frames_sampled += 1
                yield Frame(index - 1, self.start + timedelta(seconds=t_s), image)
            self.stats.passes += 1
            if good == 0 and self.stats.passes == 1:
                raise SourceError(f"{self.folder}: none of {len(files)} images could be read")
            if not self.loop:
                return


Source = VideoFileSource | StreamSource | ImageFolderSource


def open_source(
    spec: str,
    *,
    sample_fps: float | None = None,
    start: datetime | None = None,
    loop: bool = False,
    max_frames: int | None = None,
) -> Source:
    """The right source for a path or URL. Relative paths are taken from the current directory."""
    if spec.lower().startswith(STREAM_PREFIXES):
        return StreamSource(spec, sample_fps=sample_fps, max_frames=max_frames)
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, sample_fps=sample_fps, start=start, loop=loop, max_frames=max_frames)
    return VideoFileSource(path, sample_fps=sample_fps, start=start, loop=loop, max_frames=max_frames)
