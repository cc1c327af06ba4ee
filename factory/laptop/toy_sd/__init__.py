"""The toy Stable Diffusion: SD-1.5's architecture at toy size, trained on the toy world (`build`,
`training`, `training_set`, `clip`, `tokenizer`), and its prompt-following judge (`judge`).
Importing this package loads no heavy library.
"""
