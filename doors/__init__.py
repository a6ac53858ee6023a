"""Doors: the ways the city's other systems reach the platform (HTTP API, MQTT). Each publishes through Kafka and
reads through the read model (cityops/read/); none writes Redis."""
