"""Small builders shared by the tests (imported as `helpers`; pytest puts tests/ on the path)."""

import json


def write_image_folder(root, n: int = 12, seed: int = 0):
    """An imagefolder of 32x32 images: flat colours and noisy ones, captions naming the index."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        img = np.full((32, 32, 3), rng.integers(0, 256, 3), np.uint8)
        if i % 2:
            img = np.clip(img.astype(int) + rng.integers(-60, 60, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "text": f"a square number {i}"})
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def tiny_train_args(model_dir, data_dir, out_dir, *extra):
    """Overrides for a few-second diffusion run on the tiny model with weight-free rewards."""
    return [
        f"model.pretrained={model_dir}",
        f"data.source={data_dir}",
        "data.resolution=32",
        f"train.output_dir={out_dir}",
        "rewards=[toy_brightness, jpeg_compressibility]",
        "train.max_steps=4",
        "train.batch_size=4",
        "train.report_to=none",
        "train.learning_rate=1e-3",
        "inference.num_inference_steps=4",
        *extra,
    ]


DIALOGUES = [
    ("how do I bake bread?", "Mix flour, water, salt and yeast, let it rise, then bake it.", "I do not know."),
    ("tell me a joke.", "Why did the chicken cross the road? To get to the other side.", "No."),
    ("what is the capital of France?", "The capital of France is Paris.", "Maybe London, not sure."),
    ("how can I stay healthy?", "Sleep well, eat vegetables and walk every day.", "Eat candy all day."),
    ("recommend a book.", "Try a good mystery novel; they are fun to read.", "Books are bad."),
]


def write_hh_jsonl(path, repeats: int = 4):
    """HH-RLHF-style rows: chosen and rejected dialogues sharing the human turn."""
    rows = []
    for r in range(repeats):
        for q, good, bad in DIALOGUES:
            human = f"\n\nHuman: {q} (variant {r})"
            rows.append({"chosen": f"{human}\n\nAssistant: {good}", "rejected": f"{human}\n\nAssistant: {bad}"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_classifier(path, tokenizer_dir, num_labels: int, seed: int = 0):
    """A tiny GPT-2 sequence classifier saved with save_pretrained (a stand-in text reward model)."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2ForSequenceClassification

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=256,
        n_embd=32,
        n_layer=2,
        n_head=2,
        num_labels=num_labels,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    GPT2ForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def make_tiny_llama(path, tokenizer_dir, seed: int = 0):
    """A 2-layer Llama-style causal LM with the test tokenizer, saved with save_pretrained."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def tiny_text_args(model_dir, data_file, rm_dirs, out_dir, *extra):
    """Overrides for a seconds-long ric_text run: tiny Llama, two tiny classifier reward models."""
    return [
        f"model.pretrained={model_dir}",
        f"data.source={data_file}",
        "data.kind=hh",
        "data.min_tokens=1",
        f"train.output_dir={out_dir}",
        f"rewards=[{{name: harmless, path: {rm_dirs[0]}}}, {{name: helpful, path: {rm_dirs[1]}}}]",
        "lora.rank=4",
        "lora.alpha=8",
        "lora.target_modules=[q_proj, v_proj]",
        "train.max_steps=4",
        "train.batch_size=4",
        "train.learning_rate=1e-3",
        "train.report_to=none",
        "train.save_steps=2",
        "train.logging_steps=1",
        "generation.max_new_tokens=12",
        "generation.batch_size=8",
        *extra,
    ]


def assert_preset_loads_as_written(cls, path):
    """Every value a YAML preset sets reaches the built config (a loader that dropped or coerced a key
    breaks this), and a command line in the preset's header names the preset's own file."""
    import re

    import yaml

    from ric_runtime.config import load_config

    cfg = load_config(cls, path)
    text = path.read_text()

    def walk(node, obj, where):
        for key, value in node.items():
            field = getattr(obj, key)
            if isinstance(value, dict) and not isinstance(field, dict):
                walk(value, field, f"{where}{key}.")
            else:
                assert field == value, f"{path.name}: {where}{key} is {field!r} in the config, {value!r} in the file"

    walk(yaml.safe_load(text), cfg, "")
    header = "\n".join(ln for ln in text.splitlines() if ln.startswith("#"))
    named = set(re.findall(r"--config\s+(configs/[\w/]+\.yaml)", header))  # the preset its command trains with
    assert named <= {f"configs/{path.parent.name}/{path.name}"}, f"{path.name}'s header runs {named}"
    return cfg


def make_byte_bpe_tokenizer(path) -> str:
    """A byte-level BPE tokenizer trained on the fly, saved with bos/eos/pad like a GPT-2 folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [
        "Human: how do I bake bread? Assistant: Mix flour, water, salt and yeast, then bake it.",
        "Human: tell me a joke. Assistant: Why did the chicken cross the road? To get to the other side.",
        "Summarize the post. The cat sat on the mat all day and refused to move for dinner.",
        "### Instruction: ### Input: ### Response: <rm1_score> 0.3 <rm2_score> -1.1 <rm3_score> 2.0 variant",
    ] * 20 + [f"\n\nHuman: {q}\n\nAssistant: {a} {b}" for q, a, b in DIALOGUES] * 20
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>", model_max_length=256
    )
    fast.save_pretrained(path)
    return str(path)


def make_tiny_pickscore(path):
    """A tiny transformers CLIPModel + processor folder, laid out as PickScore_v1's (32 px images)."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from ric_diffusion.tiny import build_clip_tokenizer

    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=16,
    )
    CLIPModel(cfg).save_pretrained(path)
    proc = CLIPProcessor(CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32), build_clip_tokenizer())
    proc.save_pretrained(path)
    return path


def assert_same_weights(a_dir, b_dir, rtol=1e-5, atol=1e-6):
    """The LoRA and conditioner files of two diffusion checkpoints hold the same tensors (to tolerance)."""
    import torch
    from safetensors.torch import load_file

    for name in ("pytorch_lora_weights.safetensors", "conditioner.safetensors"):
        a, b = load_file(a_dir / name), load_file(b_dir / name)
        assert a.keys() == b.keys(), name
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=rtol, atol=atol)


def launch_two(args, env_extra=None, timeout=600, script=None):
    """``accelerate launch`` of the diffusion trainer (or of ``script`` with the trainer's arguments) on 2 CPU
    processes (gloo); returns the finished ``subprocess.CompletedProcess``."""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    cmd += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    cmd += [str(script)] if script else ["-m", "ric_diffusion.train"]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env = {k: v for k, v in env.items() if k != "RIC_ONLINE_KILL_AT"} | (env_extra or {})
    return subprocess.run([*cmd, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)
