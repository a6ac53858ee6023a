"""摄像头 · every camera's health (frames/s, last frame, reconnects), its latest frame with zones and masks drawn,
and today's captures; an admin redraws a zone by clicking its corners on the frame, saved to ``cameras.yml``.

Health comes from the read model (``cityops.read.cameras``: a status older than three send intervals shows as
离线); frames from the evidence store (``<camera>/latest.jpg``, written by the detectors); zones from the cameras
file (``detectors.camera_config``), read again whenever it changes, else from the city data. Duty officers and
above see the page; only admins edit, and the file is written only through ``save_zone_polygon``, which checks
the whole file and refuses a bad polygon with a message (shown, never a traceback).
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime
from functools import partial
from pathlib import Path

import streamlit as st
from redis.exceptions import RedisError
from streamlit_image_coordinates import streamlit_image_coordinates

from cityops import auth, read
from cityops.city_data import get_city_data
from dashboard import evidence
from dashboard.auth_gate import recheck, require_role
from dashboard.common import catalogue, lang, redis_client, settings
from dashboard.i18n import CAMERA_STATE, label, t
from dashboard.views import cameras as views
from dashboard.views.common import md_escape
from detectors.camera_config import CameraConfigError, CameraFile, cameras_path, load_camera_file, save_zone_polygon

REFRESH_S = 5.0
LATEST_CAPTURES = 4
EDIT_WIDTH = 960

who = require_role("duty")
lg = lang()
cat = catalogue()
tz = settings().tz
st.subheader(t("page_cameras", lg))


@st.cache_resource(max_entries=4)
def _camera_file(path: str, stamp: tuple[int, int, int]) -> CameraFile:
    """Keyed by the file's inode, size and mtime too (not ``_stamp``: Streamlit leaves ``_`` arguments out of the
    key), so a saved zone shows at once."""
    return load_camera_file(Path(path))


def camera_file() -> tuple[CameraFile | None, str | None]:
    """The cameras file as it is now (read again when it changed), or None and why (missing: no error)."""
    path = cameras_path(settings())
    try:
        info = os.stat(path)
    except OSError:
        return None, None
    try:
        return _camera_file(str(path), (info.st_ino, info.st_size, info.st_mtime_ns)), None
    except CameraConfigError as err:
        return None, str(err)


@st.cache_resource
def _city_cameras() -> dict[str, object]:
    return {c.id: c for c in get_city_data().cameras}


spec_file, file_error = camera_file()
if file_error:
    st.warning(f"{t('camera_file_invalid', lg)}: {md_escape(file_error[:600])}")
specs = spec_file.cameras if spec_file is not None else {}
known: dict[str, object] = {**_city_cameras(), **specs}  # the file's geometry wins: the detectors use it
names = {cid: getattr(c, "name", None) or getattr(c, "name_zh", cid) for cid, c in known.items()}

try:
    now = datetime.now(tz)
    health = read.camera_health(redis_client(), sorted(known), now)
    counts = read.capture_counts(read.captures_today(redis_client(), now))
except RedisError as err:
    st.warning(f"{t('read_model_down', lg)}: {type(err).__name__}")
    st.stop()

reporting = [cid for cid in sorted(known) if health[cid].status is not None or cid in counts]
show_all = st.toggle(t("show_all_cameras", lg), key="cams_show_all", value=not reporting)
listed = sorted(known) if show_all or not reporting else reporting
if not listed:
    st.info(t("no_data", lg))
    st.stop()
chosen = st.selectbox(t("choose_camera", lg), listed, key="cams_pick",
                      format_func=lambda c: f"{c} · {names[c]} · {label(CAMERA_STATE, health[c].state, lg)}")


@st.fragment(run_every=REFRESH_S)
def overview() -> None:
    """Health of the listed cameras and the chosen one's frame, refreshed every few seconds."""
    recheck("duty")
    now = datetime.now(tz)
    try:
        fresh = read.camera_health(redis_client(), listed, now)
        caps = read.captures_today(redis_client(), now)
    except RedisError as err:
        st.warning(f"{t('read_model_down', lg)}: {type(err).__name__}")
        return
    by_cam = read.capture_counts(caps)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(t("cams_listed", lg), len(listed))
    m2.metric(t("cams_reporting", lg), sum(1 for h in fresh.values() if h.state == "ok"))
    m3.metric(t("cams_trouble", lg), sum(1 for h in fresh.values() if h.state in ("offline", "failed")))
    m4.metric(t("captures_today", lg), sum(sum(c.values()) for c in by_cam.values()))
    st.dataframe(views.health_rows([(c, names[c]) for c in listed], fresh, by_cam, tz, lg), hide_index=True,
                 height=min(320, 38 + 35 * len(listed)), key="cams_table")
    h = fresh[chosen]
    geometry = views.geometry_of(known[chosen])
    left, right = st.columns([1.6, 1])
    with left:
        st.markdown(f"**{t('latest_frame', lg)}** · {md_escape(chosen)} · {md_escape(names[chosen])}")
        frame = views.latest_frame(settings().evidence_dir, h.status.latest_frame_ref if h.status else None)
        if frame is None:
            st.caption(t("no_frame", lg))
            frame = views.blank_frame()
        st.image(views.jpeg(views.draw_overlay(frame, geometry)), width="stretch")
        legend = " · ".join(f"{i + 1} {z.name}" for i, z in enumerate(geometry.zones))
        st.caption(md_escape(f"{t('zones_legend', lg)}: {legend}") + (f" · {t('mask_legend', lg)}"
                                                                       if geometry.masks else ""))
    with right:
        st.dataframe(views.status_facts(h, tz, lg), hide_index=True, width="stretch")
        mine = [c for c in caps if c.get("camera_id") == chosen]
        st.markdown(f"**{t('captures_today', lg)}** ({len(mine)})")
        if mine:
            st.dataframe(views.type_counts(Counter(str(c.get("ai_type", "")) for c in mine), cat, lg),
                         hide_index=True, width="stretch")
            st.markdown(f"**{t('latest_captures', lg)}**")
            cols = st.columns(2)
            for i, cap in enumerate(mine[:LATEST_CAPTURES]):
                path = evidence.resolve(settings().evidence_dir, str(cap.get("evidence_ref", "")))
                caption = md_escape(f"{views.ai_name(cat, str(cap.get('ai_type', '')), lg)} · "
                                    f"{str(cap.get('last_seen', ''))[11:19]}")
                with cols[i % 2]:
                    try:
                        if path is None:
                            raise OSError("no evidence")
                        st.image(evidence.thumbnail(path, cap.get("box"),
                                                    (cap.get("frame_width"), cap.get("frame_height")), width=320),
                                 caption=caption, width="stretch")
                    except OSError:
                        st.caption(f"{caption} · {t('no_evidence', lg)}")
        else:
            st.caption(t("no_captures", lg))


def _add_corner(slot: str, click_key: str) -> None:
    """The click's corner added to the draft before the editor draws again (a callback: no extra rerun)."""
    click = st.session_state.get(click_key)
    point = views.click_point(click) if isinstance(click, dict) else None
    if point is not None:
        st.session_state.setdefault(f"zone_draft:{slot}", []).append(point)


def _undo(slot: str) -> None:
    draft = st.session_state.get(f"zone_draft:{slot}")
    if draft:
        draft.pop()


def _clear(slot: str) -> None:
    """An empty draft, and a fresh click widget (the old one would report its last click again)."""
    st.session_state[f"zone_draft:{slot}"] = []
    st.session_state[f"zone_rev:{slot}"] = st.session_state.get(f"zone_rev:{slot}", 0) + 1


@st.fragment
def zone_editor() -> None:
    """Click corners on the frame; 保存 writes the polygon to the cameras file. Runs only on its own widgets."""
    recheck("admin", touch=True)
    st.markdown(f"**{t('zone_editor', lg)}**")
    spec = specs.get(chosen)
    if spec is None:
        st.caption(t("not_in_camera_file", lg))
        return
    zone_id = st.selectbox(t("choose_zone", lg), [z.id for z in spec.zones], key=f"zone_pick:{chosen}",
                           format_func=lambda z: f"{z} · {next(x.name for x in spec.zones if x.id == z)}")
    slot = f"{chosen}:{zone_id}"
    draft: list[tuple[float, float]] = st.session_state.setdefault(f"zone_draft:{slot}", [])
    rev = st.session_state.setdefault(f"zone_rev:{slot}", 0)
    try:
        status = read.camera_health(redis_client(), [chosen], datetime.now(tz))[chosen].status
    except RedisError:
        status = None
    frame = views.latest_frame(settings().evidence_dir, status.latest_frame_ref if status else None, EDIT_WIDTH)
    canvas = views.draw_overlay(frame or views.blank_frame(), views.geometry_of(spec), draft, highlight=zone_id)
    st.caption(t("zone_help", lg))
    click_key = f"zone_click:{slot}:{rev}"
    streamlit_image_coordinates(canvas, width=canvas.width, key=click_key, image_format="JPEG", jpeg_quality=85,
                                cursor="crosshair", on_click=partial(_add_corner, slot, click_key))
    st.caption(f"{t('zone_points', lg)}: {len(draft)} · " + md_escape(" ".join(f"({x:.3f}, {y:.3f})"
                                                                               for x, y in draft)))
    b1, b2, b3 = st.columns(3)
    b1.button(t("undo_point", lg), key=f"zone_undo:{slot}", disabled=not draft, on_click=_undo, args=(slot,))
    b2.button(t("clear_points", lg), key=f"zone_clear:{slot}", disabled=not draft, on_click=_clear, args=(slot,))
    if b3.button(t("save", lg), key=f"zone_save:{slot}", type="primary"):
        if len(draft) < 3:
            st.error(t("zone_need_points", lg))
            return
        try:
            save_zone_polygon(spec_file.path, chosen, zone_id, list(draft))
        except CameraConfigError as err:
            st.error(f"{t('zone_save_failed', lg)}: {md_escape(str(err)[:600])}")
            return
        except OSError as err:
            st.error(f"{t('zone_save_failed', lg)}: {type(err).__name__}: {md_escape(str(err)[:200])}")
            return
        _clear(slot)
        st.session_state["zone_saved_notice"] = f"{chosen} · {zone_id}"
        st.rerun(scope="app")  # the overview draws the saved zone too


overview()
notice = st.session_state.pop("zone_saved_notice", None)
if notice:
    st.success(f"{t('zone_saved', lg)}: {md_escape(notice)}")
if auth.role_at_least(who["role"], "admin"):
    zone_editor()
