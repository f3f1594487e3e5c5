"""Notifications: in-app messages to a membership (or every member of a partner with a role),
and the same by e-mail through the gateway's SMTP server when one is set."""
