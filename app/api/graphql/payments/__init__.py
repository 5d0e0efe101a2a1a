"""Payment types of the API."""
