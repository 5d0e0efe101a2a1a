"""Partner webhooks: subscriptions, their delivery log, redelivery."""
