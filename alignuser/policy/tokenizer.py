"""A word-level tokenizer built on the training corpus, for the from-scratch ``tiny`` base.

The ``tokenizers`` library builds it; it is wrapped as a
:class:`transformers.PreTrainedTokenizerFast` so that ``save_pretrained`` /
``AutoTokenizer.from_pretrained`` work like for any hub model.

Words are split on whitespace and punctuation (``Heat (1995)`` -> ``Heat ( 1995 )``); the
action words (``WATCH``, ``SKIP``, ``NEXT``, ``EXIT``), the numbers ``0..99``, the section
headers and the slot marker are always in the vocabulary, so every label the policy scores is
exactly one token. Words rarer than ``min_frequency`` map to ``<unk>``.

Example:
    >>> from alignuser.policy.tokenizer import build_word_tokenizer
    >>> tok = build_word_tokenizer(["I liked Heat (1995) based on my review score of 5"])
    >>> tok.convert_ids_to_tokens(tok("WATCH 4")["input_ids"])
    ['WATCH', '4']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

__all__ = ["ALWAYS_WORDS", "SPECIAL_TOKENS", "build_word_tokenizer", "words"]

SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>", "<slot>"]
ALWAYS_WORDS = [
    "WATCH",
    "SKIP",
    "NEXT",
    "EXIT",
    "ACTION",
    "TAKEN",
    "RESULT",
    "REFLECTION",
    "CHANGES",
    "END",
    "PAGE",
    "PERSONA",
    "MEMORIES",
    "FRIENDS",
    "SATISFACTION",
    "?",
    ":",
    ".",
    "-",
    "|",
    "[",
    "]",
    '"',
    *[str(i) for i in range(100)],
]


def words(text: str) -> list[str]:
    """Split ``text`` the way the word-level tokenizer does (whitespace + punctuation)."""
    import re

    return re.findall(r"\w+|[^\w\s]", text)


def build_word_tokenizer(corpus: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2):
    """Build a word-level fast tokenizer from ``corpus``.

    Args:
        corpus: Training texts (states, actions, next states, reflections).
        vocab_size: Upper bound on the vocabulary (most frequent words kept).
        min_frequency: Words seen fewer times become ``<unk>``.

    Returns:
        A :class:`transformers.PreTrainedTokenizerFast` with ``<pad>``/``<unk>``/``<bos>``/
        ``<eos>`` set and right padding.
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    counts: Counter[str] = Counter()
    for text in corpus:
        counts.update(words(text))
    vocab: dict[str, int] = {}
    for w in SPECIAL_TOKENS + ALWAYS_WORDS:
        vocab.setdefault(w, len(vocab))
    for w, c in counts.most_common():
        if len(vocab) >= vocab_size:
            break
        if c >= min_frequency and w not in vocab:
            vocab[w] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"<slot>"), behavior="isolated"),
            pre_tokenizers.Split(Regex(r"\w+|[^\w\s]"), behavior="isolated"),
            pre_tokenizers.WhitespaceSplit(),
        ]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
    )
    fast.add_special_tokens({"additional_special_tokens": ["<slot>"]})
    fast.padding_side = "right"
    return fast
