"""Building blocks of the checkpoint converters.

A converter is a table of :class:`Rule` s between a source key layout and
mmpretrain's (the *pivot* layout every config of this project loads). A rule
pairs two key templates, e.g.::

    Rule('blocks.{i}.mlp.fc1.{p}', 'backbone.layers.{i}.ffn.layers.0.0.{p}')

``{name}`` matches a non-negative integer (``{p}`` matches ``weight``,
``bias`` or any other parameter-name suffix); ``{name+1}`` on one side and
``{name}`` on the other shift an index (Swin stages). Constants such as
``{last}`` come from a per-state-dict context. The same table converts in
both directions, with an optional tensor transform and its inverse, so a
round trip reproduces every tensor bit for bit.

Every conversion returns a :class:`ConversionReport`: which keys were mapped
(and to what), which were dropped on purpose (and why), and which could not
be mapped.
"""

import dataclasses
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

Tensor = torch.Tensor
StateDict = Dict[str, Tensor]

_FIELD = re.compile(r'\{(\w+)(\+\d+)?\}')
#: Fields that match a parameter-name suffix instead of an integer.
_SUFFIX_FIELDS = {'p': r'[A-Za-z_][\w.]*'}


class Template:
    """One side of a :class:`Rule`: a key with ``{field}`` placeholders."""

    def __init__(self, text: str):
        self.text = text
        self._parts: List[Tuple[str, Optional[str], int]] = []
        pattern, pos = '', 0
        seen = set()
        for m in _FIELD.finditer(text):
            literal = text[pos : m.start()]
            pattern += re.escape(literal)
            name, offset = m.group(1), int(m.group(2) or 0)
            self._parts.append((literal, name, offset))
            if name in seen:
                pattern += f'(?P={name})'
            else:
                seen.add(name)
                pattern += f'(?P<{name}>{_SUFFIX_FIELDS.get(name, r"[0-9]+")})'
            pos = m.end()
        self._parts.append((text[pos:], None, 0))
        self._pattern = pattern + re.escape(text[pos:])
        self.fields = seen

    def match(self, key: str, context: Mapping[str, int]) -> Optional[Dict]:
        """The field values if ``key`` fits this template, else ``None``."""
        m = re.fullmatch(self._pattern, key)
        if m is None:
            return None
        values = {}
        for _, name, offset in self._parts:
            if name is None:
                continue
            raw = m.group(name)
            if name in _SUFFIX_FIELDS:
                values[name] = raw
                continue
            value = int(raw) - offset
            if value < 0:
                return None
            if name in context and context[name] != value:
                return None
            values[name] = value
        return values

    def format(self, values: Mapping, context: Mapping[str, int]) -> str:
        out = []
        for literal, name, offset in self._parts:
            out.append(literal)
            if name is not None:
                value = values[name] if name in values else context[name]
                out.append(str(value + offset) if offset else str(value))
        return ''.join(out)


TensorFn = Callable[[Tensor], Tensor]


class Rule:
    """A bidirectional mapping between a source key and an mmpretrain key.

    Args:
        src (str): Template in the source layout.
        dst (str): Template in mmpretrain's layout.
        forward (callable, optional): Tensor transform source -> mmpretrain.
        backward (callable, optional): Its inverse.
        note (str): Shown in the report next to transformed tensors.
    """

    def __init__(
        self,
        src: str,
        dst: str,
        forward: Optional[TensorFn] = None,
        backward: Optional[TensorFn] = None,
        note: str = '',
    ):
        if (forward is None) != (backward is None):
            raise ValueError('a transform needs its inverse')
        self.src, self.dst = Template(src), Template(dst)
        self.forward, self.backward = forward, backward
        self.note = note

    def sides(self, reverse: bool):
        if reverse:
            return self.dst, self.src, self.backward
        return self.src, self.dst, self.forward


@dataclasses.dataclass
class ConversionReport:
    """What a conversion did with every key.

    Attributes:
        src_format: Layout of the input.
        dst_format: Layout of the output.
        mapped: ``(source key, output key, note)``; ``note`` names a tensor
            transform (empty when the tensor was copied as is).
        dropped: ``(source key, reason)``: keys left out on purpose
            (buffers the target recomputes, optimizer-only state, ...).
        unmapped: Source keys no rule knows; they are not in the output.
        added: ``(output key, reason)``: keys the target layout needs that
            were computed from others (e.g. Swin's relative position index).
    """

    src_format: str
    dst_format: str
    mapped: List[Tuple[str, str, str]] = dataclasses.field(default_factory=list)
    dropped: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    unmapped: List[str] = dataclasses.field(default_factory=list)
    added: List[Tuple[str, str]] = dataclasses.field(default_factory=list)

    def merge(self, other: 'ConversionReport') -> 'ConversionReport':
        """Chain two conversions (``self`` then ``other``)."""
        origin = {dst: src for src, dst, _ in self.mapped}
        notes = {dst: note for _, dst, note in self.mapped}
        generated = dict(self.added)
        merged = ConversionReport(
            self.src_format,
            other.dst_format,
            dropped=list(self.dropped),
            unmapped=list(self.unmapped),
        )
        for mid, dst, note in other.mapped:
            if mid in generated:
                merged.added.append((dst, generated[mid]))
            else:
                first = notes.get(mid, '')
                # The same transform out of and back into the pivot layout
                # is the identity (the Swin merge reorder is the only one).
                note = '' if first == note else (first or note)
                merged.mapped.append((origin.get(mid, mid), dst, note))
        merged.dropped += [(origin[k], why) for k, why in other.dropped if k in origin]
        merged.unmapped += [origin[k] for k in other.unmapped if k in origin]
        merged.added += other.added
        return merged

    def summary(self, verbose: bool = False) -> str:
        """A printable account; ``verbose`` lists every mapped key."""
        lines = [
            f'{self.src_format} -> {self.dst_format}: {len(self.mapped)} mapped, '
            f'{len(self.added)} added, {len(self.dropped)} dropped, '
            f'{len(self.unmapped)} could not be mapped'
        ]
        if verbose:
            lines.append('mapped:')
            lines += [f'  {s} -> {d}' + (f'  [{n}]' if n else '') for s, d, n in self.mapped]
        else:
            notes = sorted({n for _, _, n in self.mapped if n})
            for note in notes:
                count = sum(1 for *_, n in self.mapped if n == note)
                lines.append(f'transformed ({note}): {count} tensors')
        if self.added:
            lines.append('added:')
            lines += _grouped(self.added)
        if self.dropped:
            lines.append('dropped:')
            lines += _grouped(self.dropped)
        if self.unmapped:
            lines.append('could not map:')
            lines += [f'  {k}' for k in self.unmapped]
        return '\n'.join(lines)


def _grouped(pairs: Sequence[Tuple[str, str]]) -> List[str]:
    """``key (reason)`` lines, collapsing long runs with the same reason."""
    by_reason: 'OrderedDict[str, List[str]]' = OrderedDict()
    for key, reason in pairs:
        by_reason.setdefault(reason, []).append(key)
    lines = []
    for reason, keys in by_reason.items():
        if len(keys) > 4:
            lines.append(f'  {keys[0]}, {keys[1]}, ... ({len(keys)} keys): {reason}')
        else:
            lines += [f'  {k}: {reason}' for k in keys]
    return lines


DropRule = Tuple[str, str]  # (regular expression on the key, reason)


def apply_rules(
    state_dict: Mapping[str, Tensor],
    rules: Sequence[Rule],
    drops: Sequence[DropRule],
    context: Mapping[str, int],
    src_format: str,
    dst_format: str,
    reverse: bool = False,
) -> Tuple[StateDict, ConversionReport]:
    """Map every key of ``state_dict`` through the first rule that fits.

    Args:
        state_dict: Input tensors.
        rules: The layout's rule table.
        drops: Keys to leave out on purpose, as ``(regex, reason)``; checked
            before the rules.
        context: Constants of this state dict (e.g. ``last`` stage index).
        src_format, dst_format: Names for the report.
        reverse: Apply the rules mmpretrain -> source layout.

    Returns:
        tuple: The converted state dict (in the input order) and the report.
    """
    out: StateDict = OrderedDict()
    report = ConversionReport(src_format, dst_format)
    for key, value in state_dict.items():
        reason = next((why for pattern, why in drops if re.search(pattern, key)), None)
        if reason is not None:
            report.dropped.append((key, reason))
            continue
        for rule in rules:
            src, dst, transform = rule.sides(reverse)
            values = src.match(key, context)
            if values is None:
                continue
            new_key = dst.format(values, context)
            if new_key in out:
                raise ValueError(f'two keys map to {new_key!r} (the second is {key!r})')
            out[new_key] = transform(value) if transform is not None else value
            report.mapped.append((key, new_key, rule.note if transform is not None else ''))
            break
        else:
            report.unmapped.append(key)
    return out, report


def count_indices(keys, pattern: str) -> int:
    """1 + the largest integer captured by ``pattern`` in ``keys`` (0: none)."""
    found = [int(m.group(1)) for k in keys for m in [re.match(pattern, k)] if m]
    return max(found) + 1 if found else 0


# --------------------------------------------------------------- Swin helpers
def merge_order_to_unfold(x: Tensor) -> Tensor:
    """Reorder Swin patch-merging channels from concat order to unfold order.

    The Microsoft and timm Swin concatenate the four pixels of each 2x2 cell
    as ``[x(0,0), x(1,0), x(0,1), x(1,1)]`` (row, column offsets), each a
    block of ``C`` channels. mmcv's ``PatchMerging`` (used by mmpretrain and
    mmseg) gathers them with ``nn.Unfold``: channel-major, ``c * 4 + 2 *
    row + col``. Applies to the last dimension (the reduction's input
    features, and the norm before it).
    """
    *lead, four_c = x.shape
    c = four_c // 4
    x = x.reshape(*lead, 4, c)[..., [0, 2, 1, 3], :]
    return x.transpose(-1, -2).reshape(*lead, four_c).contiguous()


def unfold_order_to_merge(x: Tensor) -> Tensor:
    """Inverse of :func:`merge_order_to_unfold`."""
    *lead, four_c = x.shape
    c = four_c // 4
    x = x.reshape(*lead, c, 4).transpose(-1, -2)[..., [0, 2, 1, 3], :]
    return x.reshape(*lead, four_c).contiguous()


def relative_position_index(window: int) -> Tensor:
    """Swin's ``relative_position_index`` buffer of a square window.

    Entry ``(i, j)`` indexes the bias table row of the offset between
    window positions ``i`` and ``j`` (row-major), as in the Swin paper.
    """
    coords = torch.stack(
        torch.meshgrid(torch.arange(window), torch.arange(window), indexing='ij')
    ).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


def window_of_table(table: Tensor) -> int:
    """Window size of a square relative position bias table."""
    side = round(table.shape[0] ** 0.5)
    if side * side != table.shape[0] or side % 2 == 0:
        raise ValueError(f'not a square relative position bias table: {tuple(table.shape)}')
    return (side + 1) // 2
