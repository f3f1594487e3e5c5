"""Councillors' casework: members' enquiries routed by topic and district to the responsible
partner and team, kept apart by the membership (the hat) each was raised under."""
