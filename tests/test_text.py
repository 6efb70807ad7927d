"""The one place for words: overlap words, BM25 tokens, IDF and the query check."""

from __future__ import annotations

import math

import pytest

from n00bqa.errors import AskError
from n00bqa.text import MAX_QUERY_CHARS, check_query, content_words, idf, lexical_tokens, sentences


def test_content_words_drop_framing_and_plurals():
    assert content_words("How are the embeddings' gradients sparse?") == {"embedding", "gradient", "sparse"}
    assert content_words("Is the loss the same?") == {"loss"}  # "ss" is no plural


def test_lexical_tokens_split_identifiers_and_stem():
    assert lexical_tokens("padding_idx") == ["padding_idx", "padd", "idx"]
    assert lexical_tokens("MultiheadAttention returns self") == ["multiheadattention", "multihead", "attention",
                                                                 "return"]


def test_idf_weighs_rare_and_absent_terms_most():
    docs = [{"loss", "token"}, {"token"}, {"attention", "token"}]
    weight = idf(["token", "loss", "lasagne"], docs)
    assert weight["token"] == pytest.approx(math.log(1 + 3 / 3.5))
    assert weight["loss"] == pytest.approx(math.log(1 + 3 / 1.5))
    assert weight["lasagne"] > weight["loss"] > weight["token"]


@pytest.mark.parametrize("command", ['n00bqa ask "How large is a transformer model?"',
                                     'n00bqa search "why is the embedding gradient sparse"'])
def test_one_query_check_for_ask_and_search(command):
    assert check_query("  what is perplexity \n", command) == "what is perplexity"
    with pytest.raises(AskError) as empty:
        check_query("   ", command)
    assert str(empty.value) == f"the query is empty; ask a question in quotes, e.g. {command}"
    with pytest.raises(AskError, match=f"{MAX_QUERY_CHARS + 1:,} characters long; the limit is {MAX_QUERY_CHARS:,}"):
        check_query("x" * (MAX_QUERY_CHARS + 1), command)


def test_sentences_keep_list_items_and_headings_apart():
    assert sentences("One sentence. Two here!\n# A heading\n- an item\n- another") == [
        "One sentence.", "Two here!", "# A heading", "- an item", "- another"]
