"""The category catalogue (部件/事件, CJJ/T 106 and GB/T 30428.2 style) and its companion data files.

Why a data file: cities extend the catalogue with local classes and tune the time limits, and the
people who do that are not programmers. Each city's ``catalogue.csv`` (in its data folder,
``CITYOPS_CITY_DIR``, docs/city-data.md) is validated on load, and a bad row stops the process with the
row named, rather than letting a wrong SLA, an unknown owner or a doubly used AI type slip into
dispatching and the KPIs. ``fixtures/data/SOURCES.md`` says where the classes, weights and limits come from.

The companion readers (a city-level ``departments.csv`` list, mappings such as the LA 311 replay's) are
here too, so that every file that names a catalogue code or a department is checked in one place.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

#: The SLA stages, in lifecycle order: 立案 register, 派遣 dispatch, 处置 handle, 核查 verify.
STAGES = ("register", "dispatch", "handle", "verify")

#: The 14 violation types that video AI auto-capture (视频AI抓拍) reports; each maps to exactly one class.
AI_TYPES: tuple[str, ...] = (
    "street_vending",  # 占道经营
    "shop_overflow",  # 店外经营
    "mobile_vendor",  # 流动摊贩 / 无照游商
    "illegal_parking",  # 机动车占道停车
    "ebike_parking",  # 非机动车乱停放
    "garbage_overflow",  # 垃圾满溢
    "exposed_garbage",  # 暴露垃圾
    "stacked_materials",  # 乱堆物料
    "street_drying",  # 沿街晾挂
    "illegal_ads",  # 违规设置广告 / 横幅
    "road_construction",  # 占道施工
    "dumped_muck",  # 积存渣土
    "uncovered_muck_truck",  # 渣土车未密闭
    "manhole_missing",  # 井盖缺失 / 破损 (a component)
)

#: Department roles. The first three are generated per district / street by the city model; the
#: others are city-level functional departments listed in ``departments.csv``.
ROLES: tuple[str, ...] = (
    "street_squad",  # 街道城管中队
    "district_squad",  # 区城管执法大队
    "district_sanitation",  # 区环卫站
    "municipal_garden",  # 市政园林 (roads, street lights, trees)
    "traffic_police",  # 交警
    "eco_env",  # 生态环境
    "construction",  # 建设 / 工地
    "water",  # 水务
    "power",  # 供电
    "gas",  # 燃气
    "telecom",  # 通信
    "planning",  # 资源规划
    "market",  # 市场监管
    "transport",  # 交通运输
    "fire",  # 消防救援
    "city_enforcement",  # 市城市管理行政执法局
    "sanitation",  # 市环境卫生中心
    "command",  # 监督指挥中心
)
#: Roles that have one department per district or street, generated elsewhere, not in departments.csv.
LOCAL_ROLES: frozenset[str] = frozenset({"street_squad", "district_squad", "district_sanitation"})

FAMILIES = ("component", "event")  # 部件, 事件
WEIGHTS = (1, 2, 3, 5)

CATALOGUE_COLUMNS = (
    "code", "family", "major_code", "major_zh", "major_en", "minor_zh", "minor_en", "weight", "ai_type",
    "owner_role", "sla_register", "sla_dispatch", "sla_handle", "sla_verify", "clock",
)
#: The header of a catalogue written before the ``clock`` column existed; still accepted (see ``default_clock``).
CATALOGUE_COLUMNS_WITHOUT_CLOCK = CATALOGUE_COLUMNS[:-1]
#: The event major class whose clocks run in natural time when a file has no ``clock`` column. Matched by
#: name, not number, because older catalogues numbered it 05 (the standard's 04 is 突发事件).
EMERGENCY_MAJOR_ZH = "突发事件"
DEPARTMENT_COLUMNS = ("id", "name_zh", "name_en", "role", "level")

_DURATION = re.compile(r"^([1-9]\d{0,4})([mhd])$")
_CODE = re.compile(r"^([CE])(\d{2})(\d{2})$")
_UNITS = ("m", "h", "d")


class Clock(StrEnum):
    """How a category's SLA clocks run: ``natural`` = wall-clock time, 24×7 (自然时间, a ``d`` is 24 hours);
    ``working`` = office hours of the working calendar only (工作时间, a ``d`` is one working day)."""

    NATURAL = "natural"
    WORKING = "working"


def default_clock(family: str, major_zh: str) -> Clock:
    """The clock of a row in a catalogue file without a ``clock`` column: natural for the emergencies
    (突发事件) event class, working for everything else. Why: a city's older file must still load, and
    emergencies are the classes that cannot wait for Monday morning."""
    return Clock.NATURAL if family == "event" and major_zh == EMERGENCY_MAJOR_ZH else Clock.WORKING


@dataclass(frozen=True)
class WorkDuration:
    """An amount of *working* time: minutes, hours or days of the working calendar.

    Why not ``timedelta``: time limits in 数字城管 count only office hours (工作时 / 工作日), so
    ``4h`` started on a Friday afternoon ends on Monday. Only ``WorkCalendar.add`` turns one into an
    instant. ``d`` means that many working days' worth of working time (7 h each by default).
    A category whose ``clock`` is ``natural`` reads the same amount as wall-clock time instead (``d`` = 24 h;
    ``streams.sla.natural_add``).
    """

    amount: int
    unit: Literal["m", "h", "d"]

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 0:
            raise ValueError(f"working duration amount must be a non-negative integer, not {self.amount!r}")
        if self.unit not in _UNITS:
            raise ValueError(f"working duration unit must be 'm', 'h' or 'd', not {self.unit!r}")

    @classmethod
    def parse(cls, text: str) -> WorkDuration:
        """``"30m"`` → 30 working minutes, ``"4h"`` → 4 working hours, ``"15d"`` → 15 working days.

        Strict on purpose (no spaces inside, no decimals, no zero): a typo in a limit must fail the load.
        """
        match = _DURATION.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise ValueError(f"working duration {text!r} must look like 30m, 4h or 15d "
                             "(a positive integer, then m = working minutes, h = working hours, d = working days)")
        return cls(int(match.group(1)), match.group(2))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


@dataclass(frozen=True)
class Category:
    """One minor class (小类) of the catalogue, with its owner role, AI type, weight and stage limits.

    ``weight`` multiplies the case in closure and on-time rates (Xuzhou's 2×/3×/5× hard problems);
    ``sla`` maps each of ``STAGES`` to the limit of that stage, counted in working time or, when ``clock`` is
    ``Clock.NATURAL``, in natural (wall-clock) time (``streams/sla.py``).
    """

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
    clock: Clock

    def name(self, lang: str = "zh") -> str:
        """Display name: ``"市容环境/暴露垃圾"`` (zh) or ``"City appearance / Exposed garbage"`` (any other lang)."""
        return f"{self.major_zh}/{self.minor_zh}" if lang == "zh" else f"{self.major_en} / {self.minor_en}"

    @property
    def is_component(self) -> bool:
        return self.family == "component"


class Catalogue:
    """The validated set of categories, looked up by code or by AI type.

    Build it with :meth:`load` (or :func:`get_catalogue` for the shared default) so that every row has
    been checked; the constructor re-checks uniqueness for catalogues assembled in code.
    """

    def __init__(self, categories: Iterable[Category]) -> None:
        self._by_code: dict[str, Category] = {}
        self._by_ai: dict[str, Category] = {}
        for c in categories:
            if c.code in self._by_code:
                raise ValueError(f"duplicate category code {c.code}")
            if c.ai_type is not None:
                if c.ai_type in self._by_ai:
                    raise ValueError(f"ai_type {c.ai_type} used twice ({self._by_ai[c.ai_type].code}, {c.code})")
                self._by_ai[c.ai_type] = c
            self._by_code[c.code] = c

    @classmethod
    def load(cls, path: Path | None = None) -> Catalogue:
        """Read and validate ``catalogue.csv`` (default: the one in the city's data folder, ``CITYOPS_CITY_DIR``).

        Raises ``ValueError`` naming the file and line of the first bad row: wrong header, malformed or
        duplicate code, family or major code that does not fit the code, a major class whose names differ
        between rows, weight outside {1, 2, 3, 5}, unknown AI type or one used twice, unknown owner
        role, empty name, an SLA cell that is not a duration, or a ``clock`` cell other than ``natural`` /
        ``working``. A file without the ``clock`` column (an older city catalogue) still loads: its rows get
        :func:`default_clock` (natural for 突发事件, working otherwise).
        """
        if path is None:
            from cityops.settings import get_settings  # lazy: settings read the environment

            path = get_settings().city_dir / "catalogue.csv"
        categories: list[Category] = []
        codes: dict[str, int] = {}
        ai_lines: dict[str, int] = {}
        majors: dict[tuple[str, str], tuple[str, str, int]] = {}
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            has_clock = _check_header(path, reader.fieldnames, CATALOGUE_COLUMNS, CATALOGUE_COLUMNS_WITHOUT_CLOCK)
            for line, row in enumerate(reader, start=2):
                where = f"{path.name} line {line}"
                try:
                    cat = _category(row, has_clock)
                except (KeyError, ValueError, TypeError) as err:
                    raise ValueError(f"{where}: {err}") from None
                if cat.code in codes:
                    raise ValueError(f"{where}: duplicate code {cat.code} (first on line {codes[cat.code]})")
                if cat.ai_type and cat.ai_type in ai_lines:
                    first = ai_lines[cat.ai_type]
                    raise ValueError(f"{where}: ai_type {cat.ai_type} used twice (first on line {first})")
                key = (cat.family, cat.major_code)
                names = (cat.major_zh, cat.major_en)
                if key in majors and majors[key][:2] != names:
                    raise ValueError(f"{where}: major class {cat.family} {cat.major_code} is named {names}, "
                                     f"but {majors[key][:2]} on line {majors[key][2]}")
                majors.setdefault(key, (*names, line))
                codes[cat.code] = line
                if cat.ai_type:
                    ai_lines[cat.ai_type] = line
                categories.append(cat)
        if not categories:
            raise ValueError(f"{path.name}: no categories")
        return cls(categories)

    def get(self, code: str) -> Category:
        """The category with this code; ``KeyError("unknown category code 'X9999'")`` otherwise."""
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
        """The class an AI capture of ``ai_type`` is filed under; ``KeyError`` if none."""
        try:
            return self._by_ai[ai_type]
        except KeyError:
            raise KeyError(f"no category for AI type {ai_type!r}") from None

    def ai_types(self) -> list[str]:
        """The AI types this catalogue covers, in the order of ``AI_TYPES``."""
        return [t for t in AI_TYPES if t in self._by_ai]

    def majors(self) -> list[tuple[str, str, str, str]]:
        """``(family, major_code, major_zh, major_en)`` of each major class, in file order."""
        out: dict[tuple[str, str], tuple[str, str, str, str]] = {}
        for c in self:
            out.setdefault((c.family, c.major_code), (c.family, c.major_code, c.major_zh, c.major_en))
        return list(out.values())


def _check_header(path: Path, fieldnames: Iterable[str] | None, expected: tuple[str, ...],
                  older: tuple[str, ...] | None = None) -> bool:
    """Check the header; True if it is ``expected``, False if it is the accepted ``older`` form."""
    got = tuple((f or "").strip() for f in fieldnames or ())
    if got == expected:
        return True
    if older is not None and got == older:
        return False
    raise ValueError(f"{path.name} line 1: header must be {','.join(expected)!r}, not {','.join(got)!r}")


def _cell(row: Mapping[str, str | None], name: str) -> str:
    value = row.get(name)
    if value is None:
        raise ValueError(f"column {name} is missing (too few fields)")
    return value.strip()


def _category(row: Mapping[str, str | None], has_clock: bool = True) -> Category:
    if None in row:  # csv.DictReader puts surplus fields under the key None
        raise ValueError(f"too many fields: {row[None]!r}")  # type: ignore[index]
    code = _cell(row, "code")
    match = _CODE.match(code)
    if not match:
        raise ValueError(f"code {code!r} must be C or E followed by 4 digits (2-digit major, 2-digit minor)")
    family = _cell(row, "family")
    if family not in FAMILIES or (family == "component") != (match.group(1) == "C"):
        raise ValueError(f"family {family!r} does not fit code {code} (C = component, E = event)")
    if _cell(row, "major_code") != match.group(2):
        raise ValueError(f"major_code {_cell(row, 'major_code')!r} does not fit code {code}")
    names = {n: _cell(row, n) for n in ("major_zh", "major_en", "minor_zh", "minor_en")}
    for name, value in names.items():
        if not value:
            raise ValueError(f"{name} is empty")
    raw_weight = _cell(row, "weight")
    if raw_weight not in {str(w) for w in WEIGHTS}:
        raise ValueError(f"weight {raw_weight} must be 1, 2, 3 or 5")
    ai_type = _cell(row, "ai_type") or None
    if ai_type is not None and ai_type not in AI_TYPES:
        raise ValueError(f"unknown ai_type {ai_type!r} (known: {', '.join(AI_TYPES)})")
    role = _cell(row, "owner_role")
    if role not in ROLES:
        raise ValueError(f"unknown owner_role {role!r} (known: {', '.join(ROLES)})")
    sla: dict[str, WorkDuration] = {}
    for stage in STAGES:
        try:
            sla[stage] = WorkDuration.parse(_cell(row, f"sla_{stage}"))
        except ValueError as err:
            raise ValueError(f"sla_{stage}: {err}") from None
    if has_clock:
        raw_clock = _cell(row, "clock")
        if raw_clock not in {c.value for c in Clock}:
            raise ValueError(f"column clock: {raw_clock!r} must be 'natural' (24x7) or 'working' (office hours)")
        clock = Clock(raw_clock)
    else:
        clock = default_clock(family, names["major_zh"])
    return Category(code, family, match.group(2), names["major_zh"], names["major_en"], names["minor_zh"],
                    names["minor_en"], int(raw_weight), ai_type, role, sla, clock)


@lru_cache(maxsize=1)
def get_catalogue() -> Catalogue:
    """The default catalogue, loaded once per process (schemas check every event's code against it)."""
    return Catalogue.load()


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """``(line, row)`` pairs of a small CSV whose header must be exactly ``columns``; cells stripped."""
    out: list[tuple[int, dict[str, str]]] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        _check_header(path, reader.fieldnames, columns)
        for line, row in enumerate(reader, start=2):
            if None in row or any(v is None for v in row.values()):
                raise ValueError(f"{path.name} line {line}: expected {len(columns)} fields")
            out.append((line, {k: (v or "").strip() for k, v in row.items()}))  # type: ignore[misc]
    return out


def load_department_rows(path: Path) -> list[dict[str, str]]:
    """A list of city-level departments (``id,name_zh,name_en,role,level``, the Xiamen fixture's source);
    district and street squads are generated elsewhere.

    Each row needs a unique id, both names, a role from ``ROLES`` that is not a per-district/street
    role, and ``level`` = ``city``; otherwise ``ValueError`` names the line.
    """
    rows: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for line, row in _rows(path, DEPARTMENT_COLUMNS):
        where = f"{path.name} line {line}"
        if not row["id"] or not row["name_zh"] or not row["name_en"]:
            raise ValueError(f"{where}: id, name_zh and name_en must not be empty")
        if row["id"] in seen:
            raise ValueError(f"{where}: duplicate department id {row['id']} (first on line {seen[row['id']]})")
        if row["role"] not in ROLES:
            raise ValueError(f"{where}: {row['id']} has unknown role {row['role']!r}")
        if row["role"] in LOCAL_ROLES:
            raise ValueError(f"{where}: role {row['role']} is generated per district/street, not listed here")
        if row["level"] != "city":
            raise ValueError(f"{where}: level must be 'city', not {row['level']!r}")
        seen[row["id"]] = line
        rows.append(row)
    return rows


def _mapping(path: Path, columns: tuple[str, str, str], allowed: Iterable[str], what: str) -> dict[str, str]:
    allowed = set(allowed)
    out: dict[str, str] = {}
    for line, row in _rows(path, columns):
        key, value = row[columns[0]], row[columns[1]]
        where = f"{path.name} line {line}"
        if not key:
            raise ValueError(f"{where}: empty {columns[0]}")
        if key in out:
            raise ValueError(f"{where}: {columns[0]} {key!r} mapped twice")
        if value not in allowed:
            raise ValueError(f"{where}: {key!r} maps to unknown {what} {value!r}")
        out[key] = value
    return out


def load_la311_maps(data_dir: Path, catalogue: Catalogue | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """``(requesttype → catalogue code, owner → department id)`` for the LA 311 replayer.

    Every target is checked: codes against the catalogue, department ids against ``departments.csv``,
    so a mapping can never send a replayed case to a class or department that does not exist.
    """
    catalogue = catalogue or get_catalogue()
    categories = _mapping(data_dir / "la311_category_map.csv", ("requesttype", "code", "note"),
                          (c.code for c in catalogue), "catalogue code")
    departments = (r["id"] for r in load_department_rows(data_dir / "departments.csv"))
    owners = _mapping(data_dir / "la311_owner_map.csv", ("owner", "department_id", "note"), departments,
                      "department id")
    return categories, owners
