"""Strawberry types, inputs and errors per domain; `app.schema.root` merges them."""
