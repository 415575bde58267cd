"""Id layouts of the byte-valued schemes (spec/tokenization.md, "Id layout").

carding (proxy-compression convention, Zheng et al. 2026): 64 specials first, raw byte v -> 64 + v, compressed
byte v -> 320 + v. byt5 (Xue et al. 2022, HF ByT5Tokenizer): pad 0, eos 1, unk 2, byte v -> v + 3, then 125
sentinels up to id 383.
"""
from __future__ import annotations

from dataclasses import dataclass

from tokenization.config import MARKER_COUNT, Layout


@dataclass(frozen=True, slots=True)
class IdLayout:
    """Where specials, raw bytes and compressed bytes live; ids below `byte_base` are specials."""

    name: str
    specials: dict[str, int]
    """name -> id of every special the scheme emits or reserves (pad, bos, eos, spans, view_sep)."""
    markers: tuple[int, ...]
    """Ids reserved for packing markers (UtK knots, backtrace tokens): never produced by the tokenizer."""
    byte_base: int
    """Raw byte v has id byte_base + v."""
    comp_base: int | None
    """Compressed byte v has id comp_base + v (proxy scheme only)."""
    vocab_size: int

    def get(self, name: str) -> int | None:
        return self.specials.get(name)


def carding_layout(proxy: bool) -> IdLayout:
    """0 pad, 1 bos, 2 eos, 3/4 raw span, 5/6 compressed span, 7-31 markers, 32 view_sep, 33-63 free."""
    specials = {"pad": 0, "bos": 1, "eos": 2, "raw_open": 3, "raw_close": 4, "comp_open": 5, "comp_close": 6,
                "view_sep": 32}
    markers = tuple(range(7, 7 + MARKER_COUNT))
    return IdLayout("carding", specials, markers, 64, 320 if proxy else None, 576 if proxy else 320)


def byt5_layout() -> IdLayout:
    """HF ByT5Tokenizer: pad 0, eos 1, unk 2, bytes at 3-258, `<extra_id_i>` = 383 - i (markers: the first 25)."""
    return IdLayout("byt5", {"pad": 0, "eos": 1, "unk": 2}, tuple(383 - i for i in range(MARKER_COUNT)), 3, None, 384)


def layout_for(layout: Layout, proxy: bool) -> IdLayout:
    return byt5_layout() if layout == Layout.byt5 else carding_layout(proxy)
