"""Li et al. (2016), "Visualizing and understanding neural models in NLP": the sentiment
networks' accuracy, representations and saliency (Figs. 1-8), and the autoencoder's results and
saliency per decoding step (Fig. 9). See docs/li2016.md.
"""
