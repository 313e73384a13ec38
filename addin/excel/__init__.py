"""Live Excel through xlwings, the only package that imports it: the ribbon buttons' entry
point (``entry``), the ``Workbook`` over a live book (``workbook``), reading IDs shown with
leading zeros in a bounded number of calls (``number_formats``), the worksheet functions
(``functions``) and their VBA wrappers made by xlwings' generator (``udf_wrappers``), and the
add-in's settings files (``settings_file``)."""
