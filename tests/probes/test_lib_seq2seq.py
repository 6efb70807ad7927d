"""lib/seq2seq.py: the toy language's alignment against the lexicon, held-out sentences kept out of
training, the padded id batches, the heatmap cells against the weights, and the tiny T5's shapes."""

from __future__ import annotations

import random

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes.lib.seq2seq import (BOS, EOS, LEXICON, SRC_VOCAB, TGT_VOCAB, Sentence, encode_batch,
                                       heatmap_table, load_seq2seq, make_data, make_sentence, tiny_t5)


def test_toy_language_alignment_is_a_reordering_permutation():
    rng = random.Random(3)
    reordered = 0
    for _ in range(200):
        s = make_sentence(rng)
        assert sorted(s.alignment) == list(range(len(s.source)))
        assert s.target == [LEXICON[s.source[i]] for i in s.alignment]
        reordered += s.alignment != sorted(s.alignment)
    assert reordered == 200  # the verb always moves to the end


def test_held_out_sentences_never_appear_in_training():
    batch, test = make_data(0, 50)
    held_out = {tuple(s.source) for s in test}
    assert len(held_out) == 50
    assert not any(tuple(s.source) in held_out for s in batch(2000))


def test_encode_batch_pads_with_zero_and_shifts_the_target_by_one():
    a = Sentence(["the", "cat", "sees", "a", "dog"], ["le", "chat", "un", "chien", "voit"], [0, 1, 3, 4, 2])
    b = Sentence(["a", "dog", "eats", "the", "fish"], ["un", "chien", "le", "poisson", "mange"], [0, 1, 3, 4, 2])
    short = Sentence(["a", "cat"], ["un", "chat"], [0, 1])
    src, tgt_in, tgt_out = encode_batch([a, b, short])
    assert tuple(src.shape) == (3, 5) and tuple(tgt_in.shape) == (3, 6)
    assert [SRC_VOCAB[i] for i in src[0].tolist()] == a.source
    assert src[2, 2:].tolist() == [0, 0, 0]
    assert [TGT_VOCAB[i] for i in tgt_in[0].tolist()] == [BOS, *a.target]
    assert [TGT_VOCAB[i] for i in tgt_out[0].tolist()] == [*a.target, EOS]
    assert tgt_out[2].tolist()[3:] == [0, 0, 0]


def test_heatmap_cells_are_the_weights_in_percent_and_shades_beyond_eight_columns():
    narrow = heatmap_table("t", ["x", "y"], ["a", "b", "c"], [[0.93, 0.05, 0.02], [0.1, 0.3, 0.6]], note="n")
    assert narrow.columns == ["target", "s1", "s2", "s3"]
    assert narrow.rows[0] == ["x", "█ 93", "   5", "   2"]
    assert narrow.rows[1] == ["y", "  10", "░ 30", "▓ 60"]
    assert narrow.note.startswith("source: s1 = a, s2 = b, s3 = c. n")
    wide = heatmap_table("t", ["x"], [str(i) for i in range(10)], [[0.55] + [0.05] * 9], note="n")
    assert wide.rows[0] == ["x", "▒"] + ["·"] * 9


def test_tiny_t5_is_an_encoder_decoder_with_the_documented_shapes():
    import torch

    model, tokenizer = tiny_t5(0)
    assert model.config.is_encoder_decoder
    assert (model.config.num_layers, model.config.num_decoder_layers, model.config.num_heads) == (2, 2, 4)
    ids = tokenizer("the cat", return_tensors="pt")["input_ids"]  # [CLS] the cat [SEP]
    with torch.no_grad():
        out = model(input_ids=ids, decoder_input_ids=torch.tensor([[0, 5]]), output_attentions=True)
    assert tuple(out.cross_attentions[0].shape) == (1, 4, 2, 4)
    first, again = tiny_t5(0)[0], tiny_t5(0)[0]
    assert all(torch.equal(p, q) for p, q in zip(first.parameters(), again.parameters()))  # seeded


def test_load_seq2seq_refuses_an_encoder_only_model():
    from n00bqa.study import bundled_model_path

    with pytest.raises(ProbeError, match="'bert' model, not an encoder-decoder"):
        load_seq2seq(str(bundled_model_path()))
