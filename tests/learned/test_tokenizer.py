"""The generated CLIP tokenizer: every toy word is one token, it saves and loads as a real CLIPTokenizer, other text is spelt out."""

from __future__ import annotations

from dreamlift.learned.tokenizer import EOS, build_tokenizer, bpe, toy_words, vocabulary


def test_every_toy_word_is_one_token_and_the_files_load_with_from_pretrained(tmp_path):
    from transformers import CLIPTokenizer

    tokenizer = build_tokenizer(tmp_path / "files", max_length=16)
    for word in toy_words():
        assert tokenizer.tokenize(word) == [word + "</w>"], word
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    loaded = CLIPTokenizer.from_pretrained(tmp_path / "tokenizer", local_files_only=True)
    text = "A photo of an orange mushroom, back view."
    ids = loaded(text, padding="max_length", max_length=16).input_ids
    assert ids == tokenizer(text, padding="max_length", max_length=16).input_ids
    assert loaded.convert_ids_to_tokens(ids)[:12] == [
        "<|startoftext|>", "a</w>", "photo</w>", "of</w>", "an</w>", "orange</w>", "mushroom</w>", ",</w>", "back</w>", "view</w>", ".</w>", EOS,
    ]
    assert loaded.pad_token == EOS and loaded.model_max_length == 16
    # a word outside the vocabulary is spelt letter by letter, never unknown
    assert loaded.tokenize("zebra") == ["z", "e", "b", "r", "a</w>"]


def test_a_later_word_never_changes_how_an_earlier_one_is_joined():
    words = ["red", "green", "greenery", "ed", "tree", "street"]
    vocab, merges = vocabulary(words)
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    for word in words:
        assert bpe(word, ranks) == [word + "</w>"]
        assert word + "</w>" in vocab
