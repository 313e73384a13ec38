"""District staff and what they may see: staff members, their roles and schools, and their
personal API tokens (``identity``), the identities a district server acts for."""
