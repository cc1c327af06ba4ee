"""The byte-level BPE the tiny language stand-ins share: trained on a fixed corpus, so the same
lines give the same tokenizer, with nothing downloaded."""


def train_byte_level_bpe(lines: list[str], *, vocab_size: int, special_tokens: tuple[str, ...]):
    """A `tokenizers.Tokenizer` (byte-level pre-tokenizer and decoder) trained on `lines`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special_tokens),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    backend.train_from_iterator(lines, trainer=trainer)
    return backend
