"""Token bytes to streamed text, with stop strings: shared by the single-sequence and the batched decoder.

A token can end in the middle of a UTF-8 character, and a stop string can arrive split over several tokens,
so text is decoded incrementally and the last `len(longest stop) - 1` characters are held back until it is
clear they do not begin a stop string. Both decoders must cut text the same way, or a batched answer would
differ from the same answer generated alone.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class TextAssembler:
    """Feed token bytes; get back the text that is safe to show, and whether a stop string ended it."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self.stopped = False
        self._emitted = 0

    def feed(self, piece: bytes) -> str:
        """Add one token's bytes; returns the newly safe text ('' when held back or after a stop)."""
        if self.stopped:
            return ""
        self.text += self._decoder.decode(piece)
        if self.stops:
            start = max(0, self._emitted - self._hold)
            cut = min((i for i in (self.text.find(s, start) for s in self.stops) if i >= 0), default=-1)
            if cut >= 0:
                self.text = self.text[:cut]
                self.stopped = True
                return ""
        safe = len(self.text) - self._hold if self.stops else len(self.text)
        if safe > self._emitted:
            out = self.text[self._emitted:safe]
            self._emitted = safe
            return out
        return ""

    def finish(self) -> str:
        """The rest of the text: held-back characters, and bytes of a split character unless cut at a stop."""
        if not self.stopped:
            self.text += self._decoder.decode(b"", final=True)
        out = self.text[self._emitted:]
        self._emitted = len(self.text)
        return out
