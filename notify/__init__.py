"""Notifications: alerts, SLA clocks about to run out and the daily briefing, sent to the duty and leaders' chat
groups (WeCom, DingTalk, Feishu robots), a JSON webhook and email, through an outbox in Redis
(``python -m cityops notify``; routes in the city's ``notify.yml``, ``cityops/notify_routes.py``)."""
