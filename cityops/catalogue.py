"""The category catalogue (部件/事件, CJJ/T 106 and GB/T 30428.2 style) and its companion data files.

Why a data file: cities extend the catalogue with local classes and tune the time limits, and the
people who do that are not programmers. ``fixtures/data/catalogue.csv`` is validated on load, and a
bad row stops the process with the row named, rather than letting a wrong SLA slip into the KPIs.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from cityops.settings import REPO_ROOT

DATA_DIR = REPO_ROOT / "fixtures" / "data"
STAGES = ("register", "dispatch", "handle", "verify")

AI_TYPES: tuple[str, ...] = (
    "street_vending", "shop_overflow", "mobile_vendor", "illegal_parking", "ebike_parking", "garbage_overflow",
    "exposed_garbage", "stacked_materials", "street_drying", "illegal_ads", "road_construction", "dumped_muck",
    "uncovered_muck_truck", "manhole_missing",
)

ROLES: tuple[str, ...] = (
    "street_squad", "district_squad", "district_sanitation", "municipal_garden", "traffic_police", "eco_env",
    "construction", "water", "power", "gas", "telecom", "planning", "market", "transport", "fire",
    "city_enforcement", "sanitation", "command",
)

_DURATION = re.compile(r"^([1-9]\d{0,4})([mhd])$")
_CODE = re.compile(r"^([CE])(\d{2})(\d{2})$")


@dataclass(frozen=True)
class WorkDuration:
    """An amount of *working* time: minutes, hours or days of the working calendar."""

    amount: int
    unit: Literal["m", "h", "d"]

    @classmethod
    def parse(cls, text: str) -> WorkDuration:
        match = _DURATION.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise ValueError(f"working duration {text!r} must look like 30m, 4h or 15d")
        return cls(int(match.group(1)), match.group(2))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


@dataclass(frozen=True)
class Category:
    code: str
    family: str  # component (部件) | event (事件)
    major_code: str
    major_zh: str
    major_en: str
    minor_zh: str
    minor_en: str
    weight: int
    ai_type: str | None
    owner_role: str
    sla: Mapping[str, WorkDuration]

    def name(self, lang: str = "zh") -> str:
        return f"{self.major_zh}/{self.minor_zh}" if lang == "zh" else f"{self.major_en} / {self.minor_en}"


class Catalogue:
    def __init__(self, categories: list[Category]) -> None:
        self._by_code = {c.code: c for c in categories}
        self._by_ai = {c.ai_type: c for c in categories if c.ai_type}

    @classmethod
    def load(cls, path: Path | None = None) -> Catalogue:
        path = path or DATA_DIR / "catalogue.csv"
        categories: list[Category] = []
        seen: set[str] = set()
        ai_seen: set[str] = set()
        with path.open(newline="", encoding="utf-8") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    cat = _category(row)
                except (KeyError, ValueError) as err:
                    raise ValueError(f"{path.name} line {line}: {err}") from None
                if cat.code in seen:
                    raise ValueError(f"{path.name} line {line}: duplicate code {cat.code}")
                if cat.ai_type and cat.ai_type in ai_seen:
                    raise ValueError(f"{path.name} line {line}: ai_type {cat.ai_type} used twice")
                seen.add(cat.code)
                if cat.ai_type:
                    ai_seen.add(cat.ai_type)
                categories.append(cat)
        if not categories:
            raise ValueError(f"{path.name}: no categories")
        return cls(categories)

    def get(self, code: str) -> Category:
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(f"unknown category code {code!r}") from None

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Category]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def by_ai_type(self, ai_type: str) -> Category:
        try:
            return self._by_ai[ai_type]
        except KeyError:
            raise KeyError(f"no category for AI type {ai_type!r}") from None

    def ai_types(self) -> list[str]:
        return [t for t in AI_TYPES if t in self._by_ai]

    def majors(self) -> list[tuple[str, str, str, str]]:
        out: dict[tuple[str, str], tuple[str, str, str, str]] = {}
        for c in self:
            out.setdefault((c.family, c.major_code), (c.family, c.major_code, c.major_zh, c.major_en))
        return list(out.values())


def _category(row: Mapping[str, str]) -> Category:
    code = row["code"].strip()
    match = _CODE.match(code)
    if not match:
        raise ValueError(f"code {code!r} must be C or E followed by 4 digits")
    family = row["family"].strip()
    if family not in ("component", "event") or (family == "component") != (match.group(1) == "C"):
        raise ValueError(f"family {family!r} does not fit code {code}")
    if row["major_code"].strip() != match.group(2):
        raise ValueError(f"major_code {row['major_code']!r} does not fit code {code}")
    weight = int(row["weight"])
    if weight not in (1, 2, 3, 5):
        raise ValueError(f"weight {weight} must be 1, 2, 3 or 5")
    ai_type = row["ai_type"].strip() or None
    if ai_type is not None and ai_type not in AI_TYPES:
        raise ValueError(f"unknown ai_type {ai_type!r}")
    role = row["owner_role"].strip()
    if role not in ROLES:
        raise ValueError(f"unknown owner_role {role!r}")
    for name in ("major_zh", "major_en", "minor_zh", "minor_en"):
        if not row[name].strip():
            raise ValueError(f"{name} is empty")
    sla = {stage: WorkDuration.parse(row[f"sla_{stage}"]) for stage in STAGES}
    return Category(code, family, match.group(2), row["major_zh"].strip(), row["major_en"].strip(),
                    row["minor_zh"].strip(), row["minor_en"].strip(), weight, ai_type, role, sla)


@lru_cache(maxsize=1)
def get_catalogue() -> Catalogue:
    return Catalogue.load()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def load_department_rows(path: Path | None = None) -> list[dict[str, str]]:
    """City-level departments (``departments.csv``); district and street squads are generated."""
    rows = _rows(path or DATA_DIR / "departments.csv")
    for row in rows:
        if row["role"] not in ROLES:
            raise ValueError(f"departments.csv: {row['id']} has unknown role {row['role']!r}")
    return rows


def load_la311_maps() -> tuple[dict[str, str], dict[str, str]]:
    """``(requesttype → catalogue code, owner → department id)`` for the LA 311 replayer."""
    catalogue = get_catalogue()
    categories = {r["requesttype"]: r["code"] for r in _rows(DATA_DIR / "la311_category_map.csv")}
    unknown = sorted(c for c in categories.values() if c not in catalogue)
    if unknown:
        raise ValueError(f"la311_category_map.csv maps to unknown codes {unknown}")
    owners = {r["owner"]: r["department_id"] for r in _rows(DATA_DIR / "la311_owner_map.csv")}
    return categories, owners
