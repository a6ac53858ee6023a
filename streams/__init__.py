"""Stream processors: Faust agents that turn the Kafka topics into the Redis read model.

``app`` configures Faust, ``topics`` names the topics with their contract models, ``worker`` starts the
process, ``agents/`` holds one small agent per topic, ``projections`` the pure rules that decide the writes,
``effects`` the exactly-once Redis writer, ``lua/`` its scripts, ``deadletter`` the refusal path.
"""
