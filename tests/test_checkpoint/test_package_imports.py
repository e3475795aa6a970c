"""The checkpoint package's steps import only earlier steps: no cycles, no model code.

Every import statement is read from the source, function-local ones included,
so an import cycle cannot hide inside a function body.
"""

import ast
import glob
import os.path as osp

from tests.helpers.tools import REPO_ROOT

PACKAGE = osp.join(REPO_ROOT, 'mmdiverse', 'checkpoint')


def _module_name(path):
    rel = osp.relpath(path, REPO_ROOT)[: -len('.py')].replace(osp.sep, '.')
    return rel[: -len('.__init__')] if rel.endswith('.__init__') else rel


def _imports(path):
    """Absolute names of the mmdiverse modules ``path`` imports."""
    name = _module_name(path)
    package = name if path.endswith('__init__.py') else name.rsplit('.', 1)[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
                target = f'{base}.{node.module}' if node.module else base
            else:
                target = node.module or ''
            if node.module:  # `from . import x` depends on x, not on the package
                found.add(target)
            found.update(f'{target}.{a.name}' for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith('mmdiverse')}


def _graph():
    files = glob.glob(osp.join(PACKAGE, '**', '*.py'), recursive=True)
    modules = {_module_name(f): f for f in files}
    return {
        name: {m for m in _imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }, modules


def test_no_module_imports_model_engine_or_api_code():
    _, modules = _graph()
    for name, path in modules.items():
        outside = sorted(m for m in _imports(path) if not m.startswith('mmdiverse.checkpoint'))
        assert not outside, f'{name} imports {outside}'


#: read -> convert -> adapt -> check/load -> export
STEPS = (
    ('digest', 'safe_loading', 'atomic_writes', 'read'),
    ('convert',),
    ('adapt',),
    ('backbone_loading',),
    ('metadata', 'export'),
)


def _step(name):
    part = name[len('mmdiverse.checkpoint.') :].split('.')[0]
    return next(i for i, step in enumerate(STEPS) if part in step)


def test_the_import_graph_has_no_cycle_and_follows_the_steps():
    graph, _ = _graph()
    # The package's own __init__ only re-exports the steps (a facade).
    graph = {
        n: deps - {'mmdiverse.checkpoint'}
        for n, deps in graph.items()
        if n != 'mmdiverse.checkpoint'
    }
    done, visiting = set(), []

    def visit(node):
        assert node not in visiting, 'import cycle: ' + ' -> '.join(visiting + [node])
        if node in done:
            return
        visiting.append(node)
        for dep in sorted(graph[node]):
            visit(dep)
        visiting.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)
        for dep in graph[node]:
            assert _step(dep) <= _step(node), f'{node} imports {dep}, a later step'
    assert len(done) == len(graph) > 15
