"""The error classes against their two descriptions: errors.py's tree and the README's table."""

import ast
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import orchestrator_service
from orchestrator_service import errors, http
from orchestrator_service.errors import OrchestratorError

PACKAGE = Path(orchestrator_service.__file__).parent
README = PACKAGE.parent / "README.md"

# "│   └── ConfirmationRequired   409 confirmation_required     tools/invoker.py"
_TREE_LINE = re.compile(
    r"(?P<guides>(?:│   |    )*)(?P<branch>[├└]── )?(?P<name>[A-Z]\w*) +(?P<status>\d{3})"
    r" (?P<code>[a-z_]+)(?: +(?P<module>\S+\.py))?"
)
# "| 409 | `confirmation_required` | the tool requires confirmation ... |"
_TABLE_ROW = re.compile(r"\| *(?P<status>\d{3}|other) *\| *`(?P<code>[^`]+)` *\|.*\|")


@pytest.fixture(scope="module")
def classes() -> list[type[OrchestratorError]]:
    """Every OrchestratorError subclass the package defines, after importing all its modules."""
    for module in pkgutil.walk_packages(orchestrator_service.__path__, "orchestrator_service."):
        importlib.import_module(module.name)
    found, todo = [], [OrchestratorError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.partition(".")[0] == "orchestrator_service":
            found.append(cls)
    return sorted(found, key=lambda cls: cls.__name__)


def _module_path(cls: type) -> str | None:
    """Where a class is defined, relative to the package; None for errors.py itself."""
    if cls.__module__ == errors.__name__:
        return None
    return Path(sys.modules[cls.__module__].__file__).relative_to(PACKAGE).as_posix()


def _drawn_tree() -> dict[str, tuple[str | None, int, str, str | None]]:
    """errors.py's docstring tree: name -> (parent, status, code, module)."""
    drawn: dict[str, tuple[str | None, int, str, str | None]] = {}
    path: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        match = _TREE_LINE.fullmatch(line.rstrip())
        if not match:
            continue
        depth = len(match["guides"]) // 4 + bool(match["branch"])
        del path[depth:]
        assert match["name"] not in drawn, f"{match['name']} is drawn twice"
        parent = path[-1] if path else None
        drawn[match["name"]] = (parent, int(match["status"]), match["code"], match["module"])
        path.append(match["name"])
    return drawn


def _handler_codes() -> dict[str, str]:
    """The codes http.py writes into error bodies itself: code -> status ("other" if computed)."""
    codes = {}
    for node in ast.walk(ast.parse(inspect.getsource(http))):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "error_response"):
            continue
        status, code = node.args[:2]
        if isinstance(code, ast.JoinedStr):  # f"http_{exc.status_code}"
            parts = [v.value if isinstance(v, ast.Constant) else "<status>" for v in code.values]
            code = ast.Constant("".join(parts))
        if isinstance(code, ast.Constant):
            codes[code.value] = str(status.value) if isinstance(status, ast.Constant) else "other"
    return codes


def _readme_table() -> list[tuple[str, str]]:
    """(code, status) of each row of the error table in the README's "The API" section."""
    text = README.read_text()
    section = text.split("\n## The API\n", 1)[1].split("\n## ", 1)[0]
    return [
        (match["code"], match["status"])
        for line in section.splitlines()
        if (match := _TABLE_ROW.fullmatch(line.strip()))
    ]


def test_the_package_defines_error_classes_beyond_errors_py(classes) -> None:
    """Guards the walk itself: it must reach classes defined in other modules."""
    modules = {cls.__module__ for cls in classes}
    assert errors.__name__ in modules
    assert "orchestrator_service.tools.invoker" in modules


def test_class_names_and_codes_are_unique(classes) -> None:
    names = [cls.__name__ for cls in classes]
    codes = [cls.code for cls in classes]
    assert len(set(names)) == len(names), "two error classes share a name"
    assert len(set(codes)) == len(codes), "two error classes share a code; give each its own"


def test_errors_docstring_draws_every_error_class(classes) -> None:
    expected = {
        cls.__name__: (
            cls.__base__.__name__ if cls is not OrchestratorError else None,
            cls.status_code,
            cls.code,
            _module_path(cls),
        )
        for cls in classes
    }
    drawn = _drawn_tree()
    assert sorted(set(expected) - set(drawn)) == [], "add these classes to errors.py's tree"
    assert sorted(set(drawn) - set(expected)) == [], "errors.py's tree draws classes that are gone"
    assert drawn == expected, "errors.py's tree: (parent, status, code, module) per class"


def test_readme_error_table_matches_the_classes(classes) -> None:
    rows = _readme_table()
    assert rows, "README.md's 'The API' section has no error table"
    documented = dict(rows)
    assert len(documented) == len(rows), "the README's error table lists a code twice"
    expected = {cls.code: str(cls.status_code) for cls in classes} | _handler_codes()
    assert sorted(set(expected) - set(documented)) == [], "add these codes to the README table"
    assert sorted(set(documented) - set(expected)) == [], "the README table lists unknown codes"
    assert documented == expected, "the README table's statuses differ from the classes'"
