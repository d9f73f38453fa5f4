"""``MultVAE``: variational autoencoder with a multinomial likelihood (Liang et al., WWW 2018)."""

from __future__ import annotations

import logging

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignuser.recommenders.base import ScoringRecommender
from alignuser.threads import torch_threads

logger = logging.getLogger(__name__)


class MultVAEParams(BaseModel):
    """Parameters of :class:`MultVAE`.

    Attributes:
        hidden: Width of the encoder/decoder hidden layer.
        latent: Latent dimensions.
        dropout: Input dropout during training.
        epochs: Passes over the training users.
        batch_size: Users per gradient step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        beta_max: Final KL weight (annealed linearly from 0 over ``anneal_steps``).
        anneal_steps: Gradient steps to reach ``beta_max``.
        threads: torch CPU threads while fitting and scoring (restored afterwards);
            ``None`` keeps torch's setting. On a busy machine ``1`` can be several times
            faster than oversubscribed threads.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden: int = Field(600, ge=1)
    latent: int = Field(200, ge=1)
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    epochs: int = Field(50, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    beta_max: float = Field(0.2, ge=0.0)
    anneal_steps: int = Field(200, ge=1)
    threads: int | None = Field(None, ge=1)


def _build(n_items: int, p: MultVAEParams):
    import torch

    class _VAE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Sequential(torch.nn.Linear(n_items, p.hidden), torch.nn.Tanh())
            self.mu = torch.nn.Linear(p.hidden, p.latent)
            self.logvar = torch.nn.Linear(p.hidden, p.latent)
            self.dec = torch.nn.Sequential(
                torch.nn.Linear(p.latent, p.hidden),
                torch.nn.Tanh(),
                torch.nn.Linear(p.hidden, n_items),
            )
            self.drop = torch.nn.Dropout(p.dropout)

        def forward(self, x):
            x = torch.nn.functional.normalize(x, dim=1)
            h = self.enc(self.drop(x))
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
            return self.dec(z), mu, logvar

    return _VAE()


class MultVAE(ScoringRecommender):
    """Mult-VAE on the binary training matrix, trained on CPU with a fixed seed.

    Training forks torch's global RNG, so fitting does not disturb the caller's random state.
    Scores are the decoder logits at the posterior mean.

    Example:
        >>> rec = MultVAE(epochs=20, seed=0)
        >>> rec.fit(interactions, catalog).recommend(np.array([0]), k=10)  # doctest: +SKIP
    """

    name = "multvae"
    Params = MultVAEParams

    def _fit(self, matrix, interactions, catalog) -> None:
        import torch

        p = self.params
        rows = np.nonzero(np.diff(matrix.indptr) > 0)[0]
        with torch.random.fork_rng(devices=[]), torch_threads(p.threads):
            torch.manual_seed(self.seed)
            order_rng = np.random.default_rng(self.seed)
            model = _build(self.n_items, p)
            opt = torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
            step = 0
            model.train()
            for epoch in range(p.epochs):
                total = 0.0
                perm = order_rng.permutation(rows)
                for start in range(0, len(perm), p.batch_size):
                    users = perm[start : start + p.batch_size]
                    x = torch.from_numpy(matrix[users].toarray())
                    logits, mu, logvar = model(x)
                    nll = -(torch.log_softmax(logits, dim=1) * x).sum(dim=1).mean()
                    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
                    beta = min(p.beta_max, p.beta_max * step / p.anneal_steps)
                    loss = nll + beta * kl
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    step += 1
                    total += float(loss.detach()) * len(users)
                logger.debug("multvae epoch %d loss %.4f", epoch, total / max(len(rows), 1))
        model.eval()
        self._model = model

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Decoder logits for the users' training rows."""
        import torch

        hist = self._history(np.asarray(user_ids, dtype=np.int64))
        with torch.inference_mode(), torch_threads(self.params.threads):
            logits, _, _ = self._model(torch.from_numpy(hist.toarray()))
        return logits.numpy().astype(np.float32, copy=False)
