"""aesthetic, clip_score and pickscore through their real loading code, on tiny models saved to disk."""

import numpy as np
import pytest
import torch

from rewards import RewardSet, get_reward
from rewards.aesthetic import AestheticMLP
from rewards.clip_backbone import load_backbone

RNG = np.random.default_rng(0)
IMAGES = [RNG.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(10)]
PROMPTS = [f"a photo of {n} red circles" for n in range(10)]


@pytest.fixture(scope="module")
def head_file(tmp_path_factory, tiny_clip_name):
    """An aesthetic head for the tiny 32-d CLIP, saved in the released .pth key layout."""
    torch.manual_seed(1)
    state = AestheticMLP(32).state_dict()
    assert list(state) == [f"layers.{i}.{p}" for i in (0, 2, 4, 6, 7) for p in ("weight", "bias")]
    path = tmp_path_factory.mktemp("aes") / "sac+logos+ava1-l14-linearMSE.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def rewards_pair(tiny_clip_name, tiny_clip_checkpoint, head_file):
    kw = dict(clip_model=tiny_clip_name, clip_pretrained=tiny_clip_checkpoint)
    return get_reward("aesthetic", weights=head_file, **kw), get_reward("clip_score", **kw)


def test_backbone_loads_checkpoint_weights(tiny_clip_name, tiny_clip_checkpoint):
    bb = load_backbone(tiny_clip_name, tiny_clip_checkpoint)
    saved = torch.load(tiny_clip_checkpoint, weights_only=True)
    name, tensor = next((k, v) for k, v in saved.items() if k.startswith("visual"))
    torch.testing.assert_close(bb.model.state_dict()[name], tensor)
    assert bb.embed_dim == 32 and bb.encode_images(IMAGES[:3]).shape == (3, 32)


def test_aesthetic_normalises_the_embedding(rewards_pair, monkeypatch):
    aes, _ = rewards_pair
    feats = aes.backbone.encode_images(IMAGES[:4])
    expected = aes.head(feats / feats.norm(dim=-1, keepdim=True)).numpy()
    np.testing.assert_allclose(aes(images=IMAGES[:4]), expected, rtol=1e-5)
    # Scaling the embedding must not change the score: only its direction reaches the head.
    monkeypatch.setattr(aes.backbone, "encode_images", lambda ims: 7.0 * feats[: len(ims)])
    np.testing.assert_allclose(aes(images=IMAGES[:4]), expected, rtol=1e-5)


def test_clip_score_conventions(tiny_clip_name, tiny_clip_checkpoint, rewards_pair):
    _, clip = rewards_pair
    img = clip.backbone.encode_images(IMAGES[:4])
    txt = clip.backbone.encode_texts(PROMPTS[:4])
    cos = torch.nn.functional.cosine_similarity(img, txt).numpy()
    np.testing.assert_allclose(clip(images=IMAGES[:4], prompts=PROMPTS[:4]), cos, rtol=1e-5)
    tm = get_reward("clip_score", clip_model=tiny_clip_name, clip_pretrained=tiny_clip_checkpoint, torchmetrics=True)
    np.testing.assert_allclose(tm(images=IMAGES[:4], prompts=PROMPTS[:4]), 100 * np.maximum(cos, 0), rtol=1e-5)


def test_shared_backbone_runs_once_per_batch(rewards_pair, monkeypatch):
    aes, clip = rewards_pair
    assert aes.backbone is clip.backbone
    separate = np.stack([aes(images=IMAGES), clip(images=IMAGES, prompts=PROMPTS)], axis=1)
    calls = []
    original = aes.backbone.encode_images
    monkeypatch.setattr(aes.backbone, "encode_images", lambda ims: calls.append(len(ims)) or original(ims))
    out = RewardSet([aes, clip], batch_size=4, progress=False)(images=IMAGES, prompts=PROMPTS)
    assert calls == [4, 4, 2]  # once per batch, not once per reward
    assert out.names == ("aesthetic", "clip_score")
    np.testing.assert_allclose(out.values, separate, rtol=1e-5, atol=1e-6)


def test_bad_head_file_names_the_file(tmp_path, tiny_clip_name, tiny_clip_checkpoint):
    bad = tmp_path / "wrong.pth"
    torch.save(AestheticMLP(768).state_dict(), bad)  # a ViT-L head on a 32-d backbone
    with pytest.raises(ValueError, match=r"wrong\.pth is not an aesthetic head for a 32-wide"):
        get_reward("aesthetic", weights=bad, clip_model=tiny_clip_name, clip_pretrained=tiny_clip_checkpoint)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        get_reward("aesthetic", weights=tmp_path / "missing.pth", clip_model=tiny_clip_name, clip_pretrained=None)


def test_mismatched_lengths(rewards_pair):
    _, clip = rewards_pair
    with pytest.raises(ValueError, match="different lengths"):
        clip(images=IMAGES[:3], prompts=PROMPTS[:2])


@pytest.fixture(scope="module")
def tiny_pickscore_dir(tmp_path_factory):
    from helpers import make_tiny_pickscore

    return make_tiny_pickscore(tmp_path_factory.mktemp("pickscore"))


def test_pickscore_from_local_folder(tiny_pickscore_dir):
    from transformers import CLIPModel

    r = get_reward("pickscore", model=tiny_pickscore_dir, processor=tiny_pickscore_dir)
    scores = r(images=IMAGES[:3], prompts=PROMPTS[:3])
    assert scores.shape == (3,) and scores.dtype == np.float32
    m = CLIPModel.from_pretrained(tiny_pickscore_dir)
    out = m(**r.processor(text=PROMPTS[:3], images=IMAGES[:3], return_tensors="pt", padding=True))
    np.testing.assert_allclose(scores, out.logits_per_image.diagonal().detach().numpy(), rtol=1e-4)


@pytest.mark.slow
def test_real_vit_l14_architecture_with_random_weights(tmp_path):
    bb = load_backbone("ViT-L-14", None)
    assert bb.embed_dim == 768
    head = AestheticMLP(bb.embed_dim)
    torch.save(head.state_dict(), tmp_path / "head.pth")
    r = get_reward("aesthetic", weights=tmp_path / "head.pth", clip_model="ViT-L-14", clip_pretrained=None)
    assert r.head.layers[0].in_features == 768
    assert r(images=IMAGES[:2]).shape == (2,)


def test_the_shared_backbone_is_freed_with_its_last_reward(tiny_clip_name, tiny_clip_checkpoint):
    """Relabelling drops its rewards; the CLIP backbone must not stay resident for the whole training."""
    import gc

    import torch

    from rewards import get_reward
    from rewards.clip_backbone import _CACHE

    # a dtype no other test uses: its own cache entry, held by no module-level fixture
    kwargs = {"clip_model": tiny_clip_name, "clip_pretrained": tiny_clip_checkpoint, "dtype": torch.float64}
    a = get_reward("clip_score", **kwargs)
    b = get_reward("clip_score", **kwargs)
    assert a.backbone is b.backbone and len(_CACHE) >= 1
    key = next(k for k, v in _CACHE.items() if v is a.backbone)
    del a, b
    gc.collect()
    assert key not in _CACHE


# Every (open_clip model, pretrained tag) a shipped reward or preset loads.
SUPPORTED_CLIP_TAGS = [("ViT-L-14", "openai", True), ("ViT-H-14", "laion2b_s32b_b79k", False)]


@pytest.fixture
def no_weight_download(monkeypatch):
    """Build the real architectures of a tag without fetching its weights (the build itself runs as is)."""
    import open_clip.factory

    monkeypatch.setattr(open_clip.factory, "download_pretrained", lambda cfg, cache_dir=None: "never-read")
    monkeypatch.setattr(open_clip.factory, "load_checkpoint", lambda *a, **k: None)


@pytest.mark.parametrize(("model", "tag", "quick"), SUPPORTED_CLIP_TAGS)
def test_clip_runs_the_activation_its_weights_were_trained_with(no_weight_download, model, tag, quick):
    """OpenAI's CLIP weights need QuickGELU (the aesthetic predictor, ddpo-pytorch and the RiC code run it so);
    open_clip 3.x builds ViT-L-14 with GELU and only warns. No supported tag may emit the mismatch warning."""
    import warnings

    from open_clip.transformer import QuickGELU

    from rewards.clip_backbone import OpenClipBackbone

    with warnings.catch_warnings(record=True) as caught, torch.device("meta"):
        warnings.simplefilter("always")
        bb = OpenClipBackbone(model, tag, device="meta")
    assert not [w for w in caught if "QuickGELU" in str(w.message)], [str(w.message) for w in caught]
    activations = {type(m) for m in bb.model.modules() if isinstance(m, (QuickGELU, torch.nn.GELU))}
    assert activations == ({QuickGELU} if quick else {torch.nn.GELU})


def test_a_local_weight_file_takes_the_activation_from_the_caller(tiny_clip_name, tiny_clip_checkpoint):
    from open_clip.transformer import QuickGELU

    from rewards.clip_backbone import OpenClipBackbone, uses_quick_gelu

    assert not uses_quick_gelu(tiny_clip_name, tiny_clip_checkpoint)  # a file says nothing: GELU unless told
    bb = OpenClipBackbone(tiny_clip_name, tiny_clip_checkpoint, quick_gelu=True)
    assert any(isinstance(m, QuickGELU) for m in bb.model.modules())


def test_hpsv2_loads_the_released_checkpoint_layout(tiny_clip_name, tmp_path):
    """HPS_v2.1_compressed.pt is {"state_dict": ...} of open_clip's model (DDP "module." prefixes stripped by
    open_clip); the score is the unit-norm image-prompt cosine (the reference hpsv2.score), no logit scale."""
    import open_clip

    torch.manual_seed(3)
    model = open_clip.create_model(tiny_clip_name, pretrained=None).eval()
    path = tmp_path / "HPS_v2.1_compressed.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    r = get_reward("hpsv2", weights=path, clip_model=tiny_clip_name)
    assert r.name == "hpsv2" and not r.backbone.quick_gelu
    scores = r(images=IMAGES[:3], prompts=PROMPTS[:3])
    _, _, preprocess = open_clip.create_model_and_transforms(tiny_clip_name, pretrained=None)
    from PIL import Image

    with torch.no_grad():
        img = model.encode_image(torch.stack([preprocess(Image.fromarray(x)) for x in IMAGES[:3]]))
        txt = model.encode_text(open_clip.get_tokenizer(tiny_clip_name)(PROMPTS[:3]))
    want = torch.diagonal(torch.nn.functional.normalize(img, dim=-1) @ torch.nn.functional.normalize(txt, dim=-1).T)
    np.testing.assert_allclose(scores, want.numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="HPSv2 weights not found"):
        get_reward("hpsv2", weights=tmp_path / "missing.pt", clip_model=tiny_clip_name)


@pytest.fixture(scope="module")
def image_reward_file(tmp_path_factory):
    """A tiny ImageReward.pt in the released layout: BLIP's visual encoder in timm's ViT naming (built here with
    timm itself), its BERT text encoder, the MLP; plus a BERT vocabulary. Returns the parts for a reference."""
    from functools import partial

    from timm.models.vision_transformer import VisionTransformer
    from transformers import BlipTextConfig, BlipTextModel

    from rewards.image_reward import bert_tokenizer

    root = tmp_path_factory.mktemp("image_reward")
    words = ["a", "photo", "of", "red", "circles", *map(str, range(10))]
    (root / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tok = bert_tokenizer(root)
    tok.save_pretrained(root / "tok")
    torch.manual_seed(5)
    vit = VisionTransformer(
        img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        mlp_ratio=2.0,
        qkv_bias=True,
        num_classes=0,
        global_pool="",
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
    ).eval()
    tcfg = BlipTextConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        encoder_hidden_size=32,
        is_decoder=True,
    )
    text = BlipTextModel(tcfg, add_pooling_layer=False).eval()
    mlp = AestheticMLP(32).eval()
    state = {f"blip.visual_encoder.{k}": v for k, v in vit.state_dict().items()}
    state |= {f"blip.text_encoder.{k}": v for k, v in text.state_dict().items()}
    state |= {f"mlp.{k}": v for k, v in mlp.state_dict().items()}
    state["blip.vision_proj.weight"] = torch.randn(8, 32)  # unused parts of the released file are ignored
    torch.save(state, root / "ImageReward.pt")
    return root, vit, text, mlp, tok


def test_image_reward_loads_the_released_layout_and_scores_as_the_reference(image_reward_file):
    from torchvision import transforms

    from rewards.image_reward import CLIP_MEAN, CLIP_STD, MEAN, STD

    root, vit, text, mlp, tok = image_reward_file
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    r = get_reward(
        "image_reward",
        weights=root / "ImageReward.pt",
        tokenizer=root / "tok",
        image_size=32,
        vision={**small, "patch_size": 8},
        text={**small, "vocab_size": len(tok)},
        batch_size=2,
    )
    scores = r(images=IMAGES[:3], prompts=PROMPTS[:3])
    # the reference: timm's ViT, BLIP's text encoder on [CLS], the MLP, the released standardisation
    from PIL import Image

    prep = transforms.Compose(
        [
            transforms.Resize(32, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(32),
            transforms.ToTensor(),
            transforms.Normalize(CLIP_MEAN, CLIP_STD),
        ]
    )
    with torch.no_grad():
        img = vit.forward_features(torch.stack([prep(Image.fromarray(x)) for x in IMAGES[:3]]))
        ids = tok(PROMPTS[:3], padding="max_length", truncation=True, max_length=35, return_tensors="pt")
        out = text(**ids, encoder_hidden_states=img, is_decoder=False).last_hidden_state[:, 0]
        want = (mlp(out) - MEAN) / STD
    np.testing.assert_allclose(scores, want.numpy(), rtol=1e-4, atol=1e-5)
    assert len(tok) == 15 + 5 + 2  # words + BERT's specials + BLIP's [DEC] and [ENC]
