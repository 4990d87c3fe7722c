"""dj-stripe's tables for the test database, in one migration (see ``migrations/``)."""
