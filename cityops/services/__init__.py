"""The embedded stack's servers (broker, Redis) and readiness checks, for `make demo` and the tests."""
