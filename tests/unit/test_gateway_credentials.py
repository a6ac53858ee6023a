"""Gateway keys: stored hashed, 0600, per gateway; rotate, revoke and reload without restart."""

from __future__ import annotations

import json
import os
import shutil
import stat
from argparse import Namespace
from pathlib import Path

import pytest

from cityops import gateway_credentials as gc

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def city(tmp_path: Path) -> Path:
    d = tmp_path / "city"
    d.mkdir()
    return d


def test_missing_file_lets_nobody_in(city: Path) -> None:
    assert not gc.load_gateway_credentials(city).verify("GW-1", "abc.def")


def test_a_token_opens_only_its_own_gateway_and_is_stored_hashed(city: Path) -> None:
    token = gc.add_key(city, "GW-1")
    other = gc.add_key(city, "GW-2")
    creds = gc.load_gateway_credentials(city)
    assert creds.verify("GW-1", token)
    assert not creds.verify("GW-2", token)
    assert creds.verify("GW-2", other)
    assert not creds.verify("GW-1", token + "x")
    assert not creds.verify("GW-1", "")
    text = gc.keys_path(city).read_text()
    assert token not in text and token.split(".", 1)[1] not in text
    assert stat.S_IMODE(os.stat(gc.keys_path(city)).st_mode) == 0o600
    assert not [p for p in city.iterdir() if p.name.startswith(".gateway_keys-")]  # no temp file left


def test_malformed_inputs_are_false_not_errors(city: Path) -> None:
    gc.add_key(city, "GW-1")
    creds = gc.load_gateway_credentials(city)
    for gateway_id, token in [(None, "x"), ("GW-1", None), ("GW-1", 5), ("GW-1", "a" * 10_000), ("", "")]:
        assert creds.verify(gateway_id, token) is False  # type: ignore[arg-type]


def test_add_key_keeps_the_old_one_rotate_replaces_it_revoke_removes(city: Path) -> None:
    first = gc.add_key(city, "GW-1")
    second = gc.add_key(city, "GW-1")
    creds = gc.load_gateway_credentials(city)
    assert creds.verify("GW-1", first) and creds.verify("GW-1", second)
    third = gc.add_key(city, "GW-1", replace=True)
    creds = gc.load_gateway_credentials(city)
    assert not creds.verify("GW-1", first) and not creds.verify("GW-1", second) and creds.verify("GW-1", third)
    fourth = gc.add_key(city, "GW-1")
    assert gc.revoke(city, "GW-1", third.split(".")[0]) == 1
    creds = gc.load_gateway_credentials(city)
    assert not creds.verify("GW-1", third) and creds.verify("GW-1", fourth)
    assert gc.revoke(city, "GW-1") == 1
    assert gc.load_gateway_credentials(city).gateways() == []
    with pytest.raises(gc.GatewayCredentialsError, match="no key"):
        gc.revoke(city, "GW-1")


def test_reloading_credentials_follow_the_file(city: Path) -> None:
    token = gc.add_key(city, "GW-1")
    live = gc.ReloadingGatewayCredentials(city)
    assert live.verify("GW-1", token)
    gc.revoke(city, "GW-1")
    assert not live.verify("GW-1", token)
    new = gc.add_key(city, "GW-1")
    assert live.verify("GW-1", new)
    gc.keys_path(city).write_text("{broken")  # broken while running: the last good keys stay
    assert live.verify("GW-1", new)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ("[]", "expected"),
        ('{"gateways": {"GW-1": {}}}', "gateways.GW-1 must be a list"),
        ('{"gateways": {"GW-1": [{"key_id": "XYZ", "sha256": "' + "0" * 64 + '"}]}}', "gateways.GW-1[0].key_id"),
        ('{"gateways": {"GW-1": [{"key_id": "0123abcd", "sha256": "short"}]}}', "gateways.GW-1[0].sha256"),
        ("not json", "not JSON"),
    ],
)
def test_a_malformed_file_names_the_field(city: Path, payload: str, field: str) -> None:
    gc.keys_path(city).write_text(payload)
    with pytest.raises(gc.GatewayCredentialsError, match=field.replace("[", r"\[").replace("]", r"\]")):
        gc.load_gateway_credentials(city)


def test_cli_gives_keys_only_to_registered_gateways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    city = tmp_path / "lakeview"
    shutil.copytree(REPO / "cities" / "lakeview", city)
    monkeypatch.setenv("CITYOPS_CITY_DIR", str(city))
    from cityops.settings import get_settings

    get_settings.cache_clear()
    assert gc.run_from_args(Namespace(action="add-key", gateway_id="NOPE", key_id=None)) == 2
    assert "not in" in capsys.readouterr().err
    assert gc.run_from_args(Namespace(action="add-key", gateway_id="LV-GW-01", key_id=None)) == 0
    token = capsys.readouterr().out.strip()
    assert gc.load_gateway_credentials(city).verify("LV-GW-01", token)
    assert gc.run_from_args(Namespace(action="list", gateway_id=None, key_id=None)) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("LV-GW-01\t" + token.split(".")[0]) and token not in listed
    assert json.loads(gc.keys_path(city).read_text())["gateways"]["LV-GW-01"][0]["key_id"] == token.split(".")[0]
    monkeypatch.delenv("CITYOPS_CITY_DIR")
    get_settings.cache_clear()
