"""Life events: registrations told to every partner that needs to know, delivered reliably."""
