"""The template workbooks staff start from, shipped with the package.

They are built from the imports' own column lists by ``portal templates build`` and committed
here, so district IT can hand them out; a test fails while they differ from a rebuild.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable

SHIPPED: Traversable = files(__name__)
