"""Stream processors: Faust agents that turn the Kafka topics into the Redis read model.

``app`` configures Faust, ``topics`` names the topics with their contract models, ``worker`` starts the
process, ``agents/`` holds one small agent per topic and the timers, ``*_projection`` (case, sensor, detection,
command, with ``lifecycle``, ``sla`` and ``sensor_rules``) the pure rules that decide the writes, ``effects`` the
exactly-once Redis writer, ``lua/`` the worker's scripts, ``deadletter`` the refusal path.
"""
