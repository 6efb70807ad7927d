"""How does a mixture-of-experts layer route tokens, and how many parameters does one token touch?

A tiny Mixtral-style model (transformers' MixtralForCausalLM from a small MixtralConfig, random
weights) reads a sentence, one token per byte. In every layer the feed-forward block is a set of
SwiGLU experts and a router: a linear layer scores each expert for the token, a softmax turns the
scores into probabilities, the k largest are kept and rescaled to sum to 1, and the token's output is
the weighted sum of only those k experts.

Hooks on each router record which experts every token goes to (`router_topk`) and the load per
expert. Then, per token and per layer, the experts are run on that token alone and its output is
backpropagated: the expert weights with a non-zero gradient are exactly the ones that token touched
(`expert_params_touched_per_token`), which must equal the active-parameter formula
layers x k x (3 x hidden x intermediate). The router's load-balancing loss, computed by hand from the
hooked scores, is checked against the one transformers returns. Last, the same formula at Mixtral-8x7B's
published size gives its active parameters (the `variants` probe counts them from the built model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

TEXT = "The cat sat on the mat, and the dog slept by the warm fire."
TOLERANCE = 1e-6  # float32: the aux loss by hand and transformers' agree to rounding
SHOWN_TOKENS = 12  # rows of the routing table


# --- Options -------------------------------------------------------------------------------------
@dataclass
class Options:
    text: str = field(default=TEXT, metadata={"help": "The text to route, one token per byte."})
    experts: int = field(default=8, metadata={"help": "Routed experts per layer (Mixtral-8x7B: 8)."})
    top_k: int = field(default=2, metadata={"help": "Experts each token is routed to (Mixtral: 2)."})
    layers: int = field(default=2, metadata={"help": "Decoder layers of the tiny model."})
    hidden: int = field(default=64, metadata={"help": "Hidden size (must divide by the 4 attention heads)."})
    intermediate: int = field(default=128, metadata={"help": "Each expert's intermediate size."})


def check(opts: Options) -> None:
    if not 1 <= len(opts.text.encode()) <= 512:
        raise ProbeError(f"--text must be 1 to 512 bytes long, got {len(opts.text.encode())}")
    check_ranges(opts, {"experts": (2, 64)})
    check_ranges(opts, {"top_k": (1, opts.experts, "(at most --experts)"), "layers": (1, 64), "hidden": (4, 1024),
                        "intermediate": (4, 1024)})
    if opts.hidden % 4:
        raise ProbeError(f"--hidden must divide by the 4 attention heads, got {opts.hidden}")
    if opts.intermediate % 4:  # the experts' grouped matmul needs rows of whole 16-byte (4 x fp32) blocks
        raise ProbeError(f"--intermediate must be a multiple of 4, got {opts.intermediate}")


# --- Numbers -------------------------------------------------------------------------------------
@dataclass
class Numbers:
    tokens: int
    router_topk: int  # experts per token, as the router's output shape says
    distinct_experts_min: int  # fewest distinct experts any token got in any layer (k: no repeats)
    top_k_weight_sum_max_dev: float  # max |sum of a token's k routing weights - 1|: renormalised
    experts_touched_per_token_per_layer: int  # expert slices with non-zero gradient, same for every token
    expert_params_touched_per_token: int  # non-zero-gradient expert weights, summed over layers
    expert_params_touched_min: int  # ... over tokens (every token touches the same amount)
    expert_params_touched_max: int
    expert_params_formula: int  # layers x k x 3 x hidden x intermediate
    expert_params_all: int  # layers x experts x 3 x hidden x intermediate
    touched_fraction: float  # touched / all expert parameters (= k / experts)
    total_params: int
    active_params_formula: int  # total - layers x (experts - k) x 3 x hidden x intermediate
    active_params_measured: int  # non-expert params + the touched expert params
    touched_equals_formula: bool
    load: dict[str, dict[str, int]]  # "layer_0" -> "expert_3" -> routed token slots
    load_uniform: float  # tokens x k / experts: the load if routing were even
    load_max_over_uniform: float
    load_min_over_uniform: float
    aux_loss_by_hand: float  # experts x sum_e (fraction routed to e) x (mean router prob of e)
    aux_loss_transformers: float  # MixtralForCausalLM(..., output_router_logits=True).aux_loss
    aux_loss_diff: float
    aux_loss_balanced: float  # its value for perfectly even routing: k
    tolerance: float
    mixtral_8x7b: dict[str, int]  # the formula at the published size
    routing_rows: list[list[Any]]  # report only: token, experts per layer


# --- measure -------------------------------------------------------------------------------------
def tiny_config(opts: Options):
    from transformers import MixtralConfig

    return MixtralConfig(vocab_size=256, hidden_size=opts.hidden, intermediate_size=opts.intermediate,
                         num_hidden_layers=opts.layers, num_attention_heads=4, num_key_value_heads=2,
                         num_local_experts=opts.experts, num_experts_per_tok=opts.top_k,
                         max_position_embeddings=1024, tie_word_embeddings=False)


def record_routing(model: Any, input_ids: Any) -> tuple[list[dict[str, Any]], Any]:
    """Run the model once with hooks on every router and every expert block.

    Returns per layer {"logits": (T, E), "weights": (T, k), "experts": (T, k), "hidden": (T, H)}, and
    the model's output (with `aux_loss`, as output_router_logits=True asks).
    """
    import torch

    seen: list[dict[str, Any]] = [{} for _ in model.model.layers]
    handles = []
    for i, layer in enumerate(model.model.layers):
        def on_router(module, args, output, i=i):
            logits, weights, experts = output  # (T, E), (T, k), (T, k)
            seen[i].update(logits=logits.detach(), weights=weights.detach(), experts=experts.detach())

        def on_experts(module, args, i=i):
            seen[i]["hidden"] = args[0].detach()  # (T, H): the normed hidden states the experts read

        handles.append(layer.mlp.gate.register_forward_hook(on_router))
        handles.append(layer.mlp.experts.register_forward_pre_hook(on_experts))
    try:
        with torch.no_grad():
            output = model(input_ids, output_router_logits=True)
    finally:
        for handle in handles:
            handle.remove()
    return seen, output


def touched_by_one_token(experts: Any, hidden: Any, chosen: Any, weights: Any) -> tuple[int, int]:
    """(expert weights, experts) with a non-zero gradient when only this token's output is backpropagated.

    Args:
        experts: a layer's MixtralExperts (gate_up_proj (E, 2I, H), down_proj (E, H, I)).
        hidden: (1, H) the token's hidden state; chosen: (1, k) its experts; weights: (1, k) their weights.
    """
    experts.zero_grad(set_to_none=True)
    out = experts(hidden, chosen, weights)  # (1, H): the weighted sum of the k chosen experts
    out.sum().backward()
    gate_up, down = experts.gate_up_proj.grad, experts.down_proj.grad  # (E, 2I, H), (E, H, I)
    params = int((gate_up != 0).sum() + (down != 0).sum())
    touched = (gate_up != 0).flatten(1).any(1) | (down != 0).flatten(1).any(1)  # (E,)
    return params, int(touched.sum())


def measure(opts: Options, ctx: Context) -> Numbers:
    import torch
    import torch.nn.functional as F
    from transformers import MixtralForCausalLM

    from n00bqa.probes.lib.counting import count_parameters

    advance = ctx.task("tiny Mixtral: route, then backprop each token", 3)
    config = tiny_config(opts)
    model = MixtralForCausalLM(config).eval()
    ids = torch.tensor([list(opts.text.encode())])  # (1, T): one token per byte
    T, E, k = ids.shape[1], opts.experts, opts.top_k
    seen, output = record_routing(model, ids)
    advance()

    # 1. Who went where: k experts per token, weights renormalised to sum to 1.
    chosen = torch.stack([s["experts"] for s in seen])  # (L, T, k)
    weights = torch.stack([s["weights"] for s in seen])  # (L, T, k)
    distinct = min(len(set(row.tolist())) for layer in chosen for row in layer)
    counts = torch.stack([torch.bincount(layer.flatten(), minlength=E) for layer in chosen])  # (L, E)
    load = {f"layer_{i}": {f"expert_{e}": int(c) for e, c in enumerate(row)} for i, row in enumerate(counts)}
    uniform = T * k / E

    # 2. What one token touches: backprop its own output through the experts of each layer.
    per_expert = 3 * opts.hidden * opts.intermediate  # gate (I, H) + up (I, H) + down (H, I)
    touched_params, touched_experts = [], set()
    for i, layer in enumerate(model.model.layers):
        for t in range(T):
            params, n_experts = touched_by_one_token(layer.mlp.experts, seen[i]["hidden"][t:t + 1],
                                                     chosen[i, t:t + 1], weights[i, t:t + 1])
            if i == 0:
                touched_params.append(0)
            touched_params[t] += params
            touched_experts.add(n_experts)
    advance()

    # 3. The load-balancing loss (Switch Transformer, eq. 4-6) by hand from the hooked router logits.
    logits = torch.cat([s["logits"] for s in seen])  # (L*T, E)
    probs = F.softmax(logits, dim=-1)  # (L*T, E)
    picks = torch.topk(probs, k, dim=-1).indices  # (L*T, k)
    fraction = torch.bincount(picks.flatten(), minlength=E).float() / logits.shape[0]  # (E,), sums to k
    aux = float(E * (fraction * probs.mean(0)).sum())
    total = count_parameters(model)  # each tensor once
    all_experts = opts.layers * E * per_expert
    formula = opts.layers * k * per_expert
    common = touched_params[0] if len(set(touched_params)) == 1 else sum(touched_params) // T
    advance()

    big = mixtral_8x7b()
    return Numbers(
        tokens=T, router_topk=int(chosen.shape[-1]), distinct_experts_min=distinct,
        top_k_weight_sum_max_dev=float((weights.sum(-1) - 1).abs().max()),
        experts_touched_per_token_per_layer=max(touched_experts) if len(touched_experts) == 1 else -1,
        expert_params_touched_per_token=common, expert_params_touched_min=min(touched_params),
        expert_params_touched_max=max(touched_params), expert_params_formula=formula,
        expert_params_all=all_experts, touched_fraction=common / all_experts, total_params=total,
        active_params_formula=total - opts.layers * (E - k) * per_expert,
        active_params_measured=total - all_experts + common,
        touched_equals_formula=min(touched_params) == max(touched_params) == formula,
        load=load, load_uniform=uniform, load_max_over_uniform=float(counts.max()) / uniform,
        load_min_over_uniform=float(counts.min()) / uniform,
        aux_loss_by_hand=aux, aux_loss_transformers=float(output.aux_loss), aux_loss_diff=abs(aux - float(output.aux_loss)),
        aux_loss_balanced=float(k), tolerance=TOLERANCE,
        mixtral_8x7b=big,
        routing_rows=[[repr(chr(int(ids[0, t]))), *(" ".join(f"{int(e)}:{float(w):.2f}" for e, w in
                                                           zip(chosen[i, t], weights[i, t])) for i in range(opts.layers))]
                      for t in range(min(T, SHOWN_TOKENS))],
    )


def mixtral_8x7b() -> dict[str, int]:
    """The active-parameter formula at Mixtral-8x7B's published size, and the count of the model built
    on the meta device from its config: every parameter but the experts a token's router leaves idle."""
    from n00bqa.probes.lib.configs import build_model, published_configs
    from n00bqa.probes.lib.counting import count_parameters

    config, class_name = published_configs()["mixtral-8x7b"]
    model = build_model(config, class_name)
    total = count_parameters(model)
    # transformers keeps a layer's experts fused: gate_up_proj (E, 2I, H) and down_proj (E, H, I)
    fused = [m for m in model.modules() if hasattr(m, "gate_up_proj") and hasattr(m, "num_experts")]
    expert = fused[0].gate_up_proj[0].numel() + fused[0].down_proj[0].numel()  # one expert: 3 x H x I
    E, k = config.num_local_experts, config.num_experts_per_tok
    return {"total": total, "moe_layers": len(fused), "experts": E, "top_k": k, "expert_params": expert,
            "expert_params_per_token": len(fused) * k * expert,
            "active_formula": total - config.num_hidden_layers * (E - k) * 3 * config.hidden_size
            * config.intermediate_size,
            "active_counted": total - sum((m.num_experts - k) * (m.gate_up_proj[0].numel() + m.down_proj[0].numel())
                                          for m in fused)}


# --- report --------------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    layers = list(n.load)
    per_expert = 3 * opts.hidden * opts.intermediate
    sums = verdict(n.top_k_weight_sum_max_dev, n.tolerance, "do NOT sum to 1", "sum to 1", "tolerance")
    same = verdict(n.expert_params_touched_max - n.expert_params_touched_min, 0,
                   f"from {n.expert_params_touched_min:,} to {n.expert_params_touched_max:,}", "every token the same",
                   "exact")
    off_formula = max(abs(n.expert_params_touched_min - n.expert_params_formula),
                      abs(n.expert_params_touched_max - n.expert_params_formula))
    touched_equal = verdict(off_formula, 0, "NOT equal", "equal", "exact")
    aux_equal = verdict(n.aux_loss_diff, n.tolerance, "NOT equal", "equal", "tolerance")
    big = n.mixtral_8x7b
    big_equal = verdict(abs(big["active_formula"] - big["active_counted"]), 0, "NOT equal", "equal", "exact")
    touched = n.experts_touched_per_token_per_layer
    slices = (f"{touched} expert{'s' if touched > 1 else ''}' weights" if touched > 0 else
              "a number of experts' weights that differs between tokens")
    findings = [
        f"Each of the {n.tokens} tokens goes to {n.router_topk} of the {opts.experts} experts in every layer (the fewest "
        f"distinct experts any token got is {n.distinct_experts_min}); the router rescales its {n.router_topk} largest "
        f"probabilities, so a token's weights {sums} (largest deviation {n.top_k_weight_sum_max_dev:.2g}, tolerance "
        f"{n.tolerance:g}).",
        f"Backpropagating one token's output through a layer's experts gives a non-zero gradient in "
        f"{slices}, and in no others. Summed over the {opts.layers} "
        f"layers, a token touches {n.expert_params_touched_per_token:,} expert parameters "
        f"({same}); "
        f"the formula layers x k x 3 x hidden x intermediate gives {n.expert_params_formula:,}: "
        f"{touched_equal}. The model holds {n.expert_params_all:,} expert "
        f"parameters, so a token touches {100 * n.touched_fraction:.0f}% of them.",
        f"Active parameters (everything but the idle experts): {n.active_params_measured:,} measured, "
        f"{n.active_params_formula:,} by formula, out of {n.total_params:,}.",
        f"Load per expert: an even split would give each expert {n.load_uniform:g} token slots per layer; the busiest "
        f"expert got {n.load_max_over_uniform:.2f}x that, the idlest {n.load_min_over_uniform:.2f}x. The router is "
        "untrained here, so the split is whatever its random weights favour; training adds the load-balancing loss "
        "to even it out.",
        f"That loss, experts x sum over experts of (share of picks) x (mean router probability), is "
        f"{n.aux_loss_by_hand:.6f} by hand and {n.aux_loss_transformers:.6f} from transformers: "
        f"{aux_equal} within {n.tolerance:g} (difference {n.aux_loss_diff:.2g}). "
        f"Perfectly even routing would give {n.aux_loss_balanced:g}.",
        f"At Mixtral-8x7B's size ({big['moe_layers']} MoE layers, {big['experts']} experts of {big['expert_params']:,} "
        f"parameters, top-{big['top_k']}), a token touches {big['expert_params_per_token']:,} expert parameters, and "
        f"{big['active_formula']:,} in all by the same formula; counted from the built model: {big['active_counted']:,}"
        f" ({big_equal}).",
    ]
    routing = Table(f"Routing of the first {len(n.routing_rows)} tokens: expert:weight per layer",
                    ["token", *layers], n.routing_rows,
                    note="Each cell: the k experts the router chose for that token in that layer, with its weights.")
    load = Table.of("Load: token slots routed to each expert", {f"expert_{e}": e for e in range(opts.experts)},
                    {"expert": "key", **{layer: (lambda key, _, layer=layer: n.load[layer][key]) for layer in layers}},
                    note=f"{n.tokens} tokens x top-{n.router_topk} = {n.tokens * n.router_topk} slots per layer.")
    params = Table.of("Parameters: the tiny model", {
        "one expert (3 x hidden x intermediate)": per_expert,
        "all experts": n.expert_params_all,
        "touched by one token (measured)": n.expert_params_touched_per_token,
        "total": n.total_params,
        "active (measured)": n.active_params_measured,
    }, {"what": "key", "params": lambda _, count: count})
    return Report(
        summary=f"A tiny Mixtral ({opts.layers} layers, {opts.experts} experts, top-{opts.top_k}) routes each token to "
                f"{n.router_topk} experts; the gradient of one token's output reaches {n.expert_params_touched_per_token:,} "
                f"expert weights, {touched_equal} to the active-parameter formula.",
        findings=findings, tables=[routing, load, params], model="tiny MixtralForCausalLM (random weights)")


# --- The probe -----------------------------------------------------------------------------------
PROBE = Probe(
    name="moe",
    question="transformer-variants",
    title="A tiny Mixtral: which experts each token goes to, the weights one token touches, load per expert",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    predictions=(
        Prediction("In the tiny Mixtral (2 layers, 8 experts, top-2, hidden 64, intermediate 128), how many expert "
                   "parameters does one token touch?", "expert_params_touched_per_token", "parameters"),
        Prediction("Mixtral-8x7B: how many expert parameters does one token pass through?",
                   "mixtral_8x7b.expert_params_per_token", "parameters"),
    ),
)
