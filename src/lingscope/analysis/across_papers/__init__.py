"""What spans the three papers: the training summary, the checks of every run, how far the
attribution methods agree per network, and the method x network matrix. See docs/beyond.md.
"""
