"""errno_of(f): "ok" if f() returns, else the errno name of the OSError it
raises. For the Python checks of the tests here (PYTHONPATH=tests/programs)."""
import errno


def errno_of(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
