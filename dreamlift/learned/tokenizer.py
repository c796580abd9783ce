"""A CLIP tokenizer for the toy world, built from generated files (nothing downloaded).

CLIP's tokenizer is byte-level BPE: a word becomes its characters (the last one
marked ``</w>``), then the merges of ``merges.txt`` are applied lowest rank first. The
files written here hold

* the 256 byte characters alone and with ``</w>`` (so any text tokenizes, letter by letter);
* for every toy-world word (colours, shape words, articles, lead-in words, view words),
  merges that join it into one token ``word</w>``, found by running BPE as the tokenizer
  will and adding a merge while the word is still split (a merge added later has a
  higher rank, so it never changes how an earlier word is joined);
* ``<|startoftext|>`` and ``<|endoftext|>`` (also the padding token, as in SD's tokenizer).

:func:`build_tokenizer` checks with the real ``CLIPTokenizer`` that each word is one token.
"""

from __future__ import annotations

import json
from pathlib import Path

from dreamlift.errors import DreamliftError

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
END = "</w>"
EXTRA_WORDS = ("a", "an", "photo", "of", "model", "render", "view", "front", "side", "back", "overhead")
"""Words of the captions besides colours and shape words ("3D" splits into "3" and "d", both single characters)."""


def toy_words() -> list[str]:
    """Every word a toy caption may use, sorted (colours, shape words, articles, lead-ins, views)."""
    from dreamlift.toyworld import COLORS, SHAPE_WORDS

    return sorted(set(COLORS) | set(SHAPE_WORDS) | set(EXTRA_WORDS))


def byte_characters() -> list[str]:
    """The printable characters byte-level BPE (GPT-2, CLIP) uses for the bytes 0..255, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    table = dict(zip(printable, codes))
    return [chr(table[b]) for b in range(256)]


def bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """CLIP's BPE of one lower-case ASCII word: characters, last with ``</w>``; merge the lowest-ranked pair until none applies."""
    pieces = list(word[:-1]) + [word[-1] + END]
    while len(pieces) > 1:
        pairs = [(ranks.get((a, b), None), i) for i, (a, b) in enumerate(zip(pieces, pieces[1:]))]
        known = [(rank, i) for rank, i in pairs if rank is not None]
        if not known:
            break
        best = min(known)[0]
        merged, i = [], 0
        while i < len(pieces):
            if i + 1 < len(pieces) and ranks.get((pieces[i], pieces[i + 1])) == best:
                merged.append(pieces[i] + pieces[i + 1])
                i += 2
            else:
                merged.append(pieces[i])
                i += 1
        pieces = merged
    return pieces


def vocabulary(words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """``(vocab, merges)`` in which each of ``words`` is one token (see the module docstring)."""
    characters = byte_characters()
    tokens = list(characters) + [c + END for c in characters]
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for word in words:
        while len(pieces := bpe(word, ranks)) > 1:
            pair = (pieces[0], pieces[1])
            ranks[pair] = len(merges)
            merges.append(pair)
            tokens.append(pair[0] + pair[1])
    seen: dict[str, int] = {}
    for token in tokens + [BOS, EOS]:
        seen.setdefault(token, len(seen))
    return seen, merges


def write_tokenizer_files(folder: Path, words: list[str] | None = None) -> tuple[Path, Path]:
    """``vocab.json`` and ``merges.txt`` for ``words`` (default: :func:`toy_words`) in ``folder``."""
    vocab, merges = vocabulary(words or toy_words())
    folder.mkdir(parents=True, exist_ok=True)
    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return vocab_path, merges_path


def build_tokenizer(folder: Path, max_length: int):
    """A ``CLIPTokenizer`` over the toy vocabulary, its files written to ``folder``; ``max_length``
    tokens per caption, start and end included. Raises if a toy word is not one token."""
    from transformers import CLIPTokenizer

    vocab_path, merges_path = write_tokenizer_files(folder)
    tokenizer = CLIPTokenizer(str(vocab_path), str(merges_path), model_max_length=max_length, pad_token=EOS)
    split = [word for word in toy_words() if len(tokenizer.tokenize(word)) != 1]
    if split:
        raise DreamliftError(f"the generated tokenizer splits the toy words {', '.join(split)}: this is a bug")
    return tokenizer
