"""Accounts one at a time and en masse: logon keys (``logon``), who may see which child
(``attach_rules``, obeyed by every path that attaches a student), New and Modify User
(``single``), renaming a logon and merging a duplicate account (``rename``), a student's contact
card (``contact_card``), many accounts or students looked up at once for worksheet formulas
(``lookups``), and AutoCreate (``autocreate`` its options and entry point, ``autocreate_store``
what it loads and writes, ``autocreate_plan`` the rules that decide each student-contact pair)."""
