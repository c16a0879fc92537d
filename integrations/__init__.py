"""Outbound integrations: MQTT (with Home Assistant discovery) and webhooks."""
