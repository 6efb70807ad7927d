"""How is the Hugging Face version implemented?

Measured on the installed transformers, not on its docs: the auto-class factory behind
`AutoModelForMultipleChoice` (a table from config class to model class, and the concrete class
`from_config` returns for BERT and DeBERTa-v2); the returned class's ancestry (PreTrainedModel
and its mixins), its module tree with parameter counts on a tiny config, and the plain string
keys it takes in and gives back; the "repeat yourself" layout on disk (one modeling file per
model, how big, how much is marked as copied, and the newer modular_*.py generator); and what
AutoTokenizer returns for the bundled MiniLM.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

from n00bqa.probes.base import Context, Measured, Probe, Table

# A tiny size that every BERT-like config accepts, so building a model takes milliseconds.
TINY = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=128)
# Model types shown in the factory table (the full mapping is counted, not listed).
SHOWN_TYPES = ("bert", "deberta-v2", "albert", "distilbert", "electra", "modernbert", "mpnet", "roberta",
               "xlm-roberta", "longformer", "deberta", "gpt2", "llama")
COPIED_MARKER = "# Copied from transformers."
GENERATED_MARKER = "This file was automatically generated from"


@dataclass
class HfInternalsOptions:
    model_type: str = field(default="deberta-v2", metadata={
        "help": "The architecture whose multiple-choice class is dissected (MRO, module tree, forward keys), "
                "e.g. deberta-v2, bert, roberta."})
    depth: int = field(default=4, metadata={"help": "How deep the module tree is listed (1 = top-level children)."})


def check(opts: HfInternalsOptions) -> None:
    from n00bqa.errors import ProbeError

    if not 1 <= opts.depth <= 6:
        raise ProbeError(f"--depth must be between 1 and 6, got {opts.depth}")
    if not re.fullmatch(r"[a-z0-9_-]+", opts.model_type):
        raise ProbeError(f"--model-type {opts.model_type!r} is not a transformers model type; "
                         "use a lower-case name such as deberta-v2, bert or roberta")


def count_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def module_tree_rows(model, depth: int) -> list[list]:
    """(path, class, parameters) for every submodule down to `depth`, in registration order."""
    rows = []

    def walk(module, prefix: str, level: int) -> None:
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            rows.append([("  " * (level - 1)) + path, type(child).__name__, count_params(child)])
            if level < depth:
                walk(child, path, level + 1)

    walk(model, "", 1)
    return rows


def scan_modeling_files(package_dir: Path) -> dict:
    """What the installed package holds on disk under models/: modeling and modular files and markers."""
    modeling = sorted(package_dir.glob("models/*/modeling_*.py"))
    modular = sorted(package_dir.glob("models/*/modular_*.py"))
    copied_total, copied_files, generated = 0, 0, 0
    sizes = []
    for path in modeling:
        text = path.read_text(encoding="utf-8", errors="replace")
        sizes.append((path.stat().st_size, text.count("\n"), path))
        copies = text.count(COPIED_MARKER)
        copied_total += copies
        copied_files += copies > 0
        generated += GENERATED_MARKER in text[:3000]  # the banner sits at the top of the file
    return dict(modeling=modeling, modular=modular, sizes=sizes, copied_total=copied_total,
                copied_files=copied_files, generated=generated,
                model_folders=len({p.parent for p in modeling}))


def run(opts: HfInternalsOptions, ctx: Context) -> Measured:
    import dataclasses
    from collections import OrderedDict

    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForMultipleChoice, BertConfig, DebertaV2Config, PreTrainedModel
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES
    from transformers.utils import ModelOutput

    from n00bqa.errors import ProbeError
    from n00bqa.probes.models import BUNDLED_NAME, load_tokenizer

    findings: list[str] = []
    tables: list[Table] = []
    metrics: dict[str, float | int | bool] = {}
    version = transformers.__version__
    advance = ctx.task("reading the installed transformers", 5)

    if opts.model_type not in MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES:
        known = ", ".join(MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES)
        raise ProbeError(f"--model-type {opts.model_type!r} has no multiple-choice class in transformers "
                         f"{version}; pick one of: {known}")

    # --- 1. The factory: config class -> model class --------------------------------------------
    # The auto class holds a lazy mapping; its keys are config classes and its values model classes,
    # both imported only when touched (so we touch them all, to count what really resolves).
    lazy_mapping = AutoModelForMultipleChoice._model_mapping
    resolved = list(lazy_mapping.items())  # [(ConfigClass, ModelClass), ...]
    n_supported = len(resolved)
    n_config_types = len(CONFIG_MAPPING_NAMES)
    factory_rows = []
    for model_type in SHOWN_TYPES:
        config_name = CONFIG_MAPPING_NAMES.get(model_type, "?")
        class_name = MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES.get(model_type)
        factory_rows.append([model_type, config_name, class_name or "— (no multiple-choice class)"])
    tables.append(Table(
        title=f"AutoModelForMultipleChoice: config class → model class (a selection of {n_supported})",
        columns=["model_type", "config class", "model class"],
        rows=factory_rows,
        note="From MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES in transformers/models/auto/modeling_auto.py."))
    missing = [t for t in SHOWN_TYPES if t not in MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES]
    metrics.update(mc_architectures=n_supported, config_types=n_config_types)
    findings.append(
        f"AutoModelForMultipleChoice is a lookup table: in transformers {version} it maps {n_supported} config "
        f"classes to a *ForMultipleChoice class (of {n_config_types} model types the library knows). "
        f"Encoders dominate; {', '.join(missing)} have no multiple-choice class.")
    advance(1)

    # --- 2. from_config returns the concrete class ---------------------------------------------
    bert = AutoModelForMultipleChoice.from_config(BertConfig(**TINY))
    deberta = AutoModelForMultipleChoice.from_config(DebertaV2Config(**TINY))
    metrics.update(bert_mc_params=count_params(bert), deberta_v2_mc_params=count_params(deberta))
    findings.append(
        f"AutoModelForMultipleChoice.from_config(BertConfig(...)) returns a {type(bert).__name__} and "
        f"from_config(DebertaV2Config(...)) a {type(deberta).__name__}: the auto class is never instantiated "
        f"itself, it picks the class by type(config) ({count_params(bert):,} and {count_params(deberta):,} "
        f"parameters at the tiny size hidden {TINY['hidden_size']}, {TINY['num_hidden_layers']} layers).")

    # --- 3. The dissected class: MRO, module tree, input and output keys ------------------------
    try:
        config = AutoConfig.for_model(opts.model_type, **TINY)
        model = AutoModelForMultipleChoice.from_config(config).eval()
    except (ValueError, AssertionError, NotImplementedError, AttributeError, TypeError) as exc:
        raise ProbeError(f"--model-type {opts.model_type!r} cannot be built from the generic tiny config "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); try deberta-v2, bert, "
                         "roberta, albert, electra or distilbert") from exc
    cls = type(model)
    mro = cls.__mro__
    mro_rows = [[i, k.__name__, k.__module__.removeprefix("transformers.")] for i, k in enumerate(mro)]
    tables.append(Table(
        title=f"{cls.__name__}.__mro__ (method lookup order)",
        columns=["#", "class", "module (transformers.…)"],
        rows=mro_rows,
        note="After the model's own *PreTrainedModel come PreTrainedModel, torch's nn.Module and the mixins "
             "that add embedding access, hub upload, PEFT adapters and the like."))
    mixins = [k.__name__ for k in mro if k.__name__.endswith("Mixin")]
    metrics.update(mro_length=len(mro), mixins=len(mixins),
                   is_pretrained_model=issubclass(cls, PreTrainedModel),
                   is_nn_module=issubclass(cls, torch.nn.Module))
    findings.append(
        f"{cls.__name__} inherits, in order: {' → '.join(k.__name__ for k in mro[1:])}. It is a "
        f"PreTrainedModel and a torch nn.Module; {len(mixins)} mixins ({', '.join(mixins)}) add the rest.")

    total = count_params(model)
    tree = module_tree_rows(model, opts.depth)
    top_level_sum = sum(count_params(child) for _, child in model.named_children())
    tables.append(Table(
        title=f"{cls.__name__} module tree (tiny config), parameters per submodule",
        columns=["submodule", "class", "parameters"],
        rows=tree + [["total", "", total]],
        note="Indented rows are inside the row above them; the top-level rows add up to the total."))
    # The head is the last Linear that outputs one number (called `classifier` in BERT-like models).
    head_name, head = [(name, m) for name, m in model.named_modules()
                       if isinstance(m, torch.nn.Linear) and m.out_features == 1][-1]
    metrics.update(total_params=total, top_level_params_sum=top_level_sum, head_params=count_params(head))
    findings.append(
        f"Its module tree (tiny config) has {len(list(model.named_children()))} top-level children whose "
        f"{top_level_sum:,} parameters are the model's {total:,}; the multiple-choice head '{head_name}' is a "
        f"{type(head).__name__} with {count_params(head):,} parameters ({head.in_features} → {head.out_features}: "
        "one score per choice).")

    signature = inspect.signature(cls.forward)
    input_keys = [name for name, p in signature.parameters.items()
                  if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD]
    batch, n_choices, seq = 2, 4, 8
    inputs = {  # a plain dict of str -> tensor, exactly what a collator hands the model
        "input_ids": torch.randint(5, TINY["vocab_size"], (batch, n_choices, seq)),  # (B, n_choices, T)
        "attention_mask": torch.ones(batch, n_choices, seq, dtype=torch.long),  # (B, n_choices, T)
        "token_type_ids": torch.zeros(batch, n_choices, seq, dtype=torch.long),  # (B, n_choices, T)
        "labels": torch.tensor([0, 3]),  # (B,) index of the correct choice
    }
    inputs = {k: v for k, v in inputs.items() if k in signature.parameters}  # e.g. DistilBERT has no token types
    try:
        with torch.no_grad():
            output = model(**inputs)
    except (ValueError, AssertionError, NotImplementedError, RuntimeError) as exc:
        raise ProbeError(f"--model-type {opts.model_type!r} needs inputs this probe does not build "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); try deberta-v2, bert, "
                         "roberta, albert, electra or distilbert") from exc
    output_fields = [f.name for f in dataclasses.fields(output)]
    output_keys = list(output.keys())
    io_rows = [["input", k, "×".join(map(str, v.shape))] for k, v in inputs.items()]
    io_rows += [["output", k, "×".join(map(str, v.shape)) if v.dim() else "scalar"] for k, v in output.items()]
    tables.append(Table(
        title=f"{cls.__name__}.forward: string keys in, string keys out",
        columns=["direction", "key", "shape"],
        rows=io_rows,
        note="output['logits'] is output.logits; None fields are not keys."))
    metrics.update(forward_parameters=len(input_keys), output_keys=len(output_keys),
                   output_is_model_output=isinstance(output, ModelOutput),
                   output_is_ordered_dict=isinstance(output, OrderedDict),
                   logits_shape_matches=tuple(output.logits.shape) == (batch, n_choices))
    findings.append(
        f"forward takes named inputs ({', '.join(input_keys)}, plus **kwargs) and returns a "
        f"{type(output).__name__}, an OrderedDict whose keys are the strings {output_keys} (fields "
        f"{output_fields}; None fields are dropped). input_ids ({batch}, {n_choices}, {seq}) gives logits "
        f"{tuple(output.logits.shape)}: one score per choice.")
    advance(1)

    # --- 4. "Repeat yourself": where the code lives on disk --------------------------------------
    source_file = Path(inspect.getsourcefile(cls))
    source_lines, first_line = inspect.getsourcelines(cls)
    class_line = first_line + next(i for i, line in enumerate(source_lines) if line.startswith("class "))
    decorators = class_line - first_line
    package_dir = Path(transformers.__file__).parent
    scan = scan_modeling_files(package_dir)
    advance(1)
    own_text = source_file.read_text(encoding="utf-8")
    module = inspect.getmodule(cls)
    own_classes = [name for name, obj in vars(module).items()
                   if isinstance(obj, type) and obj.__module__ == module.__name__]
    task_heads = [name for name in own_classes if "For" in name]
    own_copies = own_text.count(COPIED_MARKER)
    own_modular = source_file.with_name(source_file.name.replace("modeling_", "modular_", 1))
    total_bytes = sum(s for s, _, _ in scan["sizes"])
    total_lines = sum(n for _, n, _ in scan["sizes"])
    metrics.update(source_line=class_line, source_file_classes=len(own_classes), source_file_task_heads=len(task_heads), source_file_lines=own_text.count("\n"),
                   source_file_copied_markers=own_copies, source_file_has_modular=own_modular.is_file(),
                   modeling_files=len(scan["modeling"]), modeling_bytes=total_bytes, modeling_lines=total_lines,
                   model_folders=scan["model_folders"], copied_markers=scan["copied_total"],
                   files_with_copied_markers=scan["copied_files"], modular_files=len(scan["modular"]),
                   generated_from_modular=scan["generated"])
    relative = source_file.relative_to(package_dir.parent)
    findings.append(
        f"{cls.__name__} is defined at {relative}:{class_line}"
        + (f" (after {decorators} decorator line{'s' if decorators > 1 else ''})" if decorators else "")
        + f", a {own_text.count(chr(10)):,}-line file that defines {len(own_classes)} classes: the whole model, "
        f"from embeddings to {len(task_heads)} task heads ({', '.join(task_heads)}), with {own_copies} "
        f"'{COPIED_MARKER}' markers"
        + (f" and a {own_modular.name} next to it." if own_modular.is_file() else " and no modular file."))
    findings.append(
        f"Repeat yourself, measured: the installed package has {len(scan['modeling']):,} modeling_*.py files in "
        f"{scan['model_folders']} model folders, {total_bytes / 1e6:.1f} MB and {total_lines:,} lines; "
        f"{scan['copied_total']:,} '{COPIED_MARKER}' markers in {scan['copied_files']} of them mark classes and "
        "functions duplicated from another model, which the transformers repository's tooling keeps "
        "identical to their source.")
    findings.append(
        f"The newer mechanism: {len(scan['modular'])} modular_*.py files ship too, and {scan['generated']} "
        f"modeling files open with '{GENERATED_MARKER} …modular_….py': the modular file inherits from other "
        "models and a converter writes out the full, flat modeling file, so the code you read is still one "
        "file per model.")
    largest = sorted(scan["sizes"], key=lambda s: -s[0])[:5]
    tables.append(Table(
        title="Largest modeling files in the installed transformers",
        columns=["file", "KB", "lines", "copied", "modular"],
        rows=[[p.name, round(size / 1024), lines,
               p.read_text(encoding="utf-8").count(COPIED_MARKER),
               GENERATED_MARKER in p.read_text(encoding="utf-8")[:3000]] for size, lines, p in largest],
        note=f"copied = '{COPIED_MARKER}' markers; modular = generated from a modular_*.py. All "
             f"{len(scan['modeling'])} files: {total_bytes / 1e6:.1f} MB."))
    advance(1)

    # --- 5. AutoTokenizer for the bundled model ---------------------------------------------------
    tokenizer = load_tokenizer(None)
    question, answer = "What is the powerhouse of the cell?", "The mitochondria."
    encoding = tokenizer(question, answer, return_tensors="pt")  # a sentence pair
    fields = {k: tuple(v.shape) for k, v in encoding.items()}
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"][0].tolist())
    segment_b = int(encoding["token_type_ids"][0].sum())
    tables.append(Table(
        title=f"{type(tokenizer).__name__}(question, answer): one row per token",
        columns=["#", "token", "input_ids", "token_type_ids", "attention_mask"],
        rows=[[i, tok, int(encoding["input_ids"][0, i]), int(encoding["token_type_ids"][0, i]),
               int(encoding["attention_mask"][0, i])] for i, tok in enumerate(tokens)],
        note="token_type_ids is 0 for [CLS] question [SEP] and 1 for answer [SEP]."))
    tok_mro = [k.__name__ for k in type(tokenizer).__mro__]
    metrics.update(tokenizer_fields=len(fields), pair_tokens=len(tokens), segment_b_tokens=segment_b)
    findings.append(
        f"AutoTokenizer on the bundled {BUNDLED_NAME} returns a {type(tokenizer).__name__} "
        f"({' → '.join(tok_mro[1:])}); a sentence pair becomes a {type(encoding).__name__}, a dict with "
        + ", ".join(f"{k} {v}" for k, v in fields.items())
        + f": [CLS] question [SEP] answer [SEP], {segment_b} tokens marked as the second segment.")
    advance(1)

    summary = (f"transformers {version} is a table of classes plus one big file per model: "
               f"AutoModelForMultipleChoice maps {n_supported} configs to classes, {cls.__name__} is a "
               f"PreTrainedModel + nn.Module speaking string keys, and {len(scan['modeling'])} modeling files "
               f"carry {scan['copied_total']:,} 'Copied from' markers.")
    return Measured(summary=summary, findings=findings, metrics=metrics, tables=tables,
                    model=f"transformers {version} (tiny {opts.model_type} config) + {BUNDLED_NAME} tokenizer")


PROBE = Probe(
    name="hf-internals",
    question="hf-internals",
    title="The auto-class factory, MRO, module tree, string keys, one-file-per-model on disk, AutoTokenizer",
    options=HfInternalsOptions,
    run=run,
    check=check,
)
