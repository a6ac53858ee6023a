"""In real time the runner skips frames it is too late for, so a slow detector lags by a bounded amount."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from cityops.devices import Camera
from detectors.base import Box
from detectors.pipeline import CameraPipeline, CameraRun, Runner
from detectors.sources import Frame, SourceStats

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


class _Clip:
    """Frames 50 ms apart, as a 20 frames/s file replayed in real time."""

    def __init__(self, n: int) -> None:
        self.n, self.stats = n, SourceStats()

    def __iter__(self):  # noqa: ANN204
        for i in range(self.n):
            self.stats.frames_read += 1
            yield Frame(i, T0 + timedelta(seconds=i * 0.05), np.zeros((8, 8, 3), np.uint8))


class _SlowNetwork:
    """A shared detector that needs 100 ms per batch: half the clip's frame rate."""

    name = "slow"

    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]:
        time.sleep(0.1)
        return [[] for _ in frames]


def _runner(realtime: bool, frames: int = 40) -> tuple[Runner, CameraRun]:
    camera = Camera(id="CAM-T", name_zh="测试", lon=118.1, lat=24.5, grid_code="g")
    run = CameraRun(CameraPipeline(camera, tz=ZoneInfo("Asia/Shanghai"), evidence=None, mode="coco"), _Clip(frames))
    return Runner([run], shared=_SlowNetwork(), realtime=realtime, max_lag_s=0.3), run


def test_a_detector_slower_than_the_clip_skips_frames_instead_of_falling_behind():
    runner, run = _runner(realtime=True)
    for _ in runner.ticks():
        pass
    processed = run.pipeline.stats.frames_processed
    assert run.dropped > 0 and processed + run.dropped == 40
    assert processed <= 30  # about 20 at 100 ms each over the clip's 2 s; never all 40
    assert runner.summary()["cameras"]["CAM-T"]["frames_dropped"] == run.dropped


def test_as_fast_as_possible_nothing_is_skipped():
    runner, run = _runner(realtime=False, frames=5)
    for _ in runner.ticks():
        pass
    assert run.dropped == 0 and run.pipeline.stats.frames_processed == 5
