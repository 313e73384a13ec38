"""The import contract (``contract``), what a cell may hold before a column reads it
(``cell_values``), the audit trail of every run (``batches``), an apply held to the simulation
staff reviewed (``reviewed``), the columns several imports share (``columns``) and the imports
written on it: ``users``, ``links`` (students attached to accounts), ``roster`` (its columns in
``roster_columns``).

Each import loads the state its rows name in bulk, then plans with a pure function of that state
and the rows; a simulation records the plan, an apply writes it in one transaction."""
