"""The composition root: settings, the factory that builds every backend once, and container definitions.

Only entry points import it (`function_app.py` through the blueprints, the local host, CLIs, benchmarks); the layers
below (`catalog/`, `chat/`, `embedding/`, `store/`, `transport/`) take plain values and never import it.
"""
