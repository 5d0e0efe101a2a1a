"""Payment channels: one adapter per channel behind one Protocol; webhooks; routing."""
