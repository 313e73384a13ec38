"""The district server: the backend services over HTTP for staff, and the parents' activation page.

A front end like the ``portal`` command, but with no Excel: it imports ``backend`` and nothing of
``addin``. Every request names a staff member by their token; the services apply that member's
school scope, so this package decides nothing about who may see which child.
"""
