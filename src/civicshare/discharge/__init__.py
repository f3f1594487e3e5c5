"""Post-hospital care planning: who will need care after discharge, the discharge team's
list, and weekly demand by district (issue #17)."""
