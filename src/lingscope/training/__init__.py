"""One training loop and one evaluation for every model family.

The loop knows objectives (next-token prediction, regression onto image vectors, ...), which
the model declares through the contract (:mod:`lingscope.models.base`); it never names a family.
"""
