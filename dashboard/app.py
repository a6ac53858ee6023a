"""CityOps console (城市运行管理服务平台): today's live figures from the Redis read model.

Pages are plain scripts; this one shows the city's counters for today, per district, the sensors
reporting, the latest captures and refused messages. It refreshes in a fragment every 5 s, so the
page itself does not flicker.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from cityops import read
from cityops.settings import get_settings
from fixtures.xiamen import load_city

st.set_page_config(page_title="CityOps 城市运行管理", layout="wide")
settings = get_settings()
city = load_city()


@st.cache_resource
def redis_client():
    return read.connect(settings)


st.title("厦门市城市运行管理服务平台 · CityOps")


@st.fragment(run_every=5)
def live() -> None:
    r = redis_client()
    now = datetime.now(settings.tz)
    try:
        today = read.day_counters(r, now, "city", city.code)
        heartbeat = read.worker_heartbeat(r)
    except Exception as err:  # noqa: BLE001 - any Redis failure shows as a degraded state, not a crash
        st.warning(f"读模型暂不可用 Read model unavailable: {type(err).__name__}")
        return
    if heartbeat is None or time.time() - heartbeat > 30:
        st.warning("流处理未在运行 Stream processors are not reporting")
    cols = st.columns(6)
    for col, (label, metric) in zip(cols, [("今日受理 Received", "received"), ("立案 Registered", "registered"),
                                           ("派遣 Dispatched", "dispatched"), ("处置 Handled", "handled"),
                                           ("结案 Closed", "closed"), ("AI抓拍 Captures", "captures")], strict=True):
        col.metric(label, f"{today.get(metric, 0):,}")
    districts = list(city.districts.values())
    per = read.day_counters_many(r, now, "district", [d.code for d in districts])
    table = pd.DataFrame([{"区 District": d.name_zh, "受理": per[d.code].get("received", 0),
                           "立案": per[d.code].get("registered", 0), "结案": per[d.code].get("closed", 0)}
                          for d in districts])
    left, right = st.columns(2)
    left.subheader("各区今日 Districts today")
    left.dataframe(table, hide_index=True, width="stretch")
    sensors = read.latest_sensors(r, (now - timedelta(minutes=10)).timestamp())
    right.subheader(f"在线传感器 Sensors reporting: {len(sensors)}")
    if sensors:
        right.dataframe(pd.DataFrame([s.__dict__ for s in sensors[:200]]), hide_index=True, width="stretch")
    dead = read.recent_dead_letters(r, 10)
    st.subheader("最近拒收消息 Recently refused messages")
    st.dataframe(pd.DataFrame(dead) if dead else pd.DataFrame(columns=["topic", "stage", "reason"]),
                 hide_index=True, width="stretch")
    st.caption(f"更新于 Updated {now:%Y-%m-%d %H:%M:%S}")


live()
