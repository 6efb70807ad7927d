"""What does a linear layer compute, and how many parameters does it hold?

The house template: `n00bqa probe new NAME` copies this file into `<study root>/probes/` for the
learner to edit (then `n00bqa probe NAME` runs it), and it is itself a real probe that the tests
run. It reads top to bottom in the order of the explanation:

1. Options: a dataclass; each field becomes a `--flag` with its help text. `check` refuses bad
   values in one line, before torch is imported.
2. Numbers: a dataclass of what was measured. It may nest: a record per case, in a dict keyed by
   the case (here one record per parameter tensor), never one field per case. The framework
   turns its numeric fields into the `--json` metrics (`tensors.weight.count`), so never write a
   metric by hand; `result.numbers` keeps the dataclass itself for tests.
3. measure(opts, ctx) -> Numbers: the experiment. Real tensors, real autograd; shapes in comments.
4. report(numbers, opts) -> Report: the summary, findings and tables, every number read from
   `numbers`, every verdict ("equal", "close", "noise") computed from a test whose numbers are
   shown; tables are built from the records by name with `Table.of`. A test checks that each
   number in a finding is a metric, a table cell or an option.
5. PROBE = Probe(...): the name (the file's name, `-` for `_`), the question it answers, the title
   for `n00bqa probes`, and predictions the learner can guess first (`n00bqa quiz`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

TOLERANCE = 1e-6  # float32 sums of a few hundred products agree to about this


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    in_features: int = field(default=64, metadata={"help": "Input width of the layer."})
    out_features: int = field(default=32, metadata={"help": "Output width of the layer."})
    batch: int = field(default=8, metadata={"help": "How many input rows to push through it."})


def check(opts: Options) -> None:
    # base.check_ranges raises the one-line error ("--batch must be between 1 and 8192, got 0");
    # for any other bad value raise n00bqa.errors.ProbeError yourself, naming the value and the fix.
    check_ranges(opts, {"in_features": (1, 8192), "out_features": (1, 8192), "batch": (1, 8192)})


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class TensorSize:
    shape: str  # "out x in", as the module stores it
    count: int  # numel()


@dataclass
class Numbers:
    output_rows: int  # y.shape[0]
    output_cols: int  # y.shape[1]
    params: int  # counted from the module
    params_formula: int  # in * out + out, the closed form
    max_abs_diff: float  # |nn.Linear(x) - (x @ W.T + b)|, largest entry
    tolerance: float
    tensors: dict[str, TensorSize]  # by parameter name: "weight", "bias"


# --- 3. measure ---------------------------------------------------------------------------------
def measure(opts: Options, ctx: Context) -> Numbers:
    import torch

    advance = ctx.task("linear layer", 2)
    layer = torch.nn.Linear(opts.in_features, opts.out_features)  # weight (out, in), bias (out,)
    x = torch.randn(opts.batch, opts.in_features)  # (B, in)
    y = layer(x)  # (B, out)
    advance()
    by_hand = x @ layer.weight.T + layer.bias  # (B, in) @ (in, out) + (out,) -> (B, out)
    advance()
    return Numbers(
        output_rows=y.shape[0],
        output_cols=y.shape[1],
        params=sum(p.numel() for p in layer.parameters()),
        params_formula=opts.in_features * opts.out_features + opts.out_features,
        max_abs_diff=(y - by_hand).abs().max().item(),
        tolerance=TOLERANCE,
        tensors={name: TensorSize(" x ".join(map(str, p.shape)), p.numel()) for name, p in layer.named_parameters()},
    )


# --- 4. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    # The verdict is this test, and its numbers are printed; `verdict` records it for the harness.
    word = verdict(n.max_abs_diff, n.tolerance, "NOT equal within", "equal within", "tolerance")
    return Report(
        summary=f"nn.Linear({opts.in_features}, {opts.out_features}) computes x @ W.T + b.",
        findings=[
            f"A batch of {opts.batch} rows comes out as {n.output_rows} x {n.output_cols}: one output "
            f"row per input row, out_features columns.",
            f"The layer and x @ W.T + b are {word} {n.tolerance:g} (largest difference "
            f"{n.max_abs_diff:.3g}).",
            f"It holds {n.params:,} parameters; the closed form in x out + out gives "
            f"{n.params_formula:,}.",
        ],
        tables=[Table.of("Parameters", n.tensors, {"tensor": "key", "shape": "shape", "count": "count"})],
    )


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="template",
    question="",
    title="The probe template: a linear layer's output shape, its formula and its parameter count",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    predictions=(Prediction("How many parameters does nn.Linear(64, 32) hold?", "params", "parameters"),),
)
