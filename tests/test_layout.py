"""The shape of the library: the laptop boundary on the import graph, the method table, sizes."""

import ast
from pathlib import Path

import pytest
import yaml

from factory.methods import METHODS
from schemas.generation_configs import GenerationJobConfig

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "factory"
# Modules that may import the laptop-only package: the demo and the command-line wiring.
LAPTOP_USERS = ("factory.laptop", "factory.demo", "factory.cli")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, ast.Module]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = ast.parse(path.read_text(), filename=str(path))
    return modules


def _imports(tree: ast.Module) -> set[str]:
    """Every module a module imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_no_real_module_imports_the_laptop_package():
    leaks = [f"{name} imports {imported}" for name, tree in _modules().items()
             if not any(_within(name, user) for user in LAPTOP_USERS)
             for imported in sorted(_imports(tree)) if _within(imported, "factory.laptop")]
    assert not leaks, "\n".join(leaks)


def test_the_import_graph_check_sees_a_leak():
    tree = ast.parse("def f():\n    from factory.laptop.toyworld import render\n")
    assert any(_within(name, "factory.laptop") for name in _imports(tree))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_has_a_planner_a_generator_and_a_toy_config(name):
    method = METHODS[name]
    assert callable(method.load_planner())
    generator = method.load_generator()
    assert isinstance(generator, type) and callable(generator.__call__)
    assert (REPO / "factory" / "plan" / f"{name}.py").is_file()
    assert (REPO / "factory" / "generate" / f"{name}.py").is_file()
    toy = yaml.safe_load((REPO / method.toy_config).read_text())
    config = GenerationJobConfig.model_validate(toy)
    assert config.method == name


def test_modules_and_functions_stay_small():
    too_big = []
    for path in sorted(PACKAGE.rglob("*.py")) + sorted((REPO / "schemas").glob("*.py")):
        source = path.read_text()
        if source.count("\n") > MAX_MODULE_LINES:
            too_big.append(f"{path.relative_to(REPO)}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_big.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: "
                                   f"{lines} lines")
    assert not too_big, "\n".join(too_big)
