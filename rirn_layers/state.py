"""What a model's streaming state holds: each model declares it, export and the checks read it.

A model's inner state is a ``NamedTuple`` (e.g. :class:`~rirn_layers.RIRNState`). Each of
its fields has a role:

- ``"carried"`` (the default): the next step reads it; an export passes it from step to
  step as a state tensor;
- ``"end"``: only :meth:`~rirn_layers.model.StreamingDeblurModel.flush` reads it, to pad the
  end of a video (e.g. the last input frame); an export, which feeds the last frame again
  instead, holds it as a constant;
- ``"record"``: kept for a loss or for inspection and never read by a step (e.g. IFI-RNN's
  record of its gates in training); an export holds it as a constant.

A state type declares the fields that are not carried with a ``roles`` classmethod::

    class MyState(NamedTuple):
        hidden: torch.Tensor
        gates: tuple[torch.Tensor, ...]

        @classmethod
        def roles(cls) -> dict[str, Role]:
            return {"gates": "record"}

Non-tensor values (sizes, flags, ``None``) are constants whatever their role.

:func:`flatten_state` and :func:`unflatten_state` take a state apart into named leaves, each
with its role, and put it back together (NamedTuples, tuples, lists, dicts; every other
value is a leaf): how :mod:`rirn_layers.export` turns a state into graph inputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, get_args

__all__ = [
    "ROLES",
    "Role",
    "StateLeaf",
    "StateSpec",
    "field_roles",
    "flatten_state",
    "unflatten_state",
]

Role = Literal["carried", "end", "record"]
#: Every role, in the order above.
ROLES: tuple[str, ...] = get_args(Role)


def field_roles(state: Any) -> dict[str, Role]:
    """The role of every field of a NamedTuple state (or state type); ``{}`` for others.

    Example:
        >>> from rirn_layers.model import StreamState
        >>> field_roles(StreamState)
        {'inner': 'carried', 'last': 'end', 'size': 'carried', 'flushed': 'carried'}
    """
    cls = state if isinstance(state, type) else type(state)
    fields = getattr(cls, "_fields", None)
    if not isinstance(fields, tuple):
        return {}
    roles = getattr(cls, "roles", None)
    declared: Mapping[str, Role] = roles() if callable(roles) else {}
    unknown = sorted(set(declared) - set(fields))
    bad = sorted(f"{k}={v!r}" for k, v in declared.items() if v not in ROLES)
    if unknown or bad:
        raise TypeError(
            f"{cls.__name__}.roles(): "
            + (f"no such fields {unknown}" if unknown else f"roles must be {ROLES}, got {bad}")
        )
    return {name: declared.get(name, "carried") for name in fields}


# -- flattening ---------------------------------------------------------------------------
@dataclass(frozen=True)
class StateSpec:
    """The structure of a flattened state: what :func:`unflatten_state` rebuilds.

    ``kind`` is ``"leaf"`` (one value of the flat list), ``"namedtuple"``, ``"tuple"``,
    ``"list"`` or ``"dict"``; ``type`` the NamedTuple class, ``keys`` the dict keys (in
    order) and ``children`` the specs of the parts. Two states of one layout have equal specs.
    """

    kind: str
    type: type | None = None
    keys: tuple[Any, ...] = ()
    children: tuple[StateSpec, ...] = ()

    def __str__(self) -> str:
        if self.kind == "leaf":
            return "*"
        inner = ", ".join(str(c) for c in self.children)
        if self.kind == "namedtuple":
            assert self.type is not None
            return f"{self.type.__name__}({inner})"
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(self.keys, self.children,
                                                                  strict=True)) + "}"
        return f"[{inner}]" if self.kind == "list" else f"({inner})"


class StateLeaf(NamedTuple):
    """One value of a flattened state: its ``name`` (``"inner.hidden.0"``), ``value``, ``role``."""

    name: str
    value: Any
    role: Role


_LEAF = StateSpec("leaf")


def flatten_state(state: Any, role: Role = "carried") -> tuple[list[StateLeaf], StateSpec]:
    """Flatten a state into its leaves (tensors, ``None``, constants) and its structure.

    NamedTuples, tuples, lists and dicts are walked; anything else is a leaf. A leaf is named
    by its path (field names, indices, dict keys, joined by dots) and takes the role of the
    outermost field above it that is not ``"carried"`` (:func:`field_roles`; a NamedTuple
    inside a carried field declares the roles of its own fields).

    Example:
        >>> from rirn_layers.model import StreamState
        >>> leaves, spec = flatten_state(StreamState((torch.ones(1),), torch.zeros(1), (4, 4)))
        >>> [(leaf.name, leaf.role) for leaf in leaves]  # doctest: +NORMALIZE_WHITESPACE
        [('inner.0', 'carried'), ('last', 'end'), ('size.0', 'carried'),
         ('size.1', 'carried'), ('flushed', 'carried')]
        >>> str(spec)
        'StreamState((*), *, (*, *), *)'
        >>> unflatten_state(spec, [leaf.value for leaf in leaves]).size
        (4, 4)
    """
    leaves: list[StateLeaf] = []
    spec = _flatten(state, (), role, leaves)
    return leaves, spec


def _flatten(value: Any, path: tuple[str, ...], role: Role, out: list[StateLeaf]) -> StateSpec:
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        roles = field_roles(value)
        children = tuple(
            _flatten(part, (*path, name), roles[name] if role == "carried" else role, out)
            for name, part in zip(value._fields, value, strict=True)
        )
        return StateSpec("namedtuple", type(value), children=children)
    if isinstance(value, (tuple, list)):
        children = tuple(_flatten(part, (*path, str(i)), role, out) for i, part in enumerate(value))
        return StateSpec("list" if isinstance(value, list) else "tuple", children=children)
    if isinstance(value, dict):
        children = tuple(_flatten(part, (*path, str(k)), role, out) for k, part in value.items())
        return StateSpec("dict", keys=tuple(value), children=children)
    out.append(StateLeaf(".".join(path), value, role))
    return _LEAF


def unflatten_state(spec: StateSpec, values: Sequence[Any]) -> Any:
    """Rebuild the state :func:`flatten_state` flattened into ``spec``, from leaf ``values``."""
    it = iter(values)
    state = _build(spec, it)
    if next(it, _END) is not _END:
        raise ValueError("unflatten_state: more `values` than the leaves of `spec`")
    return state


_END = object()


def _build(spec: StateSpec, values: Iterator[Any]) -> Any:
    if spec.kind == "leaf":
        value = next(values, _END)
        if value is _END:
            raise ValueError("unflatten_state: fewer `values` than the leaves of `spec`")
        return value
    parts = [_build(child, values) for child in spec.children]
    if spec.kind == "namedtuple":
        assert spec.type is not None
        return spec.type(*parts)
    if spec.kind == "dict":
        return dict(zip(spec.keys, parts, strict=True))
    return parts if spec.kind == "list" else tuple(parts)
