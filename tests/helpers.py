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
        f"model.pretrained={model_dir}", f"data.source={data_dir}", "data.resolution=32",
        f"train.output_dir={out_dir}", "rewards=[toy_brightness, jpeg_compressibility]",
        "train.max_steps=4", "train.batch_size=4", "train.report_to=none", "train.learning_rate=1e-3",
        "inference.num_inference_steps=4", *extra,
    ]  # fmt: skip
