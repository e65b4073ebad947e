"""Model families behind one contract (:mod:`lingscope.models.base`).

- ``base``: the contract every family implements, saving and loading, the device choice;
- ``cells``: strictly left-to-right cells (one step from a state and an input), which unlock
  the fast exact paths of the methods;
- ``runs``: running a cell over many token segments of one flat sequence at once;
- one module per family: ``imaginet`` (IMAGINET, SUM, LM of Kadar et al. 2017).
"""
