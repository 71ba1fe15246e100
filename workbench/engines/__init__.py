"""Corpus encoding on distributed engines, beyond one machine.

* :mod:`workbench.engines.dask`: :func:`~workbench.engines.dask.encode_dask`
  and :func:`~workbench.engines.dask.encode_dask_shards` on a Dask cluster
  (``pip install 'dask[distributed]'``).

For several processes or GPUs of one machine, :mod:`workbench.parallel` needs no engine.
"""
