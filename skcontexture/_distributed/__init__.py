"""The fit of ContextureEmbedding on a dask array, on a ``distributed`` cluster.

A fit follows X down once, then up once::

    _embedding.ContextureEmbedding.fit           the estimator (estimators)
      -> _distributed.fit.fit_on_cluster         checks X, finds the client (operator)
        -> context._fit_distributed              the context fits itself (contexts)
          -> _distributed.neighbors              index and joint of a neighbour context
            -> _distributed.layout               X's row chunks on the workers (utilities)
        -> _distributed.operator                 the joint's operator, held by the workers
    <- the estimator solves (``_solve``) and extends to the fit rows (``FitRows``)

The context's hook. A context that can be fitted this way declares, in its own
class (a subclass declares its own: it may change the joint)::

    def _fit_distributed(self, X, client, progress):

with ``X`` a float ``dask.array.Array`` of known row chunks and one column
chunk, ``client`` the active ``distributed.Client`` and ``progress`` the
estimator's :class:`~skcontexture._progress.Progress`. It sets the context's
fitted attributes (``n_atoms_`` and those its ``conditional`` reads, which
must then answer through the cluster, without gathering the fit rows) and
returns the joint's row chunks on the workers, a
:class:`~skcontexture._distributed.layout.Layout`, each chunk the CSR joint
rows of its rows of X; or ``NotImplemented`` when its parameters do not allow
it (``RBFContext(n_neighbors=None)``). It is the one private name the
distributed fit uses of a context. Declared by ``KNNContext``,
``RBFContext`` and ``CooccurrenceContext``.

The modules are placed in the package's layers one by one
(``tests/test_structure.py``): ``layout`` with the utilities, ``neighbors``
with the contexts that call it, ``operator`` and ``fit`` with the operator.
"""
