"""Console strings in Chinese (default: the users are Chinese city bureaus) and English.

Why a plain dict and not gettext: a few hundred labels, two languages, and the tests want to look
up the exact text a page shows. ``t(key, lang)`` falls back to the key itself, so a missing string
is visible rather than a crash.
"""

from __future__ import annotations

from cityops import sensor_kinds
from cityops.alerts import AlertKind, AlertState, Severity, exceedance_type
from cityops.schemas import CASE_ACTION_ZH, CaseAction

LANGS = ("zh", "en")

STRINGS: dict[str, tuple[str, str]] = {
    # app and sign-in
    "app_title": ("{city}城市运行管理服务平台", "{city} City Operations Platform"),  # the city of CITYOPS_CITY_DIR
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出登录", "Sign out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误", "Wrong username or password"),
    "signin_locked": ("登录失败次数过多，请 {seconds} 秒后再试", "Too many failed sign-ins; try again in {seconds} s"),
    "users_unavailable": ("账号文件不可用，请联系管理员", "The accounts file is unavailable; contact an admin"),
    "session_expired": ("长时间未操作，已自动退出，请重新登录", "Signed out after inactivity; sign in again"),
    "account_changed": ("账号已变更，请重新登录", "Your account has changed; sign in again"),
    "signin_audit": ("登录与账号审计", "Sign-ins and account changes (audit)"),
    "signed_in_as": ("当前用户", "Signed in as"),
    "language": ("语言 Language", "Language 语言"),
    "role_leader": ("领导", "Leader"),
    "role_duty": ("值班员", "Duty officer"),
    "role_admin": ("管理员", "Admin"),
    "role_department": ("部门用户", "Department user"),
    # pages
    "page_bigscreen": ("领导驾驶舱", "Command screen"),
    "page_briefing": ("每日简报", "Daily briefing"),
    "page_duty": ("值班台", "Duty console"),
    "page_case": ("案件详情", "Case detail"),
    "page_case_search": ("案件查询", "Case search"),
    "page_assessment": ("考核", "Assessment"),
    "page_drill": ("分级钻取", "Drill-down"),
    "page_admin": ("用户管理", "Users"),
    "page_cameras": ("摄像头", "Cameras"),
    "page_dead_letters": ("死信", "Dead letters"),
    "page_department": ("部门工作台", "Department desk"),
    "dlq_period": ("时间范围", "Period"),
    "dlq_hours": ("最近 {n} 小时", "Last {n} hours"),
    "dlq_group_by": ("分组", "Group by"),
    "dlq_by_topic": ("主题", "Topic"),
    "dlq_by_stage": ("环节", "Stage"),
    "dlq_by_reason": ("原因", "Reason"),
    "dlq_total": ("拒收合计", "Refused in total"),
    "dlq_none": ("该时段没有死信", "No dead letters in this period"),
    "dlq_latest": ("最近的死信（原始内容按文本显示）", "Latest dead letters (raw payload shown as text)"),
    "dlq_payload": ("原始内容", "Raw payload"),
    "dlq_event_id": ("事件编号", "Event id"),
    "dlq_pick": ("查看原始内容", "Show the raw payload of"),
    "dlq_unavailable": ("读模型不可用", "The read model is unavailable"),
    "section_monitor": ("指挥监控", "Monitoring"),
    "section_ops": ("值班处置", "Operations"),
    "section_admin": ("系统管理", "Administration"),
    "section_department": ("部门处置", "Department"),
    # KPIs
    "kpi_received": ("今日受理", "Received today"),
    "kpi_registered": ("今日立案", "Registered"),
    "kpi_closed": ("今日结案", "Closed"),
    "kpi_closure_rate": ("结案率", "Closure rate"),
    "kpi_on_time_rate": ("按期结案率", "On-time closure"),
    "kpi_overdue_open": ("超期未结", "Overdue open"),
    "kpi_sensors_alarm": ("传感器告警", "Sensors in alarm"),
    "kpi_captures": ("今日AI抓拍", "AI captures today"),
    "vs_yesterday": ("较昨日同时段", "vs. same time yesterday"),
    "vs_previous_period": ("较上一同长时段", "vs. the period of the same length before"),
    "period_received": ("受理", "Received"),
    "period_registered": ("立案", "Registered"),
    "period_closed": ("结案", "Closed"),
    "drill_period": ("日期范围（默认今日实时）", "Date range (today, live, by default)"),
    "drill_period_of": ("{first} 至 {last}", "{first} to {last}"),
    "gauge_no_history": ("当前值（无历史同比）", "current value (no history kept)"),
    # big screen
    "map_title": ("案件热点 · 传感器 · 摄像头", "Hotspots · sensors · cameras"),
    "map_layers": ("地图图层", "Map layers"),
    "map_layer_districts": ("行政区", "Districts"),
    "map_layer_hotspots": ("案件热点", "Hotspots"),
    "map_layer_sensors": ("传感器", "Sensors"),
    "map_layer_cameras": ("摄像头", "Cameras"),
    "map_click_hint": ("点击地图上的行政区可钻取", "Click a district on the map to drill down"),
    "hourly_title": ("今日分时案件量（对比昨日）", "Cases by hour, today vs yesterday"),
    "today": ("今日", "Today"),
    "yesterday": ("昨日", "Yesterday"),
    "hour": ("时", "Hour"),
    "ranking_title": ("各区综合指标值排名", "Districts by overall score"),
    "ranking_title_yesterday": ("各区综合指标值排名（昨日）", "Districts by overall score (yesterday)"),
    "ranking_yesterday_help": ("今日尚无到期案件，各区得分相同：显示昨日排名。",
                               "Nothing is due today yet, so every district would score the same: yesterday's places."),
    "categories_title": ("今日高发问题", "Top categories today"),
    "captures_title": ("最新AI抓拍", "Latest AI captures"),
    "no_captures": ("暂无抓拍", "No captures yet"),
    "no_data": ("暂无数据", "No data yet"),
    "updated": ("更新于", "Updated"),
    "read_model_down": ("读模型暂不可用", "Read model unavailable"),
    "worker_down": ("流处理未在运行", "Stream processors are not reporting"),
    "workers_alive": ("流处理进程 {n} 个", "{n} stream processors"),
    "rank": ("排名", "Rank"),
    "district": ("区", "District"),
    "street": ("街道", "Street"),
    "community": ("社区", "Community"),
    "grid": ("网格", "Grid"),
    "score": ("综合指标值", "Score"),
    "category": ("问题类别", "Category"),
    "count": ("数量", "Count"),
    "legend": ("图例：红=告警 灰=离线 绿=正常 · 蓝=有新抓拍的摄像头 · 六边形=未结案件热点（颜色越暖越多）",
               "Legend: red = alarm, grey = offline, green = normal · blue = camera with fresh captures · "
               "hexagons = open-case hotspots (warmer = more)"),
    # duty console
    "feed_title": ("实时告警", "Live alerts"),
    "due_title": ("即将超期（倒计时）", "About to breach (countdown)"),
    "filters": ("筛选", "Filters"),
    "f_district": ("区", "District"),
    "f_type": ("类型", "Type"),
    "f_severity": ("级别", "Severity"),
    "f_status": ("状态", "Status"),
    "all": ("全部", "All"),
    "new_critical": ("新的紧急告警", "New critical alert"),
    "actions": ("处置操作", "Actions"),
    "select_alert": ("选择告警", "Select an alert"),
    "act_acknowledge": ("确认", "Acknowledge"),
    "act_dispatch": ("派遣", "Dispatch"),
    "act_escalate": ("督办", "Escalate"),
    "act_false_alarm": ("误报", "False alarm"),
    "department": ("派遣部门", "Department"),
    "note": ("备注", "Note"),
    "sent": ("指令已发送", "Command sent"),
    "send_failed": ("指令发送失败", "Command could not be sent"),
    "send_queued": ("消息总线暂不可达：指令已在本机排队，恢复后自动送达，请勿重复发送",
                    "The message bus is unreachable: the command is queued here and is delivered when it is back; "
                    "do not send it again"),
    "pending": ("处理中…", "pending…"),
    "no_alerts": ("当前无告警", "No alerts"),
    "recent_actions": ("最近操作（审计）", "Recent actions (audit)"),
    "open_case": ("查看案件", "Open case"),
    "time": ("时间", "Time"),
    "type": ("类型", "Type"),
    "severity": ("级别", "Severity"),
    "status": ("状态", "Status"),
    "target": ("对象", "Target"),
    "detail": ("详情", "Detail"),
    "countdown": ("剩余", "Remaining"),
    "stage": ("环节", "Stage"),
    "user": ("操作人", "User"),
    "action": ("操作", "Action"),
    # case
    "case_id": ("案件编号", "Case id"),
    "case_not_found": ("未找到该案件", "Case not found"),
    "timeline": ("办理过程", "Lifecycle timeline"),
    "evidence": ("证据", "Evidence"),
    "no_evidence": ("无证据图片", "No evidence image"),
    "position": ("位置", "Position"),
    "address": ("地址", "Address"),
    "description": ("描述", "Description"),
    "source": ("来源", "Source"),
    "state": ("状态", "State"),
    "deadline": ("时限", "Deadline"),
    "actor": ("办理人", "Actor"),
    # drill-down
    "level_city": ("全市", "City"),
    "choose": ("选择", "Choose"),
    "children_table": ("下级对比", "Sub-areas"),
    # admin
    "users": ("用户", "Users"),
    "add_user": ("新增/修改用户", "Add or change a user"),
    "display_name": ("姓名", "Display name"),
    "user_department": ("所属部门（部门用户）", "Department (department users)"),
    "role": ("角色", "Role"),
    "new_password": ("新密码（留空不改）", "New password (blank keeps it)"),
    "save": ("保存", "Save"),
    "delete_user": ("删除用户", "Delete user"),
    "delete": ("删除", "Delete"),
    "saved": ("已保存", "Saved"),
    "unknown_devices": ("未登记设备", "Unregistered devices"),
    "unknown_devices_none": ("近30天没有未登记设备的读数", "No readings of unregistered devices in 30 days"),
    "gateway": ("网关", "Gateway"),
    "gateway_unregistered": ("（未登记网关）", " (unregistered gateway)"),
    "unknown_today": ("今日读数", "Readings today"),
    "unknown_total": ("30天读数", "Readings, 30 days"),
    "unknown_ids": ("最近的未登记设备（最后出现）", "Latest unregistered devices (last seen)"),
    "last_seen": ("最后出现", "Last seen"),
    "notifications": ("消息推送（企业微信 · 钉钉 · 飞书 · 邮件）", "Notifications (WeCom · DingTalk · Feishu · email)"),
    "notifications_none": ("暂无推送消息（notify.yml 未配置或尚无告警）",
                           "No notifications yet (no notify.yml, or no alerts)"),
    "notify_route": ("路由", "Route"),
    "notify_channel": ("渠道", "Channel"),
    "notify_title": ("消息", "Message"),
    "notify_state": ("状态", "State"),
    "notify_attempts": ("尝试次数", "Attempts"),
    "notify_error": ("最近错误", "Last error"),
    "notify_pending": ("待发送", "Pending"),
    "notify_sending": ("发送中", "Sending"),
    "notify_sent": ("已送达", "Sent"),
    "notify_failed": ("失败", "Failed"),
    "notify_held": ("汇总中", "Held for summary"),
    "notify_summarised": ("已汇总", "Summarised"),
    # cameras
    "camera": ("摄像头", "Camera"),
    "name": ("名称", "Name"),
    "fps": ("帧率(帧/秒)", "Frames/s"),
    "last_frame": ("最新画面", "Last frame"),
    "status_at": ("状态上报", "Status sent"),
    "reconnects": ("重连次数", "Reconnects"),
    "captures_today": ("今日抓拍", "Captures today"),
    "detector": ("检测器", "Detector"),
    "error": ("错误", "Error"),
    "frames": ("已处理/已读帧", "Frames processed / read"),
    "frame_size": ("画面尺寸", "Frame size"),
    "cams_reporting": ("在线摄像头", "Cameras online"),
    "cams_trouble": ("离线/故障", "Offline / failed"),
    "cams_listed": ("摄像头总数", "Cameras"),
    "show_all_cameras": ("显示全部摄像头（含未上报）", "Show every camera (also those never reporting)"),
    "choose_camera": ("选择摄像头", "Choose a camera"),
    "latest_frame": ("最新画面（区域与屏蔽区）", "Latest frame (zones and masks)"),
    "no_frame": ("暂无画面", "No frame yet"),
    "zones_legend": ("区域", "Zones"),
    "mask_legend": ("深色 = 屏蔽区（不检测）", "Dark = mask (not detected)"),
    "latest_captures": ("最新抓拍", "Latest captures"),
    "zone_editor": ("区域编辑（管理员）", "Zone editor (admin)"),
    "choose_zone": ("选择区域", "Choose a zone"),
    "zone_help": ("在画面上依次点击新区域的各个角点（至少 3 个），然后保存",
                  "Click the new zone's corners on the frame in order (at least 3), then save"),
    "zone_points": ("已点击角点", "Corners clicked"),
    "undo_point": ("撤销上一点", "Undo last corner"),
    "clear_points": ("清除", "Clear"),
    "zone_saved": ("区域已保存到配置文件", "Zone saved to the cameras file"),
    "zone_save_failed": ("区域未保存", "Zone not saved"),
    "zone_need_points": ("至少需要 3 个角点", "At least 3 corners are needed"),
    "not_in_camera_file": ("该摄像头不在摄像头配置文件中，无法编辑区域",
                           "This camera is not in the cameras file; its zones cannot be edited here"),
    "camera_file_invalid": ("摄像头配置文件有误", "The cameras file is invalid"),
    # 督办单 (duty console) and the department desk (dashboard/pages/department.py)
    "sup_level": ("督办级别", "Supervision level"),
    "sup_window": ("回复时限", "Reply within"),
    "sup_orders": ("督办单（未回复）", "Open supervision orders"),
    "sup_none": ("暂无未回复的督办单", "No open supervision orders"),
    "sup_raised_by": ("督办人", "Raised by"),
    "sup_raised_at": ("督办时间", "Raised at"),
    "sup_reply_due": ("回复期限", "Reply due"),
    "sup_flags": ("提醒/升级", "Reminded / escalated"),
    "sup_reminded": ("已提醒", "reminded"),
    "sup_escalated": ("已升级{n}次", "escalated {n}×"),
    "sup_overdue": ("逾期未复", "overdue, no reply"),
    "sup_note": ("督办内容", "Note"),
    "sup_col": ("督办", "Supervision"),
    "remaining": ("剩余时间", "Remaining"),
    "past_due": ("已超期", "overdue"),
    "handle_deadline": ("处置时限", "Handling deadline"),
    "dept_queue": ("待处置案件", "Cases to handle"),
    "dept_queue_none": ("当前没有待处置的案件", "No cases to handle"),
    "dept_orders": ("本部门督办单", "Supervision orders against this department"),
    "dept_choose_case": ("选择案件", "Choose a case"),
    "dept_handle": ("处置", "Handle"),
    "dept_handle_note": ("处置情况", "What was done"),
    "dept_photo": ("现场照片（不超过10兆字节）", "Photo (at most 10 megabytes)"),
    "dept_pick_photo": ("选择照片", "Choose a photo"),
    "dept_return": ("退回", "Return"),
    "dept_return_reason": ("退回理由", "Reason for returning"),
    "dept_reply": ("督办回复", "Reply to the supervision order"),
    "dept_reply_text": ("回复内容", "Reply"),
    "dept_no_order": ("该案件没有未回复的督办单", "This case has no open supervision order"),
    "dept_need_text": ("请填写内容后再提交", "Fill in the text first"),
    "dept_bad_photo": ("照片无法使用：请上传不超过10兆字节的常见格式图片", "The photo cannot be used: upload a common "
                       "image format of at most 10 megabytes"),
    "submitted": ("已提交", "Submitted"),
}

# Keyed by the stored values of cityops/alerts.py's enums, so a label cannot drift from what writers store.
SEVERITY = {Severity.CRITICAL.value: ("紧急", "critical"), Severity.MAJOR.value: ("重要", "major"),
            Severity.MINOR.value: ("一般", "minor"), Severity.INFO.value: ("提示", "info")}
STATUS = {AlertState.ACTIVE.value: ("待处理", "active"), AlertState.ACKNOWLEDGED.value: ("已确认", "acknowledged"),
          AlertState.CLEARED.value: ("已解除", "cleared")}
# The alert types the duty console lists and filters by, in its order; an exceedance type per sensor kind, with
# the label its spec gives (cityops/sensor_kinds/*.toml).
ALERT_TYPE = {
    AlertKind.SLA_OVERDUE.value: ("案件超期", "SLA overdue"),
    "sla_due": ("即将超期", "about to breach"),  # the countdown rows (read.sla_due), not a stored alert
    **{exceedance_type(kind): (spec.alert_zh, spec.alert_en) for kind, spec in sensor_kinds.kinds().items()},
    AlertKind.DEVICE_OFFLINE.value: ("设备离线", "device offline"),
    AlertKind.AI_CAPTURE.value: ("AI抓拍", "AI capture"),
    AlertKind.SUPERVISION.value: ("督办单", "supervision order"),
}
# Keyed by a supervision alert's ``stage`` (cityops/supervision_orders.py Step): what the timer did.
SUP_STEP = {"remind": ("督办提醒", "reminder"), "escalate": ("督办升级", "escalated"),
            "overdue": ("督办逾期", "overdue")}
# Keyed by cityops.schemas.CameraState's values, plus the two the console adds (cityops/read/cameras.py).
CAMERA_STATE = {"ok": ("正常", "ok"), "reconnecting": ("重连中", "reconnecting"), "failed": ("故障", "failed"),
                "ended": ("已结束", "ended"), "offline": ("离线", "offline"), "unknown": ("未上报", "never reported")}
CASE_STATE = {
    "reported": ("已上报", "reported"), "accepted": ("已受理", "accepted"), "registered": ("已立案", "registered"),
    "dispatched": ("已派遣", "dispatched"), "handled": ("已处置", "handled"), "verified": ("已核查", "verified"),
    "closed": ("已结案", "closed"), "voided": ("已作废", "voided"), "rejected": ("不予立案", "rejected"),
    "reworked": ("返工中", "rework"),
    "parked": ("缓办/挂账", "parked"),
}
# Keyed by the SLA clock's stage (streams/sla.py STAGE_OF_STATE): the duty feed's 案件超期 rows and countdowns.
STAGE = {stage: (CASE_ACTION_ZH[CaseAction(stage)], stage)
         for stage in ("register", "dispatch", "handle", "verify", "close")}
# Keyed by the refusal stage a dead letter records (streams/deadletter.py ``refuse``, doors/mqtt, fixtures/replay).
DLQ_STAGE = {"validate": ("校验", "validate"), "apply": ("写入", "apply"), "auth": ("鉴权", "auth"),
             "transition": ("状态流转", "transition"), "reading": ("读数", "reading"), "late": ("迟到", "late")}


def t(key: str, lang: str = "zh") -> str:
    pair = STRINGS.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def label(table: dict[str, tuple[str, str]], key: str, lang: str = "zh") -> str:
    """A code's label from one of the tables above; unknown codes show as themselves."""
    pair = table.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


ROLE_LABELS = {"leader": ("领导", "Leader"), "duty": ("值班员", "Duty officer"), "admin": ("管理员", "Admin"),
               "department": ("部门用户", "Department user")}
