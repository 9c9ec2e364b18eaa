"""Where messages come from: webhook signatures, Pub/Sub push envelopes and OIDC, pull
drains, and the subscriptions kept in step with integrations.
"""
