"""Local stand-ins for outside services (never imported by production code: what uses
one loads it by name, and only while its development setting is on)."""
