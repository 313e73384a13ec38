"""``portal demo``: a generated district (``district``) taken through every import (``run``)."""
