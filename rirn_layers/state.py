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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

__all__ = ["ROLES", "Role", "field_roles"]

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
    declared: Mapping[str, str] = cls.roles() if callable(getattr(cls, "roles", None)) else {}
    unknown = sorted(set(declared) - set(fields))
    bad = sorted(f"{k}={v!r}" for k, v in declared.items() if v not in ROLES)
    if unknown or bad:
        raise TypeError(
            f"{cls.__name__}.roles(): "
            + (f"no such fields {unknown}" if unknown else f"roles must be {ROLES}, got {bad}")
        )
    return {name: declared.get(name, "carried") for name in fields}  # type: ignore[misc]
