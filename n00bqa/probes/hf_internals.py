"""How is the Hugging Face version implemented?

Measured on the installed transformers, not on its docs: the auto-class factory behind
`AutoModelForMultipleChoice` (a table from config class to model class, and the concrete class
`from_config` returns for BERT and DeBERTa-v2); the returned class's ancestry (PreTrainedModel
and its mixins), its module tree with parameter counts, and the plain string keys it takes in and
gives back; the task heads of its modeling file, found as classes (subclasses of the model's own
PreTrainedModel other than the bare model); the "repeat yourself" layout on disk (one modeling
file per model, how big, how much is marked as copied, and the newer modular_*.py generator); and
how AutoTokenizer picks its class, tried on copies of the bundled MiniLM's tokenizer files.

DeBERTa-v2 (the default) is dissected at microsoft/deberta-v3-base's real settings (relative
attention with 256 position buckets, no absolute position table, shared key projections), built
on the `meta` device: the shapes and counts of the real model without its 740 MB. The config
class's own defaults are an older, absolute-position layout. Other model types use a tiny config.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict
from n00bqa.probes.lib.counting import count_parameters

# A tiny size that every BERT-like config accepts, so building a model takes milliseconds.
TINY = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=128)
# microsoft/deberta-v3-base's config.json (the model DeBERTa-v2's classes are mostly used with): a 128k
# vocabulary, relative attention only (no absolute positions), c2p + p2c terms, log buckets, one key
# projection shared by content and position. DebertaV2Config's defaults differ (relative_attention=False,
# position_biased_input=True, 1536 hidden, 24 layers).
DEBERTA_V3_ATTENTION = dict(relative_attention=True, position_biased_input=False, pos_att_type=["p2c", "c2p"],
                            max_relative_positions=-1, position_buckets=256, norm_rel_ebd="layer_norm",
                            share_att_key=True, type_vocab_size=0, layer_norm_eps=1e-7)
DEBERTA_V3_BASE = dict(vocab_size=128100, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                       intermediate_size=3072, max_position_embeddings=512, **DEBERTA_V3_ATTENTION)
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

    check_ranges(opts, {"depth": (1, 6)})
    if not re.fullmatch(r"[a-z0-9_-]+", opts.model_type):
        raise ProbeError(f"--model-type {opts.model_type!r} is not a transformers model type; "
                         "use a lower-case name such as deberta-v2, bert or roberta")


def module_tree_rows(model, depth: int) -> list[list]:
    """(path, class, parameters) for every submodule down to `depth`, in registration order."""
    rows = []

    def walk(module, prefix: str, level: int) -> None:
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            rows.append([("  " * (level - 1)) + path, type(child).__name__, count_parameters(child)])
            if level < depth:
                walk(child, path, level + 1)

    walk(model, "", 1)
    return rows


def task_head_classes(module, model_class) -> list[str]:
    """The task models a modeling file defines, in file order: the classes of `module` that subclass the
    model's own PreTrainedModel (e.g. BertPreTrainedModel), other than it and the bare model AutoModel builds
    (e.g. BertModel). Output dataclasses (BertForPreTrainingOutput) and layers (BertLMPredictionHead) are not
    PreTrainedModels, so they never count, whatever their names."""
    from transformers import PreTrainedModel
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    own_base = next(k for k in model_class.__mro__ if PreTrainedModel in k.__bases__)  # e.g. BertPreTrainedModel
    bare = set(MODEL_MAPPING_NAMES.values())  # BertModel, DebertaV2Model, ...
    return [name for name, obj in vars(module).items()
            if inspect.isclass(obj) and obj.__module__ == module.__name__ and issubclass(obj, own_base)
            and obj is not own_base and name not in bare]


def tokenizer_source_lines(source: str) -> dict[str, int]:
    """Where tokenization_auto.py's AutoTokenizer.from_pretrained reads each source of the class name."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if "def from_pretrained" in line)

    def first(needle: str) -> int:
        return next(i + 1 for i, line in enumerate(lines) if i > start and needle in line)

    return {"tokenizer_config": first('tokenizer_config_class = tokenizer_config.get("tokenizer_class"'),
            "precedence": first('_hub_class = tokenizer_config_class or getattr(config, "tokenizer_class", None)'),
            "model_type": first("TOKENIZER_MAPPING.get(type(config)")}


# The experiment on AutoTokenizer: copies of the bundled tokenizer, with tokenizer_config.json's and
# config.json's tokenizer_class set (or removed) and config.json's model_type set, one folder per row.
TOKENIZER_CASES = (
    ("as shipped", "BertTokenizer", None, "bert"),
    ("both name a class", "DistilBertTokenizer", "FunnelTokenizer", "bert"),
    ("only config.json names one", None, "FunnelTokenizer", "bert"),
    ("neither: model_type decides", None, None, "mpnet"),
)
TOKENIZER_FILES = ("config.json", "tokenizer_config.json", "tokenizer.json", "vocab.txt", "special_tokens_map.json")


@dataclass
class TokenizerCase:
    """One copy of the bundled tokenizer with its class names set (— = absent), and what AutoTokenizer returned."""

    tokenizer_config: str  # tokenizer_config.json's tokenizer_class
    config: str  # config.json's tokenizer_class
    model_type: str  # config.json's model_type
    returned: str  # the class AutoTokenizer.from_pretrained built


def autotokenizer_cases(folder: Path) -> dict[str, TokenizerCase]:
    """Run AutoTokenizer on each TOKENIZER_CASES copy of `folder`, keyed by the case's label."""
    import json
    import shutil
    import tempfile

    from transformers import AutoTokenizer

    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, tokenizer_class, config_class, model_type in TOKENIZER_CASES:
            target = Path(tmp) / str(len(cases))
            target.mkdir()
            for name in TOKENIZER_FILES:
                if (folder / name).is_file():
                    shutil.copy(folder / name, target / name)
            for name, key, value in (("tokenizer_config.json", "tokenizer_class", tokenizer_class),
                                     ("config.json", "tokenizer_class", config_class),
                                     ("config.json", "model_type", model_type)):
                data = json.loads((target / name).read_text(encoding="utf-8"))
                data.pop(key, None)
                if value is not None:
                    data[key] = value
                (target / name).write_text(json.dumps(data), encoding="utf-8")
            tokenizer = AutoTokenizer.from_pretrained(str(target), local_files_only=True)
            cases[label] = TokenizerCase(tokenizer_class or "—", config_class or "—", model_type, type(tokenizer).__name__)
    return cases


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


@dataclass
class DebertaLayout:
    """What deberta-v3-base's settings build: relative attention, no absolute position table."""

    absolute_position_table: bool  # embeddings.position_embeddings exists
    rel_embeddings_rows: int  # encoder.rel_embeddings: 2 x position_buckets rows
    rel_embeddings_cols: int
    position_buckets: int
    pos_att_type: list[str]
    shared_key_projection: bool  # no separate pos_key_proj / pos_query_proj
    word_embedding_rows: int  # the vocabulary
    word_embedding_params: int
    bare_model_params: int  # DebertaV2Model, as the checkpoint's "backbone + embedding"
    backbone_params: int  # bare model minus the word embedding table


@dataclass
class Numbers:
    """What the hf-internals probe reads off the installed transformers; numeric fields are metrics."""

    version: str
    # 1. the factory
    mc_architectures: int
    config_types: int
    no_mc_types: list[str]
    factory_rows: list[list[Any]]
    # 2. from_config returns the concrete class
    bert_mc_class: str
    deberta_mc_class: str
    bert_mc_params: int
    deberta_v2_mc_params: int
    tiny_hidden: int
    tiny_layers: int
    # 3. the dissected class: MRO, module tree, keys
    settings: str  # "deberta-v3-base's settings, on the meta device" or "a tiny config"
    model_class: str
    mro_names: list[str]
    mro_rows: list[list[Any]]
    mro_length: int
    mixin_names: list[str]
    mixins: int
    is_pretrained_model: bool
    is_nn_module: bool
    tree_rows: list[list[Any]]
    top_level_children: int
    total_params: int
    top_level_params_sum: int
    head_name: str
    head_class: str
    head_in: int
    head_out: int
    head_params: int
    input_keys: list[str]
    forward_parameters: int
    output_class: str
    output_keys_list: list[str]
    output_fields: list[str]
    output_keys: int
    output_is_model_output: bool
    output_is_ordered_dict: bool
    logits_shape_matches: bool
    io_rows: list[list[Any]]
    io_batch: int
    io_choices: int
    io_seq: int
    logits_shape: str
    # 4. one file per model, on disk
    source_relative: str
    source_line: int
    decorator_lines: int
    source_file_lines: int
    source_file_classes: int
    source_file_task_heads: int
    task_head_names: list[str]  # task models found as classes (see task_head_classes)
    own_pretrained_class: str  # e.g. DebertaV2PreTrainedModel
    bare_model_class: str  # e.g. DebertaV2Model
    source_file_copied_markers: int
    source_file_has_modular: bool
    modular_name: str
    modeling_files: int
    modeling_bytes: int
    modeling_megabytes: float
    modeling_lines: int
    model_folders: int
    copied_markers: int
    files_with_copied_markers: int
    modular_files: int
    generated_from_modular: int
    largest_rows: list[list[Any]]
    # 5. AutoTokenizer
    tokenizer_class: str
    tokenizer_mro: list[str]
    encoding_class: str
    encoding_fields: dict[str, str]  # key -> shape, report-only
    tokenizer_fields: int
    pair_tokens: int
    segment_b_tokens: int
    token_rows: list[list[Any]]
    autotokenizer: dict[str, TokenizerCase]  # the TOKENIZER_CASES experiment, by case
    autotokenizer_source: str  # tokenization_auto.py, relative to site-packages
    autotokenizer_lines: dict[str, int]  # where from_pretrained reads each source of the class name
    incorrect_hub_class_types: int  # model types whose hub tokenizer_class transformers overrides
    tokenizer_model: str = ""
    # deberta-v2 at deberta-v3-base's settings only (None for other model types)
    deberta: Optional[DebertaLayout] = None
    # DeBERTa-v2 only (None otherwise): the relative-attention layout, read off the built model



def measure(opts: HfInternalsOptions, ctx: Context) -> Numbers:
    import dataclasses
    from collections import OrderedDict

    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForMultipleChoice, BertConfig, DebertaV2Config, PreTrainedModel
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES, MODEL_MAPPING_NAMES
    from transformers.utils import ModelOutput

    from n00bqa.errors import ProbeError
    from n00bqa.probes.lib.models import BUNDLED_NAME, load_tokenizer

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
    factory_rows = []
    for model_type in SHOWN_TYPES:
        config_name = CONFIG_MAPPING_NAMES.get(model_type, "?")
        class_name = MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES.get(model_type)
        factory_rows.append([model_type, config_name, class_name or "— (no multiple-choice class)"])
    advance(1)

    # --- 2. from_config returns the concrete class ---------------------------------------------
    bert = AutoModelForMultipleChoice.from_config(BertConfig(**TINY))
    deberta = AutoModelForMultipleChoice.from_config(DebertaV2Config(**{**TINY, **DEBERTA_V3_ATTENTION}))

    # --- 3. The dissected class: MRO, module tree, input and output keys ------------------------
    real_size = opts.model_type == "deberta-v2"
    device = torch.device("meta" if real_size else "cpu")  # meta: real shapes, no memory, no values
    try:
        config = AutoConfig.for_model(opts.model_type, **(DEBERTA_V3_BASE if real_size else TINY))
        with device:
            model = AutoModelForMultipleChoice.from_config(config).eval()
    except (ValueError, AssertionError, NotImplementedError, AttributeError, TypeError) as exc:
        raise ProbeError(f"--model-type {opts.model_type!r} cannot be built from the generic tiny config "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); try deberta-v2, bert, "
                         "roberta, albert, electra or distilbert") from exc
    cls = type(model)
    mro = cls.__mro__
    mixins = [k.__name__ for k in mro if k.__name__.endswith("Mixin")]
    # The head is the last Linear that outputs one number (called `classifier` in BERT-like models).
    head_name, head = [(name, m) for name, m in model.named_modules()
                       if isinstance(m, torch.nn.Linear) and m.out_features == 1][-1]

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
    inputs = {k: v.to(device) for k, v in inputs.items()}  # on meta the forward computes shapes only
    inputs = {k: v for k, v in inputs.items() if k in signature.parameters}  # e.g. DistilBERT has no token types
    try:
        with torch.no_grad():
            output = model(**inputs)
    except (ValueError, AssertionError, NotImplementedError, RuntimeError) as exc:
        raise ProbeError(f"--model-type {opts.model_type!r} needs inputs this probe does not build "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); try deberta-v2, bert, "
                         "roberta, albert, electra or distilbert") from exc
    io_rows = [["input", k, "×".join(map(str, v.shape))] for k, v in inputs.items()]
    io_rows += [["output", k, "×".join(map(str, v.shape)) if v.dim() else "scalar"] for k, v in output.items()]
    deberta_layout = None
    if real_size:  # what deberta-v3-base's settings build: relative attention, no absolute position table
        bare = model.deberta
        attention = bare.encoder.layer[0].attention.self
        rel = bare.encoder.rel_embeddings  # (2 * position_buckets, hidden), shared by every layer
        deberta_layout = DebertaLayout(
            absolute_position_table=getattr(bare.embeddings, "position_embeddings", None) is not None,
            rel_embeddings_rows=rel.weight.shape[0], rel_embeddings_cols=rel.weight.shape[1],
            position_buckets=attention.position_buckets, pos_att_type=list(attention.pos_att_type),
            shared_key_projection=not any(name.startswith("pos_") and name.endswith("_proj")
                                          for name, _ in attention.named_children()),
            word_embedding_rows=bare.embeddings.word_embeddings.num_embeddings,
            word_embedding_params=count_parameters(bare.embeddings.word_embeddings),
            bare_model_params=count_parameters(bare),
            backbone_params=count_parameters(bare) - count_parameters(bare.embeddings.word_embeddings))
    advance(1)

    # --- 4. "Repeat yourself": where the code lives on disk --------------------------------------
    source_file = Path(inspect.getsourcefile(cls))
    source_lines, first_line = inspect.getsourcelines(cls)
    class_line = first_line + next(i for i, line in enumerate(source_lines) if line.startswith("class "))
    package_dir = Path(transformers.__file__).parent
    scan = scan_modeling_files(package_dir)
    advance(1)
    own_text = source_file.read_text(encoding="utf-8")
    module = inspect.getmodule(cls)
    own_classes = [name for name, obj in vars(module).items()
                   if isinstance(obj, type) and obj.__module__ == module.__name__]
    task_heads = task_head_classes(module, cls)
    own_modular = source_file.with_name(source_file.name.replace("modeling_", "modular_", 1))
    total_bytes = sum(s for s, _, _ in scan["sizes"])
    largest = sorted(scan["sizes"], key=lambda s: -s[0])[:5]
    largest_rows = [[p.name, round(size / 1024), lines, p.read_text(encoding="utf-8").count(COPIED_MARKER),
                     GENERATED_MARKER in p.read_text(encoding="utf-8")[:3000]] for size, lines, p in largest]
    advance(1)

    # --- 5. AutoTokenizer for the bundled model ---------------------------------------------------
    tokenizer = load_tokenizer(None)
    question, answer = "What is the powerhouse of the cell?", "The mitochondria."
    encoding = tokenizer(question, answer, return_tensors="pt")  # a sentence pair
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"][0].tolist())
    token_rows = [[i, tok, int(encoding["input_ids"][0, i]), int(encoding["token_type_ids"][0, i]),
                   int(encoding["attention_mask"][0, i])] for i, tok in enumerate(tokens)]
    # Which class does AutoTokenizer pick? Try it on copies whose two tokenizer_class fields differ.
    from n00bqa.probes.lib.models import resolve_model_dir
    from transformers.models.auto import tokenization_auto

    autotokenizer = autotokenizer_cases(resolve_model_dir(None))
    auto_source = Path(inspect.getsourcefile(tokenization_auto))
    advance(1)

    return Numbers(
        version=version, mc_architectures=len(resolved), config_types=len(CONFIG_MAPPING_NAMES),
        no_mc_types=[t for t in SHOWN_TYPES if t not in MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES],
        factory_rows=factory_rows,
        bert_mc_class=type(bert).__name__, deberta_mc_class=type(deberta).__name__,
        bert_mc_params=count_parameters(bert), deberta_v2_mc_params=count_parameters(deberta),
        tiny_hidden=TINY["hidden_size"], tiny_layers=TINY["num_hidden_layers"],
        model_class=cls.__name__, mro_names=[k.__name__ for k in mro],
        mro_rows=[[i, k.__name__, k.__module__.removeprefix("transformers.")] for i, k in enumerate(mro)],
        mro_length=len(mro), mixin_names=mixins, mixins=len(mixins),
        is_pretrained_model=issubclass(cls, PreTrainedModel), is_nn_module=issubclass(cls, torch.nn.Module),
        tree_rows=module_tree_rows(model, opts.depth), top_level_children=len(list(model.named_children())),
        total_params=count_parameters(model),
        top_level_params_sum=sum(count_parameters(child) for _, child in model.named_children()),
        head_name=head_name, head_class=type(head).__name__, head_in=head.in_features, head_out=head.out_features,
        head_params=count_parameters(head),
        input_keys=input_keys, forward_parameters=len(input_keys), output_class=type(output).__name__,
        output_keys_list=list(output.keys()), output_fields=[f.name for f in dataclasses.fields(output)],
        output_keys=len(output.keys()), output_is_model_output=isinstance(output, ModelOutput),
        output_is_ordered_dict=isinstance(output, OrderedDict),
        logits_shape_matches=tuple(output.logits.shape) == (batch, n_choices), io_rows=io_rows, deberta=deberta_layout,
        settings="deberta-v3-base's settings, on the meta device" if real_size else "a tiny config",
        io_batch=batch, io_choices=n_choices, io_seq=seq, logits_shape=str(tuple(output.logits.shape)),
        source_relative=str(source_file.relative_to(package_dir.parent)), source_line=class_line,
        decorator_lines=class_line - first_line, source_file_lines=own_text.count("\n"),
        source_file_classes=len(own_classes), source_file_task_heads=len(task_heads), task_head_names=task_heads,
        own_pretrained_class=next(k for k in mro if PreTrainedModel in k.__bases__).__name__,
        bare_model_class=MODEL_MAPPING_NAMES.get(opts.model_type, "?"),
        source_file_copied_markers=own_text.count(COPIED_MARKER), source_file_has_modular=own_modular.is_file(),
        modular_name=own_modular.name,
        modeling_files=len(scan["modeling"]), modeling_bytes=total_bytes, modeling_megabytes=total_bytes / 1e6,
        modeling_lines=sum(n for _, n, _ in scan["sizes"]), model_folders=scan["model_folders"],
        copied_markers=scan["copied_total"], files_with_copied_markers=scan["copied_files"],
        modular_files=len(scan["modular"]), generated_from_modular=scan["generated"], largest_rows=largest_rows,
        tokenizer_class=type(tokenizer).__name__, tokenizer_mro=[k.__name__ for k in type(tokenizer).__mro__],
        encoding_class=type(encoding).__name__,
        encoding_fields={k: str(tuple(v.shape)) for k, v in encoding.items()}, tokenizer_fields=len(encoding),
        pair_tokens=len(tokens), segment_b_tokens=int(encoding["token_type_ids"][0].sum()), token_rows=token_rows,
        autotokenizer=autotokenizer, autotokenizer_source=str(auto_source.relative_to(package_dir.parent)),
        autotokenizer_lines=tokenizer_source_lines(auto_source.read_text(encoding="utf-8")),
        incorrect_hub_class_types=len(getattr(tokenization_auto, "MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS", ())),
        tokenizer_model=BUNDLED_NAME,
    )


def report(n: Numbers, opts: HfInternalsOptions) -> Report:
    cls = n.model_class
    d = n.deberta
    both, config_only, neither = (n.autotokenizer[label] for label in (
        "both name a class", "only config.json names one", "neither: model_type decides"))
    findings = [
        f"AutoModelForMultipleChoice is a lookup table: in transformers {n.version} it maps {n.mc_architectures} "
        f"config classes to a *ForMultipleChoice class (of {n.config_types} model types the library knows). "
        f"Of the model types in the table below, {', '.join(n.no_mc_types)} have no multiple-choice class.",
        f"AutoModelForMultipleChoice.from_config(BertConfig(...)) returns a {n.bert_mc_class} and "
        f"from_config(DebertaV2Config(...)) a {n.deberta_mc_class}: the auto class is never instantiated "
        f"itself, it picks the class by type(config) ({n.bert_mc_params:,} and {n.deberta_v2_mc_params:,} "
        f"parameters at the tiny size hidden {n.tiny_hidden}, {n.tiny_layers} layers).",
        f"{cls} inherits, in order: {' → '.join(n.mro_names[1:])}. It is a "
        f"PreTrainedModel and a torch nn.Module; {n.mixins} mixins ({', '.join(n.mixin_names)}) add the rest.",
        f"Its module tree ({n.settings}) has {n.top_level_children} top-level children whose "
        f"{n.top_level_params_sum:,} parameters "
        + verdict(abs(n.top_level_params_sum - n.total_params), 0, "do NOT add up to", "add up to", "exact")
        + f" the model's {n.total_params:,}; the multiple-choice head "
        f"'{n.head_name}' is a {n.head_class} with {n.head_params:,} parameters ({n.head_in} → {n.head_out}: "
        "one score per choice).",
        *([f"DeBERTa-v3-base's relative attention, as built: {'an' if d.absolute_position_table else 'no'} "
           "absolute position table "
           f"(embeddings.position_embeddings {'present' if d.absolute_position_table else 'absent'}); one "
           f"encoder.rel_embeddings table of {d.rel_embeddings_rows} × {d.rel_embeddings_cols} (2 × "
           f"{d.position_buckets} position buckets) that every layer reads; attention terms "
           f"{' + '.join(['c2c', *d.pos_att_type])}, with the content key and query projections "
           f"{'reused for positions (no pos_key_proj)' if d.shared_key_projection else 'separate from the position ones'}"
           f". The bare model holds {d.bare_model_params:,} parameters: {d.word_embedding_params:,} in the "
           f"{d.word_embedding_rows:,}-token word table and {d.backbone_params:,} in the rest (the model card gives "
           "98M embedding + 86M backbone parameters)."]
          if d is not None else []),
        f"forward takes named inputs ({', '.join(n.input_keys)}, plus **kwargs) and returns a "
        f"{n.output_class}, an OrderedDict whose keys are the strings {n.output_keys_list} (fields "
        f"{n.output_fields}; None fields are dropped). input_ids ({n.io_batch}, {n.io_choices}, {n.io_seq}) gives "
        f"logits {n.logits_shape}: "
        + verdict(int(not n.logits_shape_matches), 0, "NOT one score per choice", "one score per choice",
                  "shape mismatches") + ".",
        f"{cls} is defined at {n.source_relative}:{n.source_line}"
        + (f" (after {n.decorator_lines} decorator line{'s' if n.decorator_lines > 1 else ''})"
           if n.decorator_lines else "")
        + f", a {n.source_file_lines:,}-line file that defines {n.source_file_classes} classes: the whole model, "
        f"from embeddings to {n.source_file_task_heads} task models, found as the subclasses of "
        f"{n.own_pretrained_class} other than the bare {n.bare_model_class} ({', '.join(n.task_head_names)}), "
        f"with {n.source_file_copied_markers} '{COPIED_MARKER}' markers"
        + (f" and a {n.modular_name} next to it." if n.source_file_has_modular else " and no modular file."),
        f"Repeat yourself, measured: the installed package has {n.modeling_files:,} modeling_*.py files in "
        f"{n.model_folders} model folders, {n.modeling_megabytes:.1f} MB and {n.modeling_lines:,} lines; "
        f"{n.copied_markers:,} '{COPIED_MARKER}' markers in {n.files_with_copied_markers} of them mark classes "
        "and functions duplicated from another model, which the transformers repository's tooling keeps "
        "identical to their source.",
        f"The newer mechanism: {n.modular_files} modular_*.py files ship too, and {n.generated_from_modular} "
        f"modeling files open with '{GENERATED_MARKER} ... modular_<model>.py': the modular file inherits from other "
        "models and a converter writes out the full, flat modeling file, so the code you read is still one "
        "file per model.",
        "AutoTokenizer picks its class in this order (measured on copies of the bundled tokenizer, table "
        f"below; the code is {n.autotokenizer_source}): tokenizer_config.json's tokenizer_class first (read at "
        f"line {n.autotokenizer_lines['tokenizer_config']}; `tokenizer_config_class or config.tokenizer_class` at "
        f"line {n.autotokenizer_lines['precedence']}), else config.json's tokenizer_class, else the class mapped "
        f"to config.json's model_type (line {n.autotokenizer_lines['model_type']}). Exceptions: for the "
        f"{n.incorrect_hub_class_types} model types in MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS the mapping wins, "
        "and a few named checkpoints and Llama/Mistral tokenizers are special-cased. With both set it returned "
        f"{both.returned} ("
        + verdict(int(both.returned != both.tokenizer_config), 0,
                  f"NOT tokenizer_config.json's {both.tokenizer_config}; config.json's: {both.config}",
                  f"tokenizer_config.json's {both.tokenizer_config}, not config.json's {both.config}",
                  "returned other than tokenizer_config's")
        + f"); with only config.json's it returned {config_only.returned}; with "
        f"neither, for model_type {neither.model_type!r}, {neither.returned}.",
        f"AutoTokenizer on the bundled {n.tokenizer_model} returns a {n.tokenizer_class} "
        f"({' → '.join(n.tokenizer_mro[1:])}); a sentence pair becomes a {n.encoding_class}, a dict with "
        + ", ".join(f"{k} {v}" for k, v in n.encoding_fields.items())
        + f": [CLS] question [SEP] answer [SEP], {n.segment_b_tokens} tokens marked as the second segment.",
    ]
    tables = [
        Table(title=f"AutoModelForMultipleChoice: config class → model class (a selection of {n.mc_architectures})",
              columns=["model_type", "config class", "model class"], rows=n.factory_rows,
              note="From MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES in transformers/models/auto/modeling_auto.py."),
        Table(title=f"{cls}.__mro__ (method lookup order)", columns=["#", "class", "module under transformers"],
              rows=n.mro_rows,
              note="After the model's own *PreTrainedModel come PreTrainedModel, torch's nn.Module and the mixins "
                   "that add embedding access, hub upload, PEFT adapters and the like."),
        Table(title=f"{cls} module tree ({n.settings}), parameters per submodule",
              columns=["submodule", "class", "parameters"], rows=n.tree_rows + [["total", "", n.total_params]],
              note="Indented rows are inside the row above them; the top-level rows add up to the total."),
        Table(title=f"{cls}.forward: string keys in, string keys out", columns=["direction", "key", "shape"],
              rows=n.io_rows, note="output['logits'] is output.logits; None fields are not keys."),
        Table(title="Largest modeling files in the installed transformers",
              columns=["file", "KB", "lines", "copied", "modular"], rows=n.largest_rows,
              note=f"copied = '{COPIED_MARKER}' markers; modular = generated from a modular_*.py. All "
                   f"{n.modeling_files} files: {n.modeling_megabytes:.1f} MB."),
        Table.of("AutoTokenizer.from_pretrained on copies of the bundled tokenizer: which class it returns",
                 n.autotokenizer, {"case": "key", "tokenizer_config.json": "tokenizer_config", "config.json": "config",
                                   "model_type": "model_type", "returned": "returned"},
                 note="tokenizer_class as written in each file (— = absent); model_type from config.json"),
        Table(title=f"{n.tokenizer_class}(question, answer): one row per token",
              columns=["#", "token", "input_ids", "token_type_ids", "attention_mask"], rows=n.token_rows,
              note="token_type_ids is 0 for [CLS] question [SEP] and 1 for answer [SEP]."),
    ]
    summary = (f"transformers {n.version} is a table of classes plus one big file per model: "
               f"AutoModelForMultipleChoice maps {n.mc_architectures} configs to classes, {cls} is a "
               f"PreTrainedModel + nn.Module speaking string keys, and {n.modeling_files} modeling files "
               f"carry {n.copied_markers:,} 'Copied from' markers.")
    return Report(summary=summary, findings=findings, tables=tables,
                  model=f"transformers {n.version} ({opts.model_type}: {n.settings}) + {n.tokenizer_model} tokenizer")


PROBE = Probe(
    name="hf-internals",
    question="hf-internals",
    title="The auto-class factory, MRO, module tree, string keys, one-file-per-model on disk, AutoTokenizer",
    options=HfInternalsOptions,
    measure=measure,
    report=report,
    check=check,
    renamed_metrics={old: f"deberta.{old}" for old in (  # one optional field each before issue 21
        "absolute_position_table", "rel_embeddings_rows", "rel_embeddings_cols", "position_buckets",
        "shared_key_projection", "word_embedding_rows", "word_embedding_params", "bare_model_params",
        "backbone_params")},
    predictions=(
        Prediction("How many model types have a *ForMultipleChoice class in the installed transformers?",
                   "mc_architectures", "classes"),
        Prediction("How many '# Copied from transformers.' markers do the modeling files carry?",
                   "copied_markers", "markers", scoring="log10"),
    ),
)
