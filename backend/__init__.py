"""The service layer of Parent Portal Accounts; it knows nothing of Excel.

Every service that changes rows takes plain values (header cells and rows with their row
numbers, or the fields of one account) and an engine, and returns a ``Report`` with one
``RowResult`` per row, a simulation unless told to apply:

- ``imports``: the import contract and the users, student-link and roster imports;
- ``accounts``: logon keys, New and Modify User, the contact card, AutoCreate;
- ``mail``: email templates, the outbox, activation tokens and passwords;
- ``database``: engines and transactions for SQLite and PostgreSQL, the models, migrations;
- ``errors``: what a user is told (the tree is drawn there); ``settings``: ``PORTAL_`` values.
"""
