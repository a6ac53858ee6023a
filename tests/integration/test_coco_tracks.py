"""The COCO detector through the whole camera pipeline: each real clip yields tracked persons or vehicles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cityops.settings import REPO_ROOT, get_settings
from detectors.factory import build_run, load_shared
from detectors.pipeline import Runner
from fixtures.xiamen import camera_by_id

VIDEOS = REPO_ROOT.parent / "shared" / "datasets" / "street-video"
START = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason=f"{VIDEOS} is absent")


@pytest.fixture(scope="module")
def coco():  # noqa: ANN201
    return load_shared(["coco"], backend="opencv")


@pytest.mark.parametrize(("camera_id", "frames", "wanted"), [
    ("CAM-DEMO-VTEST", 30, {"person"}),
    ("CAM-DEMO-TRAFFIC", 60, {"car"}),
    ("CAM-DEMO-HALL", 30, {"person"}),
])
def test_each_clip_yields_confirmed_tracks_of_its_objects(coco, camera_id, frames, wanted) -> None:  # noqa: ANN001
    cam = camera_by_id(camera_id)
    run = build_run(cam, cam.source or "", get_settings(), mode="coco", start=START, max_frames=frames)
    run.pipeline.evidence = None
    labels: set[str] = set()
    confirmed = 0
    for _ in Runner([run], shared=coco).ticks():
        tracks = [t for t in run.pipeline.tracker.tracks if t.confirmed]
        labels |= {t.label for t in tracks}
        confirmed = max(confirmed, len(tracks))
    assert wanted <= labels, f"{camera_id}: confirmed tracks labelled {sorted(labels)}"
    assert run.pipeline.tracker.total_confirmed >= 2 and confirmed >= 2
