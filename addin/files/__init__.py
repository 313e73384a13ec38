"""Files from outside: untrusted-workbook checks (``checks``), a sheet measured before any
reader builds its grid (``sheet_bounds``), package parts and relationships (``opc``), the result
workbook written beside the input (``result_writer``), IDs shown with leading zeros
(``padded_ids``), and OneRoster CSV bundles (``oneroster``)."""
