"""Strategy selection (issue 14): the candidates a selector chooses among, their out-of-sample
record per window, and the model that picks the candidate of the next window.

* :mod:`.candidates` — :class:`Candidate`, :func:`resolve_candidates`, :func:`candidate_signals`;
* :mod:`.record` — :class:`CandidateRecord`, :func:`candidate_record`, :func:`spliced_signals`;
* :mod:`.model` — :func:`walk_forward_choices` (the scikit-learn selection model);
* :mod:`.verdict` — does the selector beat its candidates (deflated Sharpe, bootstrap)?

See docs/decisions/0024-strategy-selector.md.
"""
