"""Diffusion backbone: the SD-1.5 CLIP tokenizer built locally, the toy SD, and the one loader.

Importing this package loads no heavy library; torch, diffusers and transformers load on use.
"""
