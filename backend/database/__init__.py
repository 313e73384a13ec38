"""Where rows are kept: engines and transactions (``engine``), the tables (``models``), and
every schema change as an Alembic migration (``migrations``)."""
