"""Stream processors: Faust agents that turn the Kafka topics into the Redis read model.

``app`` configures Faust, ``agents/`` holds one small agent per topic, ``projections`` the pure rules
that decide the writes, ``effects`` the exactly-once Redis writer, ``deadletter`` the refusal path.
"""
