"""The installed ``portal`` program: ``app.main`` in a process that ends with the command.

Python's cyclic garbage collector walks every object it tracks, and loading the command's
libraries makes some hundred thousand of them, none garbage. Walks only a whole process may
skip (``main`` also runs inside tests and other programs, where they must go on): those while
the modules load and over what they made, which lives as long as the process, and the several
that Python's own exit makes over everything left, a quarter of a second after a 20,000-row
import, before the memory goes back to the system anyway. The command's database connections
are closed first, as the exit would have.
"""

import gc


def run() -> None:
    """``portal``'s entry point."""
    gc.disable()
    try:
        from addin.cli.app import main
        from addin.cli.output import close_databases
    finally:
        gc.freeze()  # the modules' objects live as long as the process: no walk ever looks again
        gc.enable()
    try:
        main()
    finally:
        close_databases()
        gc.freeze()
