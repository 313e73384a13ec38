"""The import contract (``contract``), the audit trail of every run (``batches``), and the
imports written on it: ``users``, ``links`` (students attached to accounts), ``roster``.

Each import loads the state its rows name in bulk, then plans with a pure function of that state
and the rows; a simulation records the plan, an apply writes it in one transaction."""
