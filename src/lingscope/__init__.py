"""lingscope: what recurrent networks learn about language."""
