"""How much the fuzz tries: environment variables, sized by default so both fuzz
tests together take at most about three minutes on a 2-core machine."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

# Schemathesis cases per root field, per role.
SCHEMA_EXAMPLES = int(os.environ.get("FUZZ_SCHEMA_EXAMPLES", "16"))
# Hypothesis-generated hostile values per argument leaf, per role (on top of the fixed
# corpus, which every leaf always gets whole).
HOSTILE_EXAMPLES = int(os.environ.get("FUZZ_HOSTILE_EXAMPLES", "5"))
# FUZZ_RANDOM=1 draws new values on every run; by default a run draws the same ones,
# so CI answers the same question each time.
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"


def hypothesis_settings(max_examples: int) -> settings:
    """Generation only: every failure is collected for the report, none is shrunk."""
    return settings(
        max_examples=max_examples,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        derandomize=not RANDOM,
        suppress_health_check=list(HealthCheck),
    )
