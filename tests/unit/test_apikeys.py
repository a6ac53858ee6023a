"""API keys: the file keeps hashes only (0600), keys authenticate their client, rotate and revoke take effect,
bad entries and changes are refused naming the field, and the CLI prints a key once."""

from __future__ import annotations

import json
import stat
from argparse import Namespace

import pytest

from cityops import apikeys, apikeys_cli
from cityops.schemas import CaseSource
from cityops.settings import get_settings


def test_add_authenticate_and_the_file_keeps_no_key(tmp_path) -> None:
    path = tmp_path / "apikeys.json"
    out: dict[str, str] = {}

    def add(clients):
        changed, out["key"] = apikeys.add_client(clients, "hotline-12345", name="12345热线", source="hotline_12345",
                                                 scopes=("open311.report",), rate_per_s=5, burst=10)
        return changed

    apikeys.update_api_clients(path, add)
    key = out["key"]
    assert key.startswith("co.hotline-12345.") and len(key) > 50
    text = path.read_text(encoding="utf-8")
    assert key not in text and key.split(".")[2] not in text
    assert apikeys.digest(key) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    client = apikeys.load_api_clients(path).authenticate(key)
    assert client is not None and client.source is CaseSource.HOTLINE_12345 and client.name == "12345热线"
    assert client.may("open311.report") and not client.may("open311.read")
    assert (client.rate_per_s, client.burst) == (5.0, 10)
    loaded = apikeys.load_api_clients(path)
    for wrong in (key[:-1] + ("A" if key[-1] != "A" else "B"), "", None, 42, "co.hotline-12345", key + "x" * 300,
                  key.replace("hotline-12345", "citizen-app")):
        assert loaded.authenticate(wrong) is None


def test_rotate_and_revoke(tmp_path) -> None:
    clients, first = apikeys.add_client({}, "citizen-app", name="市民城管通", source="citizen_app")
    clients, second = apikeys.rotate_client(clients, "citizen-app")
    view = apikeys.ApiClients(clients)
    assert view.authenticate(first) is None and view.authenticate(second) is not None
    clients, third = apikeys.rotate_client(clients, "citizen-app", keep_old=True)
    view = apikeys.ApiClients(clients)
    assert view.authenticate(second) is not None and view.authenticate(third) is not None
    clients = apikeys.revoke_client(clients, "citizen-app")
    assert apikeys.ApiClients(clients).authenticate(third) is None
    with pytest.raises(apikeys.ApiKeysError, match="revoked"):
        apikeys.add_client(clients, "citizen-app", name="x", source="citizen_app")
    with pytest.raises(apikeys.ApiKeysError, match="revoked"):
        apikeys.rotate_client(clients, "citizen-app")
    with pytest.raises(apikeys.ApiKeysError, match="no client"):
        apikeys.revoke_client(clients, "nobody")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"client_id": "Bad Id"}, "client id"),
    ({"source": "fax"}, "source"),
    ({"scopes": ("open311.everything",)}, "scope"),
    ({"scopes": ()}, "scopes"),
    ({"rate_per_s": 0}, "rate_per_s"),
    ({"rate_per_s": float("inf")}, "rate_per_s"),
    ({"burst": 0}, "burst"),
])
def test_bad_clients_refused_naming_the_field(kwargs, field) -> None:
    args = {"client_id": "grid-app", "source": "grid_patrol", "scopes": ("open311.report",), "rate_per_s": 1.0,
            "burst": 1} | kwargs
    with pytest.raises(apikeys.ApiKeysError, match=field):
        apikeys.check_client_fields(**args)


def test_a_broken_file_is_refused_at_start_and_ignored_while_running(tmp_path) -> None:
    path = tmp_path / "apikeys.json"
    clients, key = apikeys.add_client({}, "grid-app", name="网格通", source="grid_patrol")
    apikeys.save_api_clients(path, clients)
    live = apikeys.ReloadingApiClients(path)
    assert live.authenticate(key) is not None
    path.write_text('{"clients": {"grid-app": {"name": "x", "source": "fax"}}}')
    assert live.authenticate(key) is not None  # the last good keys stay
    with pytest.raises(apikeys.ApiKeysError, match="scopes"):
        apikeys.ReloadingApiClients(path)
    apikeys.save_api_clients(path, apikeys.revoke_client(clients, "grid-app"))
    assert live.authenticate(key) is None  # a revoke takes effect without a restart


def test_missing_file_means_no_client(tmp_path) -> None:
    assert apikeys.load_api_clients(tmp_path / "none.json").clients == {}


def test_cli_add_list_rotate_revoke(tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "keys.json"
    monkeypatch.setenv("CITYOPS_APIKEYS_FILE", str(path))
    get_settings.cache_clear()
    try:
        def run(action: str, client: str | None = None, **kw) -> int:
            base = {"name": None, "source": None, "scopes": "open311.report,open311.read", "rate": 10.0,
                    "burst": 20, "keep_old": False}
            return apikeys_cli.run_from_args(Namespace(action=action, client=client, **(base | kw)))

        assert run("add", "hotline-12345") == 2
        assert "--source is required" in capsys.readouterr().err
        assert run("add", "hotline-12345", source="hotline_12345", name="12345热线") == 0
        key = capsys.readouterr().out.strip()
        assert apikeys.load_api_clients(path).authenticate(key).id == "hotline-12345"
        assert run("list") == 0
        listing = capsys.readouterr().out
        assert "hotline-12345\t12345热线\thotline_12345" in listing and key not in listing
        assert run("rotate", "hotline-12345") == 0
        new = capsys.readouterr().out.strip()
        assert apikeys.load_api_clients(path).authenticate(key) is None
        assert run("revoke", "hotline-12345") == 0
        assert apikeys.load_api_clients(path).authenticate(new) is None
        assert json.loads(path.read_text())["clients"]["hotline-12345"]["keys"] == []
    finally:
        get_settings.cache_clear()
