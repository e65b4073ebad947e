"""Token ids, the flat (CSR) token layout, batches and streaming chunks (numpy and pyarrow only).

This is the one place that knows the special token ids (``<pad>``, ``<unk>``, ``<eos>``), how a
sentence is laid out for a model (its words, then ``<eos>``) and how a batch is padded.
"""
