"""Live Excel through xlwings, the only package that imports it: the ribbon buttons' entry
point (``entry``), the ``Workbook`` over a live book (``workbook``) and the worksheet functions
(``functions``)."""
