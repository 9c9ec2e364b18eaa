"""The pure engine: an integration document compiled into a plan and applied to messages.

Nothing here imports google, flask, requests or functions_framework (a test holds this).
"""
