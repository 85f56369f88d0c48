"""genlab's web app (``genlab serve``) and human-preference arena (``genlab arena``).

- ``studio``: runs under a folder, sampling / interpolation / comparison with caps.
- ``store``: the arena's SQLite vote store.
- ``arena``: pair and prompt drawing, votes, the classifier judge.
- ``ui``: the Gradio page (imports gradio; the optional extra ``genlab[app]``).
The ratings themselves are ``genlab.metrics.preference``.
"""
