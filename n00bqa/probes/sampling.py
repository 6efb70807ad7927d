"""How does an LLM turn its last hidden state into the next token, and what do temperature, top-k and top-p change?

The last position's hidden state goes through the final norm and the LM head (in SmolLM2 the token
table itself, tied): one logit per vocabulary entry, 49,152 of them. softmax(logits / T) is the
next-token distribution; generation then picks from it. Greedy takes the top token; sampling draws
one. Temperature T divides the logits first: T < 1 sharpens the distribution (lower entropy, a
surer top token), T > 1 flattens it. Top-k keeps the k most likely tokens, top-p (nucleus sampling,
Holtzman et al. 2019) the fewest whose probabilities add up to p, and renormalises.

This probe measures it on the real SmolLM2-135M-Instruct for one prompt: the entropy and the top-1
probability at several temperatures (each called sharper or flatter than T = 1 from the numbers),
the mass top-k and top-p keep and how many tokens that is, and how many distinct continuations a
batch of samples gives under each rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

PROMPT = "Once upon a time, in a small village by the sea, there lived a"
TEMPERATURES = (0.25, 0.5, 1.0, 2.0, 4.0)


# --- 1. Options ---------------------------------------------------------------------------------
MASS_SHARE = 0.9  # "how many tokens hold 90% of the mass": a fixed yardstick, reported as a metric

@dataclass
class Options:
    model: str | None = field(default=None, metadata={
        "help": "A local Hugging Face causal-LM folder or a .gguf file instead of the bundled SmolLM2."})
    top_k: int = field(default=50, metadata={"help": "k for top-k: keep the k most likely tokens."})
    top_p: float = field(default=0.9, metadata={"help": "p for top-p: keep the fewest tokens whose mass reaches p."})
    samples: int = field(default=6, metadata={"help": "Continuations sampled under each rule (one batch)."})
    new_tokens: int = field(default=4, metadata={"help": "Tokens in each sampled continuation."})


def check(opts: Options) -> None:
    check_ranges(opts, {"top_k": (1, 49_152), "top_p": (0.01, 1.0), "samples": (2, 32), "new_tokens": (1, 32)})
    if opts.model is not None:
        from pathlib import Path

        from n00bqa.errors import ProbeError

        if not Path(opts.model).expanduser().exists():
            raise ProbeError(f"--model {opts.model!r} does not exist; give a local model folder or a .gguf file")


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class AtTemperature:
    entropy: float  # nats, of softmax(logits / T)
    top1_probability: float
    tokens_for_90_percent: int  # the fewest tokens holding 90% of the mass
    word: str  # report only: "sharper" / "flatter" than T = 1 (from the entropy and top-1), or "as trained"


@dataclass
class Candidate:
    token: str  # report only
    probability: float  # at T = 1


@dataclass
class Rule:
    distinct: int  # distinct continuations among the samples
    example: str  # report only: the first sample


@dataclass
class Numbers:
    prompt_tokens: int
    vocab: int
    max_entropy: float  # log(vocab): a uniform distribution
    temperatures: dict[str, AtTemperature]  # "0.25", ..., "4" -> the distribution at that T
    top: list[Candidate]  # report only: the five most likely tokens at T = 1
    top_k_mass: float  # mass of the k most likely tokens at T = 1
    top_p_tokens: int  # tokens top-p keeps at T = 1
    top_p_mass: float  # their mass (>= p)
    mass_share: float  # MASS_SHARE: the share of the mass "tokens for 90%" counts tokens up to
    rules: dict[str, Rule]  # "greedy", "T=0.5", "T=1", "top-k", "top-p" -> distinct continuations
    model: str  # report only


# --- 3. measure ---------------------------------------------------------------------------------
def next_token_logits(lm: Any) -> tuple[Any, Any]:
    """The prompt's ids (1, P) and the logits for the token after it (vocab,): the last hidden state,
    the final norm, then the tied LM head."""
    import torch

    ids = lm.tokenizer(PROMPT, return_tensors="pt").input_ids  # (1, P)
    with torch.no_grad():
        hidden = lm.model.model(ids).last_hidden_state[0, -1]  # (hidden,): final norm already applied
        logits = lm.model.lm_head(hidden)  # (hidden,) @ (hidden, vocab) -> (vocab,)
    return ids, logits.double()


def at_temperature(logits: Any, temperature: float, reference: tuple[float, float] | None) -> AtTemperature:
    import torch

    log_p = torch.log_softmax(logits / temperature, dim=-1)  # (vocab,)
    p = log_p.exp()
    entropy = -(p * log_p).sum().item()
    top1 = p.max().item()
    mass = p.sort(descending=True).values.cumsum(0)  # (vocab,)
    for_90 = int((mass < MASS_SHARE).sum().item()) + 1
    if reference is None:
        word = "as trained"
    else:
        sharper = entropy < reference[0] and top1 > reference[1]
        flatter = entropy > reference[0] and top1 < reference[1]
        word = "sharper" if sharper else "flatter" if flatter else "mixed"
    return AtTemperature(entropy=entropy, top1_probability=top1, tokens_for_90_percent=for_90, word=word)


def pick(logits: Any, rule: dict[str, Any], generator: Any) -> Any:
    """The next token of each row under one rule: (samples, vocab) logits -> (samples,) ids."""
    import torch

    if rule["temperature"] == 0.0:  # greedy: the top token, no randomness
        return logits.argmax(dim=-1)
    z = logits / rule["temperature"]  # (samples, vocab)
    if rule["top_k"]:
        kth = z.topk(rule["top_k"], dim=-1).values[:, -1:]  # (samples, 1): the k-th largest logit
        z = z.masked_fill(z < kth, float("-inf"))
    if rule["top_p"] < 1.0:
        sorted_z, order = z.sort(dim=-1, descending=True)  # (samples, vocab)
        p = sorted_z.softmax(dim=-1)
        before = p.cumsum(dim=-1) - p  # the mass of the tokens ranked above each one
        drop = (before >= rule["top_p"]).scatter(-1, order, before >= rule["top_p"])  # back to vocab order
        z = z.masked_fill(drop, float("-inf"))
    return torch.multinomial(z.softmax(dim=-1), 1, generator=generator)[:, 0]  # renormalised, then drawn


def sample_rules(lm: Any, ids: Any, opts: Options, seed: int) -> dict[str, Rule]:
    """Draw `samples` continuations under each rule and count the distinct ones.

    The prompt runs once; its cache is copied per rule and repeated for the batch of samples, and
    each step feeds the drawn tokens back: what `generate` does, with the rule written out.
    """
    import copy

    import torch

    rules = {"greedy": dict(temperature=0.0, top_k=0, top_p=1.0), "T=0.5": dict(temperature=0.5, top_k=0, top_p=1.0),
             "T=1": dict(temperature=1.0, top_k=0, top_p=1.0),
             "top-k": dict(temperature=1.0, top_k=opts.top_k, top_p=1.0),
             "top-p": dict(temperature=1.0, top_k=0, top_p=opts.top_p)}
    with torch.no_grad():
        prefill = lm.model(ids, use_cache=True, logits_to_keep=1)  # (1, P) -> logits (1, 1, vocab) + cache
    out = {}
    for name, rule in rules.items():
        generator = torch.Generator().manual_seed(seed)
        cache = copy.deepcopy(prefill.cache)
        cache.batch_repeat_interleave(opts.samples)  # (1, kv, P, d) -> (samples, kv, P, d)
        logits = prefill.logits[:, -1].expand(opts.samples, -1)  # (samples, vocab)
        drawn = []
        for step in range(opts.new_tokens):
            token = pick(logits, rule, generator)  # (samples,)
            drawn.append(token)
            if step + 1 < opts.new_tokens:
                with torch.no_grad():
                    logits = lm.model(token[:, None], cache=cache, use_cache=True).logits[:, -1]  # (samples, vocab)
        rows = torch.stack(drawn, dim=1)  # (samples, new_tokens)
        texts = [lm.tokenizer.decode(row, skip_special_tokens=True) for row in rows]
        out[name] = Rule(distinct=len(set(texts)), example=texts[0].strip())
    return out


def measure(opts: Options, ctx: Context) -> Numbers:
    import torch

    from n00bqa.probes.lib.causal_lm import load_causal_lm

    advance = ctx.task("load the model, read the next-token distribution, then sample", 3)
    lm = load_causal_lm(opts.model, lambda message: ctx.task(message, 0))
    advance()
    ids, logits = next_token_logits(lm)  # (1, P), (vocab,)
    reference = at_temperature(logits, 1.0, None)
    temperatures = {f"{t:g}": at_temperature(logits, t, None if t == 1.0 else
                                             (reference.entropy, reference.top1_probability)) for t in TEMPERATURES}
    p = torch.softmax(logits, dim=-1)  # (vocab,) at T = 1
    sorted_p, order = p.sort(descending=True)
    cumulative = sorted_p.cumsum(0)
    # the fewest whose mass reaches p; at --top-p 1 the float32 sum may stop just short of 1, so at most V
    top_p_tokens = min(int((cumulative < opts.top_p).sum().item()) + 1, cumulative.numel())
    top = [Candidate(repr(lm.tokenizer.decode([int(i)])), sorted_p[j].item()) for j, i in enumerate(order[:5])]
    advance()
    rules = sample_rules(lm, ids, opts, ctx.seed)
    advance()
    return Numbers(prompt_tokens=ids.shape[1], vocab=logits.shape[0], max_entropy=math.log(logits.shape[0]),
                   temperatures=temperatures, top=top, top_k_mass=sorted_p[:opts.top_k].sum().item(),
                   top_p_tokens=top_p_tokens, top_p_mass=cumulative[top_p_tokens - 1].item(),
                   mass_share=MASS_SHARE, rules=rules, model=lm.description)


# --- 4. report ----------------------------------------------------------------------------------
def against_t1(a: AtTemperature, one: AtTemperature) -> str:
    """'sharper' or 'flatter' than T = 1 when the entropy and the top-1 probability agree, else 'mixed':
    two verdicts, each against T = 1's value (strictly: an equal entropy and top-1 come out mixed)."""
    by_entropy = verdict(a.entropy, one.entropy, "flatter", "sharper", "entropy at T = 1")
    by_top1 = verdict(a.top1_probability, one.top1_probability, "sharper", "flatter", "top-1 p at T = 1")
    return by_entropy if by_entropy == by_top1 else "mixed"


def report(n: Numbers, opts: Options) -> Report:
    t = n.temperatures
    one = t["1"]
    words = {key: "as trained" if key == "1" else against_t1(a, one) for key, a in t.items()}
    cold_key, hot_key = f"{min(TEMPERATURES):g}", f"{max(TEMPERATURES):g}"
    cold, hot = t[cold_key], t[hot_key]
    best = n.top[0]
    findings = [
        f"Measured on {n.model}, for the prompt {PROMPT!r} ({n.prompt_tokens} tokens): the last hidden state "
        f"goes through the tied LM head to {n.vocab:,} logits; softmax gives the next token.",
        f"At T = 1 (the distribution as trained) the top token {best.token} has probability "
        f"{one.top1_probability:.3f}, the entropy is {one.entropy:.2f} nats (a uniform guess over the vocabulary: "
        f"{n.max_entropy:.2f}), and {one.tokens_for_90_percent:,} tokens hold {n.mass_share:.0%} of the mass.",
        f"At T = {min(TEMPERATURES):g} the distribution is {words[cold_key]} than at T = 1: entropy "
        f"{cold.entropy:.2f} nats, top-1 {cold.top1_probability:.3f}. At T = {max(TEMPERATURES):g} it is "
        f"{words[hot_key]}: entropy "
        f"{hot.entropy:.2f} nats, top-1 {hot.top1_probability:.3f}, {hot.tokens_for_90_percent:,} tokens for "
        f"{n.mass_share:.0%}.",
        f"Top-k with k = {opts.top_k:,} keeps {100 * n.top_k_mass:.1f}% of the mass at T = 1; top-p with "
        f"p = {opts.top_p:g} keeps {n.top_p_tokens:,} tokens ({100 * n.top_p_mass:.1f}% of the mass): top-k's "
        f"count is fixed, top-p's is read off this prompt's distribution.",
        f"Among {opts.samples} samples of {opts.new_tokens} tokens: greedy gives {n.rules['greedy'].distinct} "
        f"distinct continuation(s), T = 0.5 gives {n.rules['T=0.5'].distinct}, T = 1 gives {n.rules['T=1'].distinct}, "
        f"top-k {n.rules['top-k'].distinct} and top-p {n.rules['top-p'].distinct}.",
    ]
    temps = Table.of("The next-token distribution against temperature", t,
                     {"T": "key", "entropy nats": lambda _, a: round(a.entropy, 2),
                      "top-1 p": lambda _, a: round(a.top1_probability, 3),
                      "tokens for 90%": "tokens_for_90_percent", "vs T = 1": lambda key, _: words[key]},
                     note="sharper: lower entropy and a likelier top token than at T = 1; flatter: the opposite.")
    top = Table.of("The five likeliest next tokens at T = 1", n.top,
                   {"token": "token", "p": lambda _, c: round(c.probability, 4)})
    rules = Table.of(f"{opts.samples} continuations under each rule", n.rules,
                     {"rule": "key", "distinct": "distinct", "first sample": "example"})
    return Report(
        summary=f"softmax(logits / T): T = {min(TEMPERATURES):g} is {words[cold_key]}, T = {max(TEMPERATURES):g} "
                f"{words[hot_key]}; top-p {opts.top_p:g} keeps {n.top_p_tokens:,} of {n.vocab:,} tokens for this prompt.",
        findings=findings, tables=[temps, top, rules], model=n.model)


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="sampling",
    question="next-token",
    title="A real LLM's next-token distribution: temperature, top-k, top-p and how varied samples are",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # on a busy 2-core machine two threads contend; one is faster here (see Probe.threads)
    predictions=(
        Prediction("How many tokens does top-p 0.9 keep for the probe's story prompt?", "top_p_tokens", "tokens",
                   scoring="log10"),
        Prediction("What is the next-token entropy at T = 1, in nats (uniform would be 10.8)?",
                   "temperatures.1.entropy", "nats"),
    ),
)
