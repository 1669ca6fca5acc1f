"""Talking to remote services: the one retry policy and the OpenAI wire rules shared by embedding and chat."""
