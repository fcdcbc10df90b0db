"""Names more than one SQL stage reads."""
from __future__ import annotations

# Every run's decisions and withheld decisions (sql/decision_log.py); the experiment stage reads it.
DECISION_LOG = "kaireon_decision_log"
