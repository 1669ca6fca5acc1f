"""What the HTTP functions do, imported on their first call (so importing function_app stays cheap)."""
