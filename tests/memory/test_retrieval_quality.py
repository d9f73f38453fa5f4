"""Retrieval on real data (ml-100k, official split u1): CF + text beats text alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignuser.data.tables import Catalog, Interactions
from alignuser.interfaces import MemoryRecord
from alignuser.memory import HashingTextEncoder, InMemoryMemory, default_encoder


def _read(folder):
    names = [g.split("|")[0] for g in (folder / "u.genre").read_text("latin-1").split()]
    items = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1")
    flags = items.iloc[:, 5:24].to_numpy()
    catalog = Catalog.from_frame(
        pd.DataFrame(
            {
                "item_id": items[0] - 1,
                "title": items[1],
                "genres": [[g for g, f in zip(names, row) if f] for row in flags],
            }
        )
    )

    def inter(name):
        cols = ["user_id", "item_id", "rating", "timestamp"]
        d = pd.read_csv(folder / name, sep="\t", header=None, names=cols)
        return Interactions.from_frame(d.assign(user_id=d.user_id - 1, item_id=d.item_id - 1))

    return catalog, inter("u1.base"), inter("u1.test")


def _evaluate(enc, train, test, n_items, k=5):
    """AUC of held-out vs random items by retrieved similarity; Spearman of predicted rating."""
    mem = InMemoryMemory(enc)
    mem.add(
        [
            MemoryRecord(int(u), int(i), "", float(r), step=int(t))
            for u, i, r, t in train.df.itertuples(index=False)
        ]
    )
    users = test.df.user_id.to_numpy()
    scores = []
    for q in (
        test.df.item_id.to_numpy(),
        np.random.default_rng(0).integers(0, n_items, len(users)),
    ):
        got = mem.retrieve(users, q, k)
        qv = enc.encode_items(q)
        sims = [enc.encode_items([m.item_id for m in g]) @ qv[j] for j, g in enumerate(got)]
        pred = [
            np.average([m.rating for m in g], weights=np.maximum(s, 1e-3))
            for g, s in zip(got, sims)
        ]
        scores.append((np.array([s.mean() for s in sims]), np.array(pred)))
    (sp, pred), (sn, _) = scores
    auc = (sp > sn).mean() + 0.5 * (sp == sn).mean()
    rho = pd.Series(pred).corr(pd.Series(test.df.rating.to_numpy()), method="spearman")
    return auc, rho


@pytest.mark.shared_data
def test_default_encoder_beats_text_alone_on_ml100k(shared_data):
    catalog, train, test = _read(shared_data / "ml-100k")
    test = test.subset(np.random.default_rng(1).random(len(test)) < 0.25)
    text_auc, text_rho = _evaluate(HashingTextEncoder(catalog), train, test, catalog.n_items)
    auc, rho = _evaluate(default_encoder(catalog, train), train, test, catalog.n_items)
    assert auc > text_auc + 0.15 and auc > 0.75
    assert rho > text_rho + 0.05
