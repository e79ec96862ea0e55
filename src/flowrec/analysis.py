"""Static reading of a cell's Python source.

The analysis works on the source after IPython's input transformation, so
``!cmd`` and ``%magic`` lines have already become plain calls. It reports
which global names the cell reads before binding them, which it binds, which
it deletes and which it mutates in place through a subscript, attribute or
augmented assignment. Mutation by method calls (``items.append(4)``) cannot
be seen here; the recorder finds it by fingerprinting read values again
after the cell.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

_BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass
class CellAnalysis:
    """Names a cell reads, binds, deletes and mutates, each in first-seen order."""

    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    mutations: list[str] = field(default_factory=list)
    star_import: bool = False
    # Free names of the functions the cell defines, by function name.
    deferred: dict[str, list[str]] = field(default_factory=dict)
    # Names the cell calls directly, as in ``name(...)``.
    calls: list[str] = field(default_factory=list)
    # The cell may bind or rebind names that its source does not show: exec,
    # eval, globals(), vars(), locals(), %run, or a star import.
    dynamic_namespace: bool = False
    syntax_error: str | None = None


def analyze_cell(source: str) -> CellAnalysis:
    """Analyze ``source``; a syntax error is reported in the result, not raised."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as error:
        return CellAnalysis(syntax_error=f"{type(error).__name__}: {error}")
    visitor = _ModuleVisitor()
    for statement in _inline_code_strings(tree.body):
        visitor.visit(statement)
    visitor.result.dynamic_namespace = visitor.result.star_import or _touches_namespace(tree)
    return visitor.result


# Cell magics whose body is Python run in the user namespace.
_PYTHON_BODY_MAGICS = frozenset({"time", "timeit", "capture", "prun"})


def _inline_code_strings(statements: list[ast.stmt]) -> list[ast.stmt]:
    """Replace code given as constant strings with its parsed statements.

    ``%%time`` and other cell magics become
    ``get_ipython().run_cell_magic('time', '', 'body')``, and
    ``exec('...')`` runs a string: both are analyzed as the code they run.
    """
    result: list[ast.stmt] = []
    for statement in statements:
        body = _code_string_of(statement)
        if body is not None:
            try:
                result.extend(_inline_code_strings(ast.parse(body).body))
                continue
            except (SyntaxError, ValueError):
                pass
        result.append(statement)
    return result


def _code_string_of(statement: ast.stmt) -> str | None:
    if not isinstance(statement, ast.Expr) or not isinstance(statement.value, ast.Call):
        return None
    call = statement.value
    function = call.func
    if (isinstance(function, ast.Name) and function.id == "exec" and len(call.args) == 1
            and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
        return call.args[0].value
    if (isinstance(function, ast.Attribute) and function.attr == "run_cell_magic"
            and len(call.args) == 3
            and all(isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in call.args)
            and call.args[0].value in _PYTHON_BODY_MAGICS):
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(call.args[2].value)
    return None


_NAMESPACE_FUNCTIONS = frozenset({"exec", "eval", "globals", "vars", "locals", "setattr",
                                  "__import__"})
_NAMESPACE_MAGICS = frozenset({"run", "store", "load", "reset", "reset_selective", "who_ls",
                               "xdel", "macro", "recall"})


def _touches_namespace(tree: ast.AST) -> bool:
    """Return whether the code can change global names without naming them."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if isinstance(function, ast.Name) and function.id in _NAMESPACE_FUNCTIONS:
            return True
        # IPython turns ``%run x.py`` into get_ipython().run_line_magic('run', 'x.py').
        if (isinstance(function, ast.Attribute)
                and function.attr in ("run_line_magic", "run_cell_magic", "magic")
                and node.args and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).split(" ")[0] in _NAMESPACE_MAGICS):
            return True
    return False


class _ModuleVisitor(ast.NodeVisitor):
    """Walks module-level statements in execution order."""

    def __init__(self) -> None:
        self.result = CellAnalysis()
        self.bound: set[str] = set()

    # Recording helpers.

    def _read(self, name: str) -> None:
        if name not in self.bound and name not in self.result.reads:
            self.result.reads.append(name)

    def _write(self, name: str) -> None:
        self.bound.add(name)
        if name not in self.result.writes:
            self.result.writes.append(name)
        if name in self.result.deletes:
            self.result.deletes.remove(name)

    def _delete(self, name: str) -> None:
        self.bound.discard(name)
        if name in self.result.writes:
            self.result.writes.remove(name)
        if name not in self.result.deletes:
            self.result.deletes.append(name)

    def _mutate(self, name: str) -> None:
        self._read(name)
        if name not in self.result.mutations:
            self.result.mutations.append(name)

    # Names and targets.

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id)
        elif isinstance(node.ctx, ast.Store):
            self._write(node.id)
        else:
            self._delete(node.id)

    def _visit_target(self, target: ast.expr) -> None:
        """Visit an assignment or deletion target."""
        if isinstance(target, (ast.Subscript, ast.Attribute)):
            root = _root_name(target)
            if root is not None:
                self._mutate(root)
            # The index or slice expressions are reads.
            if isinstance(target, ast.Subscript):
                self.visit(target.slice)
                self._visit_container_reads(target.value)
            else:
                self._visit_container_reads(target.value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._visit_target(element)
        elif isinstance(target, ast.Starred):
            self._visit_target(target.value)
        else:
            self.visit(target)

    def _visit_container_reads(self, node: ast.expr) -> None:
        """Visit the reads inside ``a[i].b`` chains other than the root name."""
        if isinstance(node, ast.Subscript):
            self.visit(node.slice)
            self._visit_container_reads(node.value)
        elif isinstance(node, ast.Attribute):
            self._visit_container_reads(node.value)
        elif not isinstance(node, ast.Name):
            self.visit(node)

    # Statements, with the value evaluated before the targets are bound.

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self._visit_target(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._visit_target(node.target)
        self.visit(node.annotation)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            # ``x += y`` reads x, and on lists and arrays also mutates it in place.
            self._read(node.target.id)
            self._mutate(node.target.id)
            self._write(node.target.id)
        else:
            self._visit_target(node.target)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._visit_target(target)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self._visit_target(node.target)
        for statement in node.body + node.orelse:
            self.visit(statement)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._visit_target(item.optional_vars)
        for statement in node.body:
            self.visit(statement)

    visit_AsyncWith = visit_With

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._write(node.target.id)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._write(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.result.star_import = True
            else:
                self._write(alias.asname or alias.name)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._write(node.name)
        for statement in node.body:
            self.visit(statement)
        if node.name:
            # Python deletes the ``as`` name when the handler ends.
            self._delete(node.name)

    def visit_Global(self, node: ast.Global) -> None:
        return

    # Nested scopes: their free names are reads, ``global`` names they assign are writes.

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._visit_arguments(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        # The body runs when the function is called, not here: its free names
        # are kept apart, and count as reads only if this cell calls it.
        scope = _ScopeVisitor.of_body(self.bound, node.args, node.body)
        self.result.deferred[node.name] = [
            *scope.free_reads, *(name for name in scope.global_mutations
                                 if name not in scope.free_reads)]
        self._write(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        # NOTE: a lambda's body is read where it is called: through the
        # bytecode of the stored function in a later cell, but not when the
        # same cell defines and calls it.
        self._visit_arguments(node.args)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id not in self.result.calls:
            self.result.calls.append(node.func.id)
        # eval('expression') reads the names of its constant expression.
        if (isinstance(node.func, ast.Name) and node.func.id == "eval" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            try:
                self.visit(ast.parse(node.args[0].value, mode="eval").body)
            except (SyntaxError, ValueError):
                pass
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        # globals()['name'] and vars()['name'] read that global.
        value = node.value
        if (isinstance(node.ctx, ast.Load) and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name) and value.func.id in ("globals", "vars")
                and not value.args and isinstance(node.slice, ast.Constant)
                and isinstance(node.slice.value, str)):
            self._read(node.slice.value)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expression in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expression)
        # A class body runs now; the bodies of its methods run when called.
        self._merge_scope(_ScopeVisitor.of_body(self.bound, None, node.body, is_class=True))
        self._write(node.name)

    def _visit_comprehension(self, node: ast.expr, elements: list[ast.expr]) -> None:
        generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        # The first iterable is evaluated in the enclosing scope.
        self.visit(generators[0].iter)
        scope = _ScopeVisitor(outer_bound=self.bound)
        for index, generator in enumerate(generators):
            if index:
                scope.visit(generator.iter)
            scope.bind_target(generator.target)
            for condition in generator.ifs:
                scope.visit(condition)
        for element in elements:
            scope.visit(element)
        self._merge_scope(scope)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._visit_comprehension(node, [node.elt])

    visit_SetComp = visit_ListComp
    visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._visit_comprehension(node, [node.key, node.value])

    def _visit_arguments(self, args: ast.arguments) -> None:
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(default)
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None and arg.annotation is not None:
                self.visit(arg.annotation)

    def _visit_scope(self, args: ast.arguments | None, body: list[ast.AST]) -> None:
        self._merge_scope(_ScopeVisitor.of_body(self.bound, args, body))

    def _merge_scope(self, scope: _ScopeVisitor) -> None:
        for name in scope.free_reads:
            self._read(name)
        for name in scope.global_writes:
            self._write(name)
        for name in scope.global_mutations:
            self._mutate(name)


class _ScopeVisitor(ast.NodeVisitor):
    """Collects the free names of a function, lambda, class or comprehension body."""

    def __init__(self, outer_bound: set[str], is_class: bool = False) -> None:
        self.outer_bound = outer_bound
        self.is_class = is_class
        self.local: set[str] = set()
        self.globals: set[str] = set()
        self.free_reads: list[str] = []
        self.global_writes: list[str] = []
        self.global_mutations: list[str] = []

    @classmethod
    def of_body(cls, outer_bound: set[str], args: ast.arguments | None,
                body: list[ast.AST], is_class: bool = False) -> _ScopeVisitor:
        """Visit a function, lambda or class body whose parameters are ``args``."""
        scope = cls(outer_bound, is_class)
        if args is not None:
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None:
                    scope.local.add(arg.arg)
        scope.collect_locals(body)
        for statement in body:
            scope.visit(statement)
        return scope

    def collect_locals(self, body: list[ast.AST]) -> None:
        """Find the names this scope binds, so later loads of them are not free."""
        for statement in body:
            for node in _walk_same_scope(statement):
                if isinstance(node, ast.Global):
                    self.globals.update(node.names)
                elif isinstance(node, ast.Nonlocal):
                    self.local.update(node.names)
                elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                    self.local.add(node.id)
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    self.local.add(node.name)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    for alias in node.names:
                        if alias.name != "*":
                            self.local.add(alias.asname or alias.name.split(".")[0])
                elif isinstance(node, ast.ExceptHandler) and node.name:
                    self.local.add(node.name)
        self.local -= self.globals

    def bind_target(self, target: ast.expr) -> None:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                self.local.add(node.id)

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if isinstance(node.ctx, ast.Load):
            if name not in self.local and name not in self.free_reads:
                self.free_reads.append(name)
        elif name in self.globals and name not in self.global_writes:
            self.global_writes.append(name)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._note_store_into(node)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self._note_store_into(node)
        self.generic_visit(node)

    def _note_store_into(self, node: ast.Attribute | ast.Subscript) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            root = _root_name(node)
            if root is not None and root not in self.local and root not in self.global_mutations:
                self.global_mutations.append(root)

    def _nested(self, args: ast.arguments | None, body: list[ast.AST]) -> None:
        inner = _ScopeVisitor.of_body(self.outer_bound, args, body)
        for name in inner.free_reads:
            if name not in self.local and name not in self.free_reads:
                self.free_reads.append(name)
        for name in inner.global_writes:
            if name not in self.global_writes:
                self.global_writes.append(name)
        for name in inner.global_mutations:
            if name not in self.local and name not in self.global_mutations:
                self.global_mutations.append(name)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expression in [*node.decorator_list, *node.args.defaults]:
            self.visit(expression)
        if not self.is_class:
            self._nested(node.args, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in node.args.defaults:
            self.visit(default)
        self._nested(node.args, [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expression in [*node.decorator_list, *node.bases]:
            self.visit(expression)
        self._nested(None, node.body)


def _walk_same_scope(node: ast.AST):
    """Yield ``node`` and its descendants without entering nested scopes' bodies."""
    yield node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk_same_scope(child)


def _root_name(node: ast.expr) -> str | None:
    """Return the variable at the root of ``a.b[c].d``, or None for other expressions."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def is_builtin_name(name: str) -> bool:
    return name in _BUILTIN_NAMES
