"""What sharing produced, month by month, for the partnership's leadership: counts read from
the audit log (and the council tax cases), the time saved estimated from assumptions an admin
can edit, small numbers suppressed."""
