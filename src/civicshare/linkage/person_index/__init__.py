"""The person index (the code behind ``civicshare.linkage.service``, which re-exports it)."""
