"""Background work: the arq worker and operator commands (`cmd_*.py` register CLI commands)."""
