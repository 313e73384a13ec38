"""The front ends over the service layer: live Excel (``excel``), the ``portal`` command
(``cli``), workbooks as files or live books (``workbooks``), the file formats (``files``), the
add-in builder (``xlam``) and the demo (``demo``)."""
