"""Live Excel through xlwings, the only package that imports it: the ribbon buttons' entry
point (``entry``), the ``Workbook`` over a live book (``workbook``), reading IDs shown with
leading zeros in a bounded number of calls (``number_formats``), and the worksheet functions
(``functions``)."""
