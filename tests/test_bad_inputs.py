"""Every bad input of tests/bad_inputs.py (command lines and the app) gets a readable message or the right
behaviour; none is silently accepted. The table docs/bad-inputs.md is written from the same cases."""

import pytest
from bad_inputs import context, run_all, table

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, tiny_sd_dir, image_folder, tiny_text_world):
    import app
    from ric_diffusion.train import train as diffusion_train
    from ric_text.train import train as text_train

    root = tmp_path_factory.mktemp("bad_inputs")
    return context(root, tiny_sd_dir, image_folder, tiny_text_world, diffusion_train, text_train, app)


def test_every_bad_input_is_refused_readably_or_handled(ctx):
    outcomes = run_all(ctx)
    bad = [o for o in outcomes if o.verdict not in ("readable", "handled")]
    assert len(outcomes) >= 150
    assert not bad, table(bad, f"{len(bad)} of {len(outcomes)} inputs not handled")
