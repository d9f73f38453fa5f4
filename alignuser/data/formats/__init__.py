"""The built-in dataset formats, one module each, and the helpers they share.

* :mod:`~alignuser.data.formats.movielens`: ML-100K, ML-1M, ML-latest(-small).
* :mod:`~alignuser.data.formats.agent4rec`: Agent4Rec's ML-1M subset.
* :mod:`~alignuser.data.formats.ebnerd`: EB-NeRD news impression logs.
* :mod:`~alignuser.data.formats.bookcrossing`: Book-Crossing ratings.
* :mod:`~alignuser.data.formats.obd`: the Open Bandit Dataset.
* :mod:`~alignuser.data.formats.generic`: your own CSV/TSV/Parquet file with a column mapping
  (read by :mod:`~alignuser.data.formats.table_file`).
* :mod:`~alignuser.data.formats.common`: ids, required files, fast reads, ``assemble``.

The registry naming them is :data:`alignuser.data.loaders.LOADERS`; it imports a format's
module the first time that format is asked for.
"""
