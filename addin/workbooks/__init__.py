"""Workbooks, wherever they live: the ``Workbook`` interface (``interface``) over a file
(``file``) or a live Excel book (``addin.excel.workbook``), the import kinds a workbook can hold
(``kinds``), the ribbon's actions written once against the interface (``actions``), the result
and look-up sheets (``result_sheet``), and the template workbooks (``templates``)."""
