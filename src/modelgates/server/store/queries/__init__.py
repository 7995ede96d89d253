"""The queries, one small class for each thing the store keeps, as fosite's storage interfaces
are one per concern: each holds the transaction's connection and is reached from it by name
(``tx.keys.by_hash(h)``, ``tx.codes.claim(...)``, ``tx.audit.record(...)``).

Their methods take typed parameters and give back the frozen rows of :mod:`..rows`, built by
position from the columns :func:`._common.columns` selects. The hot statements are built once, at
import, with bound parameters: SQLAlchemy then finds their compiled form in its cache without
building and hashing a new statement each time.
"""
