"""Information sharing agreements: what may be shared, by whom, with whom, why and on what basis."""
