"""MoMo reconciliation: compare the platform's records with MoMo's, per time window
(docs/momo.md, "Reconciliation"). One module per concern; import from the one that owns
the name:

- :mod:`.classification`: what each side says (:class:`~.classification.Read`) and the
  category of one request against MoMo (:func:`~.classification.classify`, pure);
- :mod:`.matching`: statement lines paired with requests by their references;
- :mod:`.runs`: a reconciliation run (:func:`~.runs.reconcile`): status reads, items,
  automatic resolution of lost callbacks, cases opened;
- :mod:`.cases`: the operations work-queue (assign, resolve, who may work it);
- :mod:`.reports`: a run's report rows, CSV and JSON, a partner's scoped view;
- :mod:`.schedule`: the hourly job's window and the simulator's statements.
"""
